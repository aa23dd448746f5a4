"""Export: the trained network's lower layers — the backbone up to the embedding — become
facepair's embedder: `models/<name>.safetensors` + `models/<name>.json` (the model card).

Weights are stored as float16 (half the size; computed in float32 when loaded); the card's LFW
figures and thresholds are measured on the exported file itself, through `faces.embed`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file

from faces.backbones import build
from faces.embed import Embedder
from training.evaluate import evaluate


def _data_provenance(dirs: list[str]) -> list[dict]:
    out = []
    for d in map(Path, dirs):
        meta = json.loads((d / "prepare.json").read_text()) if (d / "prepare.json").exists() else {}
        command = (d / "command.txt").read_text().strip() if (d / "command.txt").exists() else ""
        out.append({"dir": d.name, **meta, "command": command})
    return out


def export(
    run: Path, name: str, models_dir: Path, views: tuple[str, ...] = ("1", "2"),
    data_dir: Path | None = None, on_progress: Callable[[int, int], None] | None = None,
    command: str = "",
) -> dict:
    """Write the model files from RUN/last.pt, measure them on LFW, and return the card."""
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    net = build(ckpt["architecture"])
    net.load_state_dict(ckpt["model"])
    state = {k: (v.half() if v.is_floating_point() else v).contiguous()
             for k, v in net.state_dict().items()}
    models_dir.mkdir(parents=True, exist_ok=True)
    weights = models_dir / f"{name}.safetensors"
    save_file(state, str(weights))
    cfg = ckpt["config"]
    arch = ckpt["architecture"]
    card: dict = {
        "name": name,
        "format": 1,
        "architecture": arch,
        "input_size": arch["input_size"],
        "alignment": "faces.align: 5-point similarity (eyes weighted 10×) to the 112×112 "
                     "ArcFace template, scaled to input_size",
        "normalisation": ckpt["normalisation"],
        "embedding_size": arch["embedding_size"],
        "similarity": "cosine of L2-normalised embeddings (flip-summed)",
        "weights_dtype": "float16",
        "parameters": sum(v.numel() for v in state.values() if v.is_floating_point()),
        "init": ckpt.get("init"),
        "training": {
            "task": "auxiliary: same person or not, over all pairs of identity-balanced batches "
                    "(pytorch-metric-learning MultiSimilarityMiner + MultiSimilarityLoss)",
            "data": _data_provenance(cfg["data"]),
            "people_excluded": "LFW DevTest people (peopleDevTest.txt): never prepared or "
                               "trained on",
            "commands": [d["command"] for d in _data_provenance(cfg["data"])]
                        + [cfg.get("command", ""), command],
            "steps": ckpt["state"]["step"],
            "train_seconds": round(ckpt["state"]["train_seconds"]),
            "hardware": ckpt["hardware"],
            "config": cfg,
            "evals": ckpt["state"].get("evals", []),
        },
        "created": dt.date.today().isoformat(),
    }
    card_path = models_dir / f"{name}.json"
    card_path.write_text(json.dumps(card, indent=2))
    if not views:
        return card
    embedder = Embedder(weights)
    figures = evaluate(lambda c: embedder.embed_crops(c), embedder.input_size, views,
                       on_progress=on_progress, thresholds=True, data_dir=data_dir)
    card["lfw"] = {k: figures[k] for k in ("view1", "view2") if k in figures}
    if "view2" in card["lfw"]:
        card["lfw"]["view2"]["contaminated"] = True  # 2,985 of View 2's people are DevTrain's
    card["lfw"]["fallback_crops"] = figures["fallback_crops"]
    card["thresholds"] = figures["thresholds"]
    card_path.write_text(json.dumps(card, indent=2))
    return card
