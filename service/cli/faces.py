"""`facepair detect` and `facepair embed`: the face pipeline on photos, without a gallery."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from faces.errors import FacepairError
from service.cli.common import (
    FaceChoice,
    Json,
    emit_json,
    err,
    fail,
    load_detector,
    load_embedder,
    out,
    progress,
)

commands = typer.Typer()


@commands.command()
def detect(
    photos: list[Path] = typer.Argument(..., help="Photos to look at."),
    as_json: Json = False,
) -> None:
    """Find every face in each photo: box, detector score, five landmarks and quality (0 to 1:
    how well it can be told apart; under FACEPAIR_QUALITY_FLOOR, unrecognisable)."""
    from faces.decode import decode
    from service.settings import get_settings

    detector, max_pixels = load_detector(), get_settings().max_pixels
    results: list[dict] = []
    with progress(quiet=as_json and not err.is_terminal) as bar:
        task = bar.add_task("detecting", total=len(photos), rate="")
        for path in photos:
            entry: dict = {"path": str(path)}
            try:
                entry["faces"] = [f.to_dict() for f in detector.detect(decode(path, max_pixels))]
            except FacepairError as exc:
                entry["faces"] = []
                entry["error"] = {"code": exc.code, "message": exc.message}
            results.append(entry)
            bar.advance(task)
    failed = [r for r in results if "error" in r]
    if as_json:
        emit_json({"photos": results})
    else:
        table = Table("photo", "faces", "boxes (x1,y1,x2,y2), scores and qualities")
        for r in results:
            if "error" in r:
                table.add_row(r["path"], "-", Text(r["error"]["message"], style="red"))
                continue
            boxes = "\n".join(f"{f['box']}  {f['score']:.3f}  quality {f['quality']:.2f}"
                              for f in r["faces"]) or "no face"
            table.add_row(r["path"], str(len(r["faces"])), boxes)
        out.print(table)
    if failed:
        raise typer.Exit(1)


@commands.command()
def embed(
    photos: list[Path] = typer.Argument(..., help="Photos to embed."),
    out_file: Path = typer.Option(..., "--out", help="Where to write the N×D .npy array."),
    face: FaceChoice = typer.Option(FaceChoice.center, help="Which face of a photo."),
    flip: bool = typer.Option(True, "--flip/--no-flip", help="Sum with the mirror image."),
    model: str | None = typer.Option(None, help="Model name or file (default: settings)."),
    as_json: Json = False,
) -> None:
    """One unit vector per photo (a NaN row where no face was found)."""
    import numpy as np

    from faces.decode import decode
    from faces.detect import pick_face
    from service.settings import get_settings

    if out_file.suffix != ".npy":
        raise fail(f"--out must name a .npy file, not {out_file}")
    detector, embedder = load_detector(), load_embedder(model)
    max_pixels = get_settings().max_pixels
    vectors = np.full((len(photos), embedder.dim), np.nan, dtype=np.float32)
    results: list[dict] = []
    with progress(quiet=as_json and not err.is_terminal) as bar:
        task = bar.add_task("embedding", total=len(photos), rate="")
        for i, path in enumerate(photos):
            entry: dict = {"path": str(path), "row": i}
            try:
                photo = decode(path, max_pixels)
                chosen = pick_face(detector.detect(photo), photo.shape, face.value)
                if chosen is None:
                    entry["status"] = "no_face"
                else:
                    vectors[i] = embedder.embed_faces(photo, [chosen], flip=flip)[0]
                    entry.update(status="ok", box=chosen.to_dict()["box"])
            except FacepairError as exc:
                entry.update(status="error", error={"code": exc.code, "message": exc.message})
            results.append(entry)
            bar.advance(task)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(out_file, vectors)
    if as_json:
        emit_json({"model": embedder.name, "out": str(out_file), "dim": embedder.dim,
                   "photos": results})
    else:
        for r in results:
            out.print(f"{r['row']:4d}  {r['status']:8s} {r['path']}", highlight=False)
        out.print(f"wrote {len(photos)}×{embedder.dim} to {out_file}")
    if any(r["status"] == "error" for r in results):
        raise typer.Exit(1)
