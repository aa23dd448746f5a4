"""A gallery moved from one database to another (SQLite to PostgreSQL, and back): every table
row for row with its ids, the binary columns byte for byte, and the highest id each table ever
gave, so that no id is given again after the move."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy import Connection, TableClause
from sqlalchemy.types import TypeDecorator

from index.errors import Refused
from index.store.database import Database
from index.store.schema import metadata

BATCH = 2_000  # rows read and written at a time
# tables whose ids the database gives and whose rows are never deleted: the highest row is the
# highest id given
Progress = Callable[[str, int], None]  # table, rows copied so far


def _raw(table: sa.Table) -> TableClause:
    """The table with its stored types (JSON text, float32 bytes): copied as stored, never
    decoded and encoded again."""
    return sa.table(table.name, *[
        sa.column(c.name, c.type.impl_instance if isinstance(c.type, TypeDecorator) else c.type)
        for c in table.columns])


def _order(table: sa.Table) -> list[sa.ColumnClause]:
    return [sa.column(c.name) for c in table.primary_key.columns]


def _rows(conn: Connection, table: sa.Table) -> Iterator[list[dict]]:
    raw = _raw(table)
    result = conn.execution_options(yield_per=BATCH).execute(
        sa.select(*raw.columns).order_by(*_order(table)))
    for part in result.partitions(BATCH):
        yield [dict(r._mapping) for r in part]


def counts(db: Database) -> dict[str, int]:
    """Rows per table."""
    with db.reading() as conn:
        return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t))
                            .scalar_one()) for t in metadata.sorted_tables}


def copy(src: Database, dst: Database, progress: Progress | None = None) -> dict[str, int]:
    """Copy every row of `src` into `dst`, an empty store, in one transaction; the rows
    copied per table."""
    held = {name: n for name, n in counts(dst).items() if n and name != "meta"}
    if held:
        raise Refused("destination_not_empty", f"{dst.name} already holds a gallery "
                      f"({', '.join(f'{n} {name}' for name, n in held.items())}); copy into an "
                      "empty one")
    copied: dict[str, int] = {}
    with src.reading() as reader, dst.transaction() as writer:
        writer.execute(sa.delete(metadata.tables["meta"]))  # the source's values, not its own
        for table in metadata.sorted_tables:
            copied[table.name] = 0
            for rows in _rows(reader, table):
                writer.execute(sa.insert(_raw(table)), rows)
                copied[table.name] += len(rows)
                if progress:
                    progress(table.name, copied[table.name])
        for name, given in src.ids_given(reader).items():
            dst.set_ids_given(writer, name, given)
    return copied


def fingerprint(db: Database, table: sa.Table) -> tuple[int, str]:
    """A table's rows and a hash of their stored values, in key order: equal on two stores
    that hold the same rows."""
    digest, n = hashlib.sha256(), 0
    with db.reading() as conn:
        for rows in _rows(conn, table):
            for row in rows:
                digest.update(repr([_plain(v) for v in row.values()]).encode())
            n += len(rows)
    return n, digest.hexdigest()


def _plain(value: object) -> object:
    """A stored value as both backends give it back (bytes for binary, bool for flags)."""
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def differences(src: Database, dst: Database) -> list[str]:
    """The tables whose rows differ between two stores, and ids given that would repeat."""
    found = [t.name for t in metadata.sorted_tables if t.name != "meta"
             and fingerprint(src, t) != fingerprint(dst, t)]
    with src.reading() as a, dst.reading() as b:
        theirs = dst.ids_given(b)
        found += [f"{table} ids" for table, given in src.ids_given(a).items()
                  if theirs.get(table, 0) < given]
    return found
