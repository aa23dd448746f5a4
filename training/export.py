"""Model files: `models/<name>.safetensors` (weights) + `models/<name>.json` (model card).

`export` turns a training run's network — the lower layers, up to the embedding — into
facepair's embedder; `import_dlib` does the same for dlib's public-domain network. Both go
through `write_model`, which measures the written file itself (through `faces.embed`) on LFW
and puts the figures and the calibrated thresholds in the card.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from faces.backbones import DlibResNet, build
from faces.embed import Embedder, load_network, to_input
from faces.quantize import engine, quantize, to_file_state
from training.data import CropSet, Holdout, open_prepared
from training.evaluate import evaluate, held_out_thresholds, pair_figures


def _data_provenance(dirs: list[str]) -> list[dict]:
    out = []
    for d in map(Path, dirs):
        meta = json.loads((d / "prepare.json").read_text()) if (d / "prepare.json").exists() else {}
        command = (d / "command.txt").read_text().strip() if (d / "command.txt").exists() else ""
        out.append({"dir": d.name, **meta, "command": command})
    return out


def write_model(
    net: nn.Module, card: dict, models_dir: Path, dtype: torch.dtype = torch.float32,
    views: tuple[str, ...] = ("1", "2"), data_dir: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None, contaminated: bool = True,
    holdout: Holdout | None = None,
) -> dict:
    """Write the weights (as `dtype`) and the card, then measure the written model on LFW.

    The card's thresholds come from impostor pairs among people the model never trained on:
    pairsDevTrain's photos for a model that never saw LFW, else the run's held-out people (a
    model trained on DevTrain people was taught to push exactly those people apart, so their
    pairs would flatter it). Both sets are kept in the card."""
    if card.get("quantization"):
        state = to_file_state(net)
        card = {**card, "weights_dtype": "int8"}
    else:
        state = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous()
                 for k, v in net.state_dict().items()}
        card = {**card, "weights_dtype": str(dtype).removeprefix("torch."),
                "parameters": sum(v.numel() for v in state.values() if v.is_floating_point())}
    models_dir.mkdir(parents=True, exist_ok=True)
    name = card["name"]
    weights = models_dir / f"{name}.safetensors"
    save_file(state, str(weights))
    card = {**card, "created": dt.date.today().isoformat()}
    card_path = models_dir / f"{name}.json"
    card_path.write_text(json.dumps(card, indent=2))
    if not views and holdout is None:
        return card
    embedder = Embedder(weights)
    if views:
        if data_dir is None:
            raise ValueError("measuring LFW views needs the folder holding lfw/ (data_dir)")
        figures = evaluate(embedder.embed_crops, embedder.input_size, views,
                           on_progress=on_progress, thresholds=True, data_dir=data_dir,
                           template=card.get("template"))
        card["lfw"] = {k: figures[k] for k in ("view1", "view2") if k in figures}
        if "view2" in card["lfw"]:
            # 2,985 of View 2's people are DevTrain people: clean only for a model that never
            # saw LFW
            card["lfw"]["view2"]["contaminated"] = contaminated
        card["lfw"]["fallback_crops"] = figures["fallback_crops"]
        card["thresholds"] = figures["thresholds"]
        card["thresholds_from"] = "impostor pairs among the photos of LFW pairsDevTrain"
    if holdout is not None:
        if views:
            card["thresholds_pairs_devtrain"] = card["thresholds"]
        embedded = holdout.embedded(embedder.embed_crops)
        card["held_out"] = pair_figures(*embedded)
        card.update(held_out_thresholds(*embedded))
        background = 0 if holdout.others is None else len(holdout.others)
        card["thresholds_from"] = (
            f"impostor pairs among the run's held-out people ({len(holdout.names)} people "
            f"with 2-10 photos, {holdout.strangers} with one), never trained on"
            + (f"; each rate divided by background_factor, how many times more often pairs of "
               f"a held-out face with one of {background:,} faces in the background of "
               "the data set's photos cross those thresholds" if background else ""))
    card_path.write_text(json.dumps(card, indent=2))
    return card


def export(
    run: Path, name: str, models_dir: Path, views: tuple[str, ...] = ("1", "2"),
    data_dir: Path | None = None, on_progress: Callable[[int, int], None] | None = None,
    command: str = "",
) -> dict:
    """Write the model files from RUN/best.pt (the step that scored best on the held-out
    people) or, for a run without a hold-out, RUN/last.pt; measure them on LFW; return the card."""
    last = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    best = run / "best.pt"
    ckpt = torch.load(best, map_location="cpu", weights_only=True) if best.exists() else last
    net = build(ckpt["architecture"])
    net.load_state_dict(ckpt["model"])
    cfg, arch = ckpt["config"], ckpt["architecture"]
    provenance = _data_provenance(cfg["data"])
    card: dict = {
        "name": name,
        "format": 1,
        "architecture": arch,
        "input_size": arch["input_size"],
        "template": ckpt.get("template"),
        "alignment": "faces.align: 5-point similarity (eyes weighted 10×) onto `template` "
                     "(null: the 112×112 ArcFace template scaled to input_size)",
        "normalisation": ckpt["normalisation"],
        "embedding_size": arch["embedding_size"],
        "similarity": "cosine of L2-normalised embeddings (flip-summed)",
        "init": ckpt.get("init"),  # the starting model and its provenance (null: scratch)
        "training": {
            "task": "auxiliary: same person or not, over all pairs of identity-balanced batches "
                    "(pytorch-metric-learning MultiSimilarityMiner + MultiSimilarityLoss)",
            "data": provenance,
            "people_excluded": "LFW DevTest people (peopleDevTest.txt): never prepared or "
                               "trained on",
            "commands": [d["command"] for d in provenance] + [cfg.get("command", ""), command],
            "steps": ckpt["state"]["step"],
            "train_seconds": round(ckpt["state"]["train_seconds"]),
            "hardware": ckpt["hardware"],
            "config": cfg,
            "evals": ckpt["state"].get("evals", []),
            "holdout": {"share_of_people": cfg.get("holdout", 0.0),
                        "select_by": cfg.get("select_by"),
                        "judged": last["state"].get("holdout", []),
                        "selected_step": ckpt["state"]["step"]},
        },
    }
    dtype = torch.float32 if _fp32_fits(net) else torch.float16
    holdout = None
    if cfg.get("holdout"):
        holdout = open_prepared([Path(d) for d in cfg["data"]], holdout=cfg["holdout"],
                                seed=cfg["seed"]).holdout
    return write_model(net, card, models_dir, dtype, views, data_dir, on_progress,
                       holdout=holdout)


def quantize_model(
    model: str | Path, name: str, models_dir: Path, data: list[Path] | None = None,
    crops: int = 512, views: tuple[str, ...] = ("1", "2"), data_dir: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None, command: str = "",
) -> dict:
    """An int8 twin of a float model (`faces.quantize`), its activation ranges observed on
    `crops` training crops and their mirror images, then measured and calibrated as a model of
    its own. The crops come from `data` (prepared folders), by default the data the model was
    trained on, without the people its run held out: those, when there are any, give the
    int8 model its thresholds, as they gave the float model its own."""
    net, source = load_network(model)
    if source.quantization or not isinstance(net, DlibResNet):
        raise ValueError(f"{source.name}: only float dlib_resnet models can be quantised")
    config = source.training.get("config") or {}
    dirs = [Path(d) for d in (data or config.get("data") or [])]
    if not dirs:
        raise ValueError(f"{source.name} names no training data: give prepared folders")
    from training.shards import is_sharded

    if any(is_sharded(d) for d in dirs):
        raise ValueError("calibration reads flat prepared sets: give one with --data")
    held = config.get("holdout", 0.0) if not data else 0.0
    crop_set = CropSet(dirs, holdout=held, seed=config.get("seed", 0))
    if crop_set.size != source.input_size:
        raise ValueError(f"the prepared crops are {crop_set.size} px; {source.name} takes "
                         f"{source.input_size} px")
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(len(crop_set), min(crops, len(crop_set)), replace=False))
    calibration = crop_set.crops[chosen]

    def batches() -> Iterator[torch.Tensor]:
        for start in range(0, len(calibration), 64):
            x = to_input(calibration[start : start + 64], source.normalisation)
            yield x
            yield torch.flip(x, dims=[3])

    keep = ("format", "architecture", "input_size", "template", "alignment", "normalisation",
            "embedding_size", "similarity", "init", "source", "licence", "training",
            "parameters")
    written = source.as_dict()
    card = {"name": name, **{k: written[k] for k in keep if k in written},
            "quantization": {
                "of": source.name,
                "scheme": "static int8 (PyTorch eager mode): weights per output channel, "
                          "activations per tensor as uint8 0-127 with histogram ranges; "
                          "dlib's affine layers folded into the convolutions; the last linear "
                          "layer stays float",
                "kernels": engine(),  # the figures below were measured with these
                "calibration": {"crops": len(calibration), "mirrored": True,
                                "data": [d.name for d in dirs],
                                "people": "training people only" if held else "all"},
                "runs_on": "cpu",
                "command": command}}
    with torch.inference_mode():
        qnet = quantize(net, batches())
    return write_model(qnet, card, models_dir, views=views, data_dir=data_dir,
                       on_progress=on_progress, contaminated=True,
                       holdout=crop_set.holdout)


def _fp32_fits(net: nn.Module, limit: int = 30 * 2**20) -> bool:
    """Whether float32 weights stay under the 30 MB a model file may take."""
    return sum(p.numel() for p in net.state_dict().values()) * 4 < limit


def import_dlib(
    dat: Path, name: str, models_dir: Path, views: tuple[str, ...] = ("1", "2"),
    data_dir: Path | None = None, on_progress: Callable[[int, int], None] | None = None,
    command: str = "",
) -> dict:
    """dlib's face recognition network as a facepair model, measured on LFW."""
    from faces.align import DLIB_CHIP_TEMPLATE
    from training.dlib_import import load_dlib

    net, means = load_dlib(dat)
    card = {
        "name": name,
        "format": 1,
        "architecture": {"name": "dlib_resnet", "embedding_size": 128, "input_size": 150},
        "input_size": 150,
        "template": DLIB_CHIP_TEMPLATE.tolist(),
        "alignment": "faces.align: MTCNN's 5 points onto where they lie, on average, in "
                     "dlib's own 150×150 chips (fitted on 299 LFW photos)",
        "normalisation": {"mean": [round(m, 6) for m in means], "std": [256.0, 256.0, 256.0]},
        "embedding_size": 128,
        "similarity": "cosine of L2-normalised embeddings (flip-summed)",
        "init": None,
        "source": {
            "file": dat.name,
            "from": "PyPI package face-recognition-models (dlib-models by Davis King)",
            "trained_on": "about 3 million scraped faces of 7,485 people, none of them LFW "
                          "people, with a pair-wise hinge (metric) loss",
        },
        "licence": "public domain (Davis King released the model file into the public domain; "
                   "davisking/dlib-models README)",
        "training": {"task": "none here: imported as is", "commands": [command]},
    }
    return write_model(net, card, models_dir, torch.float32, views, data_dir, on_progress,
                       contaminated=False)
