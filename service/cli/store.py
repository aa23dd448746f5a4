"""`facepair store copy SRC DST`: a gallery moved between databases (SQLite, PostgreSQL)."""

from __future__ import annotations

import typer
from rich.table import Table

from service.cli.common import Json, emit_json, fail, out, progress, quiet

commands = typer.Typer()
store_app = typer.Typer(help="The gallery's database.", no_args_is_help=True)
commands.add_typer(store_app, name="store")

LOCATION = ("a SQLite file's path, or postgresql://user@host/database")


@store_app.command("copy")
def store_copy(
    src: str = typer.Argument(..., help=f"The store to copy: {LOCATION}."),
    dst: str = typer.Argument(..., help=f"An empty store to copy it into: {LOCATION}."),
    verify: bool = typer.Option(False, "--verify",
                                help="Compare both stores, table by table, afterwards."),
    as_json: Json = False,
) -> None:
    """Copy a gallery to another database (SQLite to PostgreSQL, or back), ids and binary
    columns as they are; the destination must be empty. One collection at a time: the one
    `facepair --collection NAME` names (`default` unless it does)."""
    from index.store import Store, compare_stores, copy_store, gallery_file
    from service.settings import get_settings

    if src == dst:
        raise fail("the source and the destination are the same store")
    file = gallery_file(src)
    if file is not None and not file.is_file():
        raise fail(f"{src}: no such gallery file")
    collection = get_settings().collection
    source, target = Store(src, collection), Store(dst, collection)
    try:
        with progress(quiet=quiet(as_json)) as bar:
            task = bar.add_task("copying", total=None, rate="")

            def update(table: str, rows: int) -> None:
                bar.update(task, description=f"copying {table}", completed=rows, rate="")

            copied = copy_store(source, target, update)
        differs = compare_stores(source, target) if verify else None
    finally:
        source.close()
        target.close()
    if as_json:
        emit_json({"copied": copied, **({"verified": not differs, "differs": differs}
                                        if differs is not None else {})})
    else:
        table = Table("table", "rows")
        for name, rows in copied.items():
            table.add_row(name, str(rows))
        out.print(table)
        if differs is not None:
            out.print("verified: both stores hold the same gallery" if not differs
                      else f"differs: {', '.join(differs)}")
    if differs:
        raise typer.Exit(1)
