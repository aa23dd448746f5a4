"""`facepair collections list | create | delete`: galleries of their own on one server."""

from __future__ import annotations

import typer
from rich.table import Table

from service.cli.common import Json, emit_json, out, plain

commands = typer.Typer()
collections_app = typer.Typer(help="Collections: galleries of their own on one server.",
                              no_args_is_help=True)
commands.add_typer(collections_app, name="collections")


def _registry():
    """The default collection's store (it keeps the collections made) and its location."""
    from index.store import Store
    from service.settings import get_settings

    location = get_settings().store_location()
    return Store(location), location


@collections_app.command("list")
def collections_list(as_json: Json = False) -> None:
    """Every collection, the default one first, with its size."""
    from index.collections import listing

    registry, location = _registry()
    try:
        found = [plain(c) for c in listing(registry, location)]
    finally:
        registry.close()
    if as_json:
        emit_json({"collections": found})
        return
    table = Table("name", "people", "faces", "photos", "created")
    for c in found:
        table.add_row(c["name"], str(c["people"]), str(c["faces"]), str(c["photos"]),
                      c["created"] or "")
    out.print(table)


@collections_app.command("create")
def collections_create(name: str = typer.Argument(..., help="1 to 40 lowercase letters, "
                                                  "digits, '_' and '-' (read as '_')."),
                       as_json: Json = False) -> None:
    """Make a collection: a gallery of its own (work in it with `facepair --collection NAME
    …`, keys for it with `facepair keys create --collection NAME`)."""
    from index.collections import create

    registry, location = _registry()
    try:
        made = plain(create(registry, location, name))
    finally:
        registry.close()
    if as_json:
        emit_json({"collection": made})
    else:
        out.print(f"made the collection {made['name']}", highlight=False)


@collections_app.command("delete")
def collections_delete(name: str = typer.Argument(...),
                       yes: bool = typer.Option(False, "--yes", help="Do not ask."),
                       as_json: Json = False) -> None:
    """Delete a collection for good: its people, faces, albums, thresholds and keys."""
    from index.collections import delete
    from index.store import collection_name
    from service.settings import get_settings

    settings = get_settings()
    registry, _ = _registry()
    try:
        name = collection_name(name)
        if name != "default":
            registry.collections.get(name)  # `no_collection` before asking
        if not yes and not as_json and not typer.confirm(
                f"Delete the collection {name} and everything in it for good?"):
            raise typer.Exit(1)
        result = plain(delete(registry, settings, settings.home, name))
    finally:
        registry.close()
    if as_json:
        emit_json(result)
    else:
        out.print(f"deleted the collection {name} ({result['revoked_keys']} key(s) revoked)",
                  highlight=False)
