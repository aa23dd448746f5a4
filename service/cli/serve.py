"""`facepair serve` and `facepair keys create | list | revoke`."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from faces.errors import FacepairError
from service.cli.common import Json, emit_json, err, fail, out

commands = typer.Typer()


keys_app = typer.Typer(help="API keys of the HTTP service.", no_args_is_help=True)
commands.add_typer(keys_app, name="keys")


def _store():
    """The default collection's store: it keeps the keys and the collections made."""
    from index.store import Store
    from service.settings import get_settings

    return Store(get_settings().store_location())


@commands.command()
def serve(
    host: str | None = typer.Option(None, help="Address to listen on (FACEPAIR_HOST)."),
    port: int | None = typer.Option(None, help="Port (FACEPAIR_PORT)."),
    workers: int = typer.Option(1, min=1, help="Processes; each loads the model once."),
) -> None:
    """Run the HTTP API (docs at /docs, a web page at /)."""
    import uvicorn

    from service.settings import get_settings

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    store = _store()  # a store that cannot be reached is said here, in one line
    try:
        if settings.auth and not store.keys.all():
            err.print(Text.assemble(
                ("No API keys yet.", "yellow"), " Make one for yourself with\n"
                "  facepair keys create --scope admin\n"
                "(a key of every collection: it manages them too) "
                "and send it as 'Authorization: Bearer <key>' (or paste it into the page "
                f"at http://{host}:{port}/)."), highlight=False)
    finally:
        store.close()
    err.print(f"facepair on http://{host}:{port}/ (API docs at /docs)", highlight=False)
    uvicorn.run("service.app:create_app", factory=True, host=host, port=port,
                workers=workers, log_level="info")


def key_collection(scope: str, collection: str | None) -> str | None:
    """The collection a new key works in: the one named (`--collection`, or before the
    command, or FACEPAIR_COLLECTION), else `default`, or every collection for an admin key."""
    from index.store import collection_name
    from service.settings import get_settings

    settings = get_settings()
    if collection is None and "collection" in settings.model_fields_set:
        collection = settings.collection
    if collection is None:
        return None if scope == "admin" else "default"
    try:
        return collection_name(collection)
    except FacepairError as exc:
        raise fail(f"--collection: {exc.message}") from None


def where(collection: str | None) -> str:
    return "every collection" if collection is None else f"collection {collection}"


@keys_app.command("create")
def keys_create(
    scope: str = typer.Option(..., help="read, write or admin."),
    name: str = typer.Option("", help="What the key is for."),
    collection: str | None = typer.Option(
        None, metavar="NAME", help="The collection the key works in (default: default; an "
        "admin key made without one works in every collection and manages them)."),
    as_json: Json = False,
) -> None:
    """Make an API key; it is printed once and only its hash is kept."""
    from service.keys import SCOPES, create_key

    if scope not in SCOPES:
        raise fail(f"--scope must be one of {', '.join(SCOPES)}")
    chosen = key_collection(scope, collection)
    store = _store()
    try:
        key_id, key = create_key(store, scope, name, chosen)
    finally:
        store.close()
    if as_json:
        emit_json({"id": key_id, "scope": scope, "name": name, "collection": chosen,
                   "key": key})
    else:
        out.print(key)
        err.print(f"key {key_id} ({scope}, {where(chosen)}): shown this once; keep it "
                  "somewhere safe")


@keys_app.command("list")
def keys_list(as_json: Json = False) -> None:
    """The keys there are (ids, names, scopes and collections; never the keys)."""
    store = _store()
    try:
        rows = [k.to_dict() for k in store.keys.all()]
    finally:
        store.close()
    if as_json:
        emit_json({"keys": rows})
        return
    table = Table("id", "scope", "collection", "name", "created")
    for r in rows:
        table.add_row(str(r["id"]), r["scope"], r["collection"] or "(every)", r["name"],
                      r["created"])
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: int = typer.Argument(...), as_json: Json = False) -> None:
    """Revoke a key at once."""
    store = _store()
    try:
        store.keys.revoke(key_id)
    finally:
        store.close()
    if as_json:
        emit_json({"revoked": key_id})
    else:
        out.print(f"revoked key {key_id}")
