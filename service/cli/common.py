"""What every `facepair` command shares: the consoles, JSON output, errors, progress bars,
the options that recur, and opening the gallery.

Every command takes `--json`; with it, the last line printed is one JSON object. Progress goes
to stderr, so stdout stays machine-readable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from faces.errors import FacepairError
from service.boxes import parse_box

# No markup: names, notes, paths and messages are the user's text, printed as they are (a
# person named "Eve[/x]" is not a style tag); styled words are `Text` with a style.
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, markup=False)


def on_a_terminal(stream: Any) -> bool:
    """Whether a stream really is a terminal (Rich's `is_terminal` also says so wherever
    FORCE_COLOR is set)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


# Errors and messages on stderr are wrapped at the terminal's width only on a terminal: in a
# log, a pipe or a test they stay one line each, whatever COLUMNS says, for users to grep.
err.soft_wrap = not on_a_terminal(sys.stderr)

Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


class FaceChoice(Enum):
    """Which face of a photo of several."""

    center = "center"
    largest = "largest"


def emit_json(payload: Mapping[str, Any]) -> None:
    """Print one JSON object on one line (never wrapped, unlike Rich)."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


CLUSTER = "-"  # `--ray` given alone: the configured cluster


def ray_option(what: str) -> Any:
    """The `--ray [ADDRESS]` option of a command that can run `what` on a Ray cluster."""
    return typer.Option(
        None, "--ray", is_flag=False, flag_value=CLUSTER, metavar="[ADDRESS]",
        help=f"{what} on a Ray cluster: ADDRESS (host:port, ray://host:port, `local`), or "
        "alone FACEPAIR_RAY_ADDRESS, else `auto` (the cluster `ray start` made on this host). "
        "Give it after the arguments.")


def ray_address(ray: str | None, configured: str) -> str | None:
    """The cluster `--ray` names: None without it; alone, `configured`, else `auto`."""
    return (configured or "auto") if ray == CLUSTER else ray


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)
    return typer.Exit(code)


def quiet(as_json: bool) -> bool:
    """No progress bars when the output is JSON for a program."""
    return as_json and not err.is_terminal


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


def box_option(text: str | None) -> list[float] | None:
    """`--box`, checked as the API checks its `box` field."""
    if text is None:
        return None
    try:
        return parse_box(text)
    except ValueError as exc:
        raise fail(f"--box: {exc}") from None


def plain(result: BaseModel) -> dict[str, Any]:
    """A result (`index.results`) as the CLI prints it: JSON's types, and the fields it left
    unset left out (the API gives them as null)."""
    return result.model_dump(mode="json", exclude_unset=True)


def error_dict(exc: FacepairError) -> dict:
    return {"code": exc.code, "message": exc.message}


def use_collection(name: str) -> None:
    """Work in this collection (`--collection`): the settings of this process say so from
    now on."""
    from index.store import collection_name
    from service.settings import get_settings

    try:
        get_settings().collection = collection_name(name)
    except FacepairError as exc:
        raise fail(f"--collection: {exc.message}") from None


def load_detector():  # -> Detector
    """The detector, as this process's settings say."""
    from faces.detect import Detector
    from service.settings import get_settings

    return Detector(get_settings())


def load_embedder(model: str | None = None):  # -> Embedder
    """A model (default: the `model` setting) on the configured device, from the configured
    models folder."""
    from faces.embed import Embedder
    from service.settings import get_settings

    settings = get_settings()
    return Embedder(model or settings.model, settings.device, settings.models_dir)


def open_gallery(model: str | None = None, quiet: bool = False):  # -> Gallery
    """The gallery in FACEPAIR_HOME, its stored faces embedded by the current model first
    (a progress bar while that runs)."""
    from index.gallery import Gallery
    from service.settings import get_settings

    with progress(quiet=quiet) as bar:
        task = bar.add_task("embedding stored faces with the current model", total=None, rate="")
        return Gallery(get_settings(), model=model,
                       progress=lambda d, t: bar.update(task, completed=d, total=t))
