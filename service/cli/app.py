"""The `facepair` command line, assembled: each group of commands lives in a module of its own
(`faces`, `gallery`, `albums`, `serve`, `store`, `train`, `collections`) and nothing imports
this one back. Thin: the commands parse, call `faces/`, `index/` and `training/`, and print.
`--collection NAME`, before the command, is the collection every command works in.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import NoReturn

import typer

from faces.errors import FacepairError
from faces.memory import keep_freed_memory
from service.cli import albums, collections, faces, gallery, serve, store, train
from service.cli.common import emit_json, fail, on_a_terminal, use_collection

app = typer.Typer(
    name="facepair",
    help="Recognise friends and family in your photos, on your own machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for group in (faces, gallery, albums, serve, store, train, collections):
    app.registered_commands += group.commands.registered_commands
    app.registered_groups += group.commands.registered_groups


@app.callback()
def everywhere(
    collection: str | None = typer.Option(
        None, "--collection", metavar="NAME",
        help="The collection to work in (FACEPAIR_COLLECTION; default: default)."),
) -> None:
    """Recognise friends and family in your photos, on your own machine."""
    if collection is not None:
        use_collection(collection)


def main() -> None:  # pragma: no cover - console-script convenience
    keep_freed_memory()  # a command is one short process: keep what it frees for its next batch
    from service.settings import get_settings

    threads = get_settings().threads  # FACEPAIR_THREADS, read by torch when it loads
    if threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    if not on_a_terminal(sys.stderr):
        # Typer draws a mistyped command's error in a panel as wide as the terminal, wrapping
        # its text; in a log or a pipe it is click's plain lines, the message on one line
        app.rich_markup_mode = None
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
