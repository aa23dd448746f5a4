"""The `facepair` command line. Thin: it parses, calls faces/ (and later index/), and prints.

Every command takes `--json`; with it, the last line printed is one JSON object. Progress goes
to stderr, so stdout stays machine-readable.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from faces.errors import FacepairError
from faces.memory import keep_freed_memory

app = typer.Typer(
    name="facepair",
    help="Recognise friends and family in your photos, on your own machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# No markup: names, notes, paths and messages are the user's text, printed as they are (a
# person named "Eve[/x]" is not a style tag); styled words are `Text` with a style.
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, markup=False)


def emit_json(payload: dict) -> None:
    """Print one JSON object on one line (never wrapped, unlike Rich)."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)
    return typer.Exit(code)


def progress(quiet: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=err,
        disable=quiet or not err.is_terminal,
        transient=True,
    )


@app.command()
def detect(
    photos: list[Path] = typer.Argument(..., help="Photos to look at."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Find every face in each photo: box, detector score and five landmarks."""
    from faces.decode import decode
    from faces.detect import Detector

    detector = Detector()
    results: list[dict] = []
    with progress(quiet=as_json and not err.is_terminal) as bar:
        task = bar.add_task("detecting", total=len(photos), rate="")
        for path in photos:
            entry: dict = {"path": str(path)}
            try:
                entry["faces"] = [f.to_dict() for f in detector.detect(decode(path))]
            except FacepairError as exc:
                entry["faces"] = []
                entry["error"] = {"code": exc.code, "message": exc.message}
            results.append(entry)
            bar.advance(task)
    failed = [r for r in results if "error" in r]
    if as_json:
        emit_json({"photos": results})
    else:
        table = Table("photo", "faces", "boxes (x1,y1,x2,y2) and scores")
        for r in results:
            if "error" in r:
                table.add_row(r["path"], "-", Text(r["error"]["message"], style="red"))
                continue
            boxes = "\n".join(f"{f['box']}  {f['score']:.3f}" for f in r["faces"]) or "no face"
            table.add_row(r["path"], str(len(r["faces"])), boxes)
        out.print(table)
    if failed:
        raise typer.Exit(1)


@app.command()
def embed(
    photos: list[Path] = typer.Argument(..., help="Photos to embed."),
    out_file: Path = typer.Option(..., "--out", help="Where to write the N×D .npy array."),
    face: str = typer.Option("center", help="Which face of a photo: center or largest."),
    flip: bool = typer.Option(True, "--flip/--no-flip", help="Sum with the mirror image."),
    model: str | None = typer.Option(None, help="Model name or file (default: settings)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """One unit vector per photo (a NaN row where no face was found)."""
    import numpy as np

    from faces.decode import decode
    from faces.detect import Detector, pick_face
    from faces.embed import Embedder

    if face not in ("center", "largest"):
        raise fail("--face must be 'center' or 'largest'")
    if out_file.suffix != ".npy":
        raise fail(f"--out must name a .npy file, not {out_file}")
    detector, embedder = Detector(), Embedder(model)
    vectors = np.full((len(photos), embedder.dim), np.nan, dtype=np.float32)
    results: list[dict] = []
    with progress(quiet=as_json and not err.is_terminal) as bar:
        task = bar.add_task("embedding", total=len(photos), rate="")
        for i, path in enumerate(photos):
            entry: dict = {"path": str(path), "row": i}
            try:
                photo = decode(path)
                chosen = pick_face(detector.detect(photo), photo.shape, face)  # type: ignore[arg-type]
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


import service.cli_album  # noqa: E402  (registers tag, clusters)
import service.cli_gallery  # noqa: E402  (registers enroll, identify, verify, people…)
import service.cli_service  # noqa: E402  (registers serve, keys)
import service.cli_train  # noqa: E402,F401  (registers prepare, train, export, eval)


def main() -> None:  # pragma: no cover - console-script convenience
    keep_freed_memory()  # a command is one short process: keep what it frees for its next batch
    try:
        app()
    except FacepairError as exc:
        if "--json" in sys.argv:
            emit_json({"error": {"code": exc.code, "message": exc.message}})
        leave(fail(exc.message).exit_code)
    except SystemExit as exc:  # how Typer ends every command
        leave(exc.code)


def leave(code: int | str | None) -> NoReturn:
    """End the process without tearing the interpreter down module by module. By now the
    command's work is committed (each store write commits) and its files are closed; what is
    left is the exit handlers, run here, and the output streams, flushed here. Unloading torch,
    FAISS and their thousands of objects one by one would add 0.7–1.4 s to every command that
    embeds, for nothing (measured in the README's album figures)."""
    if isinstance(code, str):  # sys.exit("message"): printed, status 1
        sys.stderr.write(code + "\n")
    status = code if isinstance(code, int) else (0 if code is None else 1)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a reader that went away (`| head`), or a closed stream
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
