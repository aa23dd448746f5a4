"""`facepair prepare | train | export | eval lfw`: the training side of the CLI."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from service.cli.common import (
    FaceChoice,
    Json,
    emit_json,
    err,
    fail,
    load_embedder,
    out,
    progress,
    ray_address,
    ray_option,
)
from service.settings import get_settings

if TYPE_CHECKING:
    from training.train import TrainConfig

commands = typer.Typer()


eval_app = typer.Typer(help="Measure a model.", no_args_is_help=True)
commands.add_typer(eval_app, name="eval")


def _command() -> str:
    return "facepair " + shlex.join(sys.argv[1:])


def _views(view: str) -> tuple[str, ...]:
    """`--view` (1, 2, all or none) → the LFW views to run."""
    views = {"all": ("1", "2"), "none": (), "1": ("1",), "2": ("2",)}.get(view)
    if views is None:
        raise fail(f"--view must be 1, 2, all or none, not {view!r}")
    return views


def _bar(as_json: bool, description: str):
    bar = progress(quiet=as_json and not err.is_terminal)
    task = bar.add_task(description, total=None, rate="")

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


@commands.command()
def prepare(
    src: Path = typer.Argument(..., help="Dataset: SRC/<person>/<photos>, or with --from-tags "
                               "a photo library tagged in another tool."),
    dst: Path = typer.Argument(..., help="Where the aligned crops go (resumable)."),
    people: Path | None = typer.Option(None, help="Only these people (list file)."),
    exclude: Path | None = typer.Option(None, help="Never these people (list file)."),
    face: FaceChoice = typer.Option(FaceChoice.center, help="Which face of a photo."),
    size: int = typer.Option(112, help="Crop size in pixels."),
    model: str | None = typer.Option(
        None, help="Crop for this model (its input size and template), e.g. to fine-tune it."
    ),
    workers: int = typer.Option(2, help="Processes."),
    from_tags: bool = typer.Option(
        False, "--from-tags", help="SRC is a photo library whose faces were named in another "
        "tool (MWG or Microsoft regions, in sidecars or in the photos): each named face is a "
        "labelled face of that person."),
    shard_photos: int | None = typer.Option(
        None, min=1, help="Write DST in shards of about this many photos (whole people each), "
        "which training streams a few at a time. Default with --ray: 2000; else one flat set."),
    ray: str | None = ray_option("Detect and align into shards"),
    as_json: Json = False,
) -> None:
    """Detect and align every photo of an identity-folder dataset (or every named face of a
    tagged library) into training crops."""
    from faces.cluster import disconnect
    from faces.embed import load_card
    from faces.errors import FacepairError
    from training.people import read_people
    from training.prepare import prepare as run_prepare

    template = None
    if model:
        card = load_card(model, get_settings().models_dir)
        size, template = card.input_size, card.template
    if not src.is_dir():
        raise fail(f"{src}: not a folder")
    include = read_people(people) if people else None
    skip = read_people(exclude) if exclude else None
    ray = ray_address(ray, get_settings().ray_address)
    bar, update = _bar(as_json, "preparing")
    try:
        with bar:
            report = run_prepare(src, dst, include, skip, size, face.value,
                                 workers, update, template, from_tags, shard_photos or 0, ray)
    except (ValueError, FacepairError) as exc:
        raise fail(str(exc)) from exc
    finally:
        if ray is not None:
            disconnect()
    (dst / "command.txt").write_text(_command() + "\n")
    if as_json:
        emit_json(report.to_dict())
    else:
        where = "the shards' manifest.csv" if (dst / "shards.json").exists() else "manifest.csv"
        out.print(f"{report.ok} crops of {report.people} people from {report.photos} photos; "
                  f"{report.no_face} without a usable face, {report.errors} unreadable "
                  f"(see {where} in {dst}); {report.others} faces in the background "
                  f"(others.npy, never trained on)")


@commands.command()
def train(
    data: list[Path] = typer.Option(..., help="`facepair prepare` outputs (repeat for more)."),
    out_dir: Path = typer.Option(Path("runs/facepair"), "--out", help="Checkpoints and logs."),
    config: Path | None = typer.Option(None, help="JSON file of TrainConfig fields."),
    epochs: int | None = typer.Option(None),
    batch_size: int | None = typer.Option(None, help="Per process."),
    lr: float | None = typer.Option(None),
    init: Path | None = typer.Option(None, help="Start from this model file's weights."),
    freeze_lower: int | None = typer.Option(None, help="Lower layer groups frozen at first."),
    freeze_epochs: float | None = typer.Option(None, help="For how many epochs."),
    lower_lr_scale: float | None = typer.Option(None, help="Their LR factor once unfrozen."),
    eval_minutes: float | None = typer.Option(None, help="LFW View 1 every N minutes."),
    checkpoint_minutes: float | None = typer.Option(None),
    max_steps: int | None = typer.Option(None, help="Stop after this many steps."),
    holdout: float | None = typer.Option(
        None, help="Share of the people kept out of training to judge the run and pick best.pt."),
    holdout_every: int | None = typer.Option(None, help="Judge on them every N steps."),
    threads: int | None = typer.Option(None, help="torch threads per process."),
    amp: bool | None = typer.Option(None, "--amp/--no-amp", help="bf16/fp16 autocast."),
    resume: bool = typer.Option(False, help="Continue OUT's checkpoint."),
    as_json: Json = False,
) -> None:
    """Train the embedder on the auxiliary task (same person or not). Works under torchrun."""
    from training.train import train as run_train

    flags = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "init": init,
             "freeze_lower": freeze_lower, "freeze_epochs": freeze_epochs,
             "lower_lr_scale": lower_lr_scale, "eval_minutes": eval_minutes,
             "checkpoint_minutes": checkpoint_minutes, "max_steps": max_steps,
             "threads": threads, "amp": amp, "holdout": holdout,
             "holdout_every": holdout_every}
    cfg = _train_config(data, out_dir, config, flags, resume)
    rank0 = int(os.environ.get("RANK", 0)) == 0
    bar = progress(quiet=(as_json and not err.is_terminal) or not rank0)
    task = bar.add_task("training", total=None, rate="")

    def on_step(step: int, total: int, loss: float) -> None:
        bar.update(task, completed=step, total=total, rate=f"loss {loss:.3f}")

    if cfg.init is not None:
        from faces.errors import ModelError
        from training.train import check_init

        try:
            check_init(cfg.init)
        except (ModelError, ValueError) as exc:
            raise fail(str(exc)) from exc
    with bar:
        result = run_train(cfg, on_step)
    if not rank0:
        return
    summary = {k: v for k, v in result.items() if k != "losses"}
    summary["loss_first"] = result["losses"][0] if result["losses"] else None
    summary["loss_last"] = result["losses"][-1] if result["losses"] else None
    if as_json:
        emit_json(summary)
    else:
        out.print(f"trained {summary['steps']}/{summary['total_steps']} steps; "
                  f"checkpoint {summary['checkpoint']}")


def _train_config(data: list[Path], out_dir: Path, config: Path | None, flags: dict,
                  resume: bool) -> TrainConfig:
    """The run's configuration: the config file's fields with the flags given over them, or
    (`resume`) the checkpoint's own with a new length; the data checked to be prepared."""
    import torch

    from training.shards import is_prepared
    from training.train import TrainConfig

    last = out_dir / "last.pt"
    fields = json.loads(config.read_text()) if config else {}
    if last.exists():
        if not resume:
            raise fail(f"{out_dir} already holds a checkpoint: pass --resume to continue it, "
                       "or choose another --out")
        fields = torch.load(last, map_location="cpu", weights_only=True)["config"]
        flags = {"max_steps": flags["max_steps"], "epochs": flags["epochs"]}
    fields.update({k: v for k, v in flags.items() if v is not None})
    fields.update(data=data, out=out_dir)
    fields.setdefault("command", _command())
    fields.setdefault("lfw_data", get_settings().data_dir)
    try:
        cfg = TrainConfig(**fields)
    except Exception as exc:
        raise fail(f"bad training configuration: {exc}") from exc
    for d in cfg.data:
        if not is_prepared(d):
            raise fail(f"{d}: not a `facepair prepare` output (no manifest.csv or shards.json)")
    return cfg


@commands.command()
def export(
    run: Path = typer.Argument(..., help="A training output folder (holds last.pt)."),
    name: str = typer.Option(..., help="Model name: models/<name>.safetensors + .json."),
    models_dir: Path | None = typer.Option(None, help="Where to write it (default: "
                                           "FACEPAIR_MODELS_DIR)."),
    view: str = typer.Option("all", help="LFW views to measure for the card: 1, 2, all, none."),
    data: Path | None = typer.Option(None, help="Folder holding lfw/ (default: settings)."),
    as_json: Json = False,
) -> None:
    """Export the backbone (the lower layers) as a model file with its card and LFW figures."""
    if not (run / "last.pt").exists():
        raise fail(f"{run}: no last.pt checkpoint")
    from training.export import export as run_export

    views = _views(view)
    models_dir = models_dir or get_settings().models_dir
    bar, update = _bar(as_json, "aligning LFW")
    with bar:
        card = run_export(run, name, models_dir, views, data or get_settings().data_dir,
                          update, _command())
    if as_json:
        emit_json({"model": name, "lfw": card.get("lfw"), "thresholds": card.get("thresholds")})
    else:
        out.print(f"wrote {models_dir / name}.safetensors and .json; LFW {card.get('lfw')}")


@commands.command()
def quantize(
    model: str = typer.Argument(..., help="A float model: a name in models/ or a path."),
    name: str = typer.Option(..., help="The int8 model's name: models/<name>.safetensors + .json."),
    models_dir: Path | None = typer.Option(None, help="Where to write it (default: "
                                           "FACEPAIR_MODELS_DIR)."),
    data: list[Path] | None = typer.Option(
        None, help="Prepared folders for the calibration crops (default: the data the model "
                   "was trained on, its held-out people aside). Repeatable."),
    crops: int = typer.Option(512, min=16, help="Calibration crops (each also mirrored)."),
    view: str = typer.Option("all", help="LFW views to measure for the card: 1, 2, all, none."),
    as_json: Json = False,
) -> None:
    """Make an int8 twin of a float model (about twice as fast on a CPU), measured and
    calibrated as a model of its own."""
    from faces.errors import FacepairError
    from training.export import quantize_model

    for d in data or []:
        if not (d / "manifest.csv").exists():
            raise fail(f"{d}: not a prepared folder (no manifest.csv; run facepair prepare)")
    views = _views(view)
    models_dir = models_dir or get_settings().models_dir
    bar, update = _bar(as_json, "aligning LFW")
    try:
        with bar:
            card = quantize_model(model, name, models_dir, data or None, crops, views,
                                  data_dir=get_settings().data_dir, on_progress=update,
                                  command=_command())
    except (ValueError, FileNotFoundError, FacepairError) as exc:
        raise fail(str(exc)) from exc
    result = {"model": name, "of": card["quantization"]["of"], "lfw": card.get("lfw"),
              "thresholds": card.get("thresholds")}
    if as_json:
        emit_json(result)
    else:
        out.print(f"wrote {models_dir / name}.safetensors and .json; LFW {card.get('lfw')}")


def _dat_file(given: Path | None, name: str) -> Path:
    """The .dat file given, or the one of this name inside face-recognition-models."""
    from training.dlib_import import default_dat_file

    dat = given or default_dat_file(name)
    if dat is None:
        raise fail("no .dat file given and face-recognition-models is not installed "
                   "(pip install face-recognition-models, or pass the file)")
    if not dat.is_file():
        raise fail(f"{dat}: no such file")
    return dat


@commands.command("import-dlib")
def import_dlib(
    dat_file: Path | None = typer.Argument(
        None, help="dlib_face_recognition_resnet_model_v1.dat (default: the one inside an "
                   "installed face-recognition-models)."
    ),
    out_path: Path | None = typer.Option(
        None, "--out", help="DIR/NAME: where the model files go (default: dlib-resnet-v1 in "
                            "FACEPAIR_MODELS_DIR)."),
    view: str = typer.Option("all", help="LFW views to measure for the card: 1, 2, all, none."),
    as_json: Json = False,
) -> None:
    """Import dlib's public-domain face network (no dlib needed) as a facepair model."""
    from training.dlib_import import DAT_NAME, DlibFormatError
    from training.export import import_dlib as run_import

    dat = _dat_file(dat_file, DAT_NAME)
    out_path = out_path or get_settings().models_dir / "dlib-resnet-v1"
    views = _views(view)
    bar, update = _bar(as_json, "aligning LFW")
    try:
        with bar:
            card = run_import(dat, out_path.name, out_path.parent, views,
                              get_settings().data_dir, update, _command())
    except DlibFormatError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        emit_json({"model": card["name"], "lfw": card.get("lfw"),
                   "thresholds": card.get("thresholds")})
    else:
        out.print(f"wrote {out_path}.safetensors and .json; LFW {card.get('lfw')}")


@commands.command("import-dlib-landmarks")
def import_dlib_landmarks(
    dat_file: Path | None = typer.Argument(
        None, help="shape_predictor_5_face_landmarks.dat (default: the one inside an installed "
                   "face-recognition-models)."
    ),
    out_path: Path | None = typer.Option(
        None, "--out", help="DIR/NAME: where the model files go (default: dlib-landmarks-5 in "
                            "FACEPAIR_MODELS_DIR)."),
    as_json: Json = False,
) -> None:
    """Import dlib's public-domain 5-point face landmark model (no dlib needed) as plain arrays
    for faces.dlib_landmarks."""
    from training.dlib_import import DlibFormatError
    from training.dlib_shape_import import SHAPE_DAT_NAME, import_shape_predictor

    dat = _dat_file(dat_file, SHAPE_DAT_NAME)
    out_path = out_path or get_settings().models_dir / "dlib-landmarks-5"
    try:
        card = import_shape_predictor(dat, out_path, _command())
    except DlibFormatError as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        raise fail(f"cannot write {out_path}: {exc}") from exc
    weights = out_path.parent / f"{out_path.name}.safetensors"
    if as_json:
        emit_json({"model": card["name"], "files": [str(weights), str(out_path) + ".json"],
                   "bytes": weights.stat().st_size, "points": card["points"],
                   "cascade": card["cascade"], "source_sha256": card["source"]["sha256"]})
    else:
        out.print(f"wrote {weights} ({weights.stat().st_size:,} bytes) and .json: "
                  f"{card['points']} points, {card['cascade']['levels']} levels of "
                  f"{card['cascade']['trees_per_level']} trees")


@eval_app.command("lfw")
def eval_lfw(
    data: Path | None = typer.Option(None, help="Folder holding lfw/ (default: settings)."),
    model: str | None = typer.Option(None, help="Model name or file (default: settings)."),
    view: str = typer.Option("all", help="1, 2 or all."),
    as_json: Json = False,
) -> None:
    """LFW verification: View 1 (threshold on DevTrain, accuracy on DevTest) and View 2."""
    from training.evaluate import evaluate

    views = _views(view)
    if not views:
        raise fail("--view must be 1, 2 or all")
    settings = get_settings()
    embedder = load_embedder(model)
    bar, update = _bar(as_json, "aligning LFW")
    try:
        with bar:
            result = evaluate(embedder.embed_crops, embedder.input_size, views,
                              on_progress=update, data_dir=data or settings.data_dir,
                              cache_dir=settings.home / "cache",
                              template=embedder.card.template)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    payload: dict = {"model": embedder.name, **{k: result[k] for k in ("view1", "view2")
                                                  if k in result}}
    if "view2" in payload:
        used_lfw = any("lfw" in str(d.get("source", "")).lower()
                       for d in embedder.card.training.get("data", []))
        payload["view2"]["contaminated"] = used_lfw
    payload["fallback_crops"] = result["fallback_crops"]
    if as_json:
        emit_json(payload)
    else:
        out.print_json(json.dumps(payload))
