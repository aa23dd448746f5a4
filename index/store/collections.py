"""Collections: galleries of their own on one server, each its own set of tables.

A collection's name is 1 to 40 lowercase letters, digits, `_` and `-` (read as `_`: `my-family`
and `my_family` are one collection), starting with a letter or a digit. `default` is the
collection every server has: `FACEPAIR_HOME/gallery.sqlite3`, or PostgreSQL's `public` schema.
Collection NAME is `collections/NAME/` beside the default one's SQLite file, or the schema
`c_NAME` of the same PostgreSQL database, made and brought to the newest schema when first
opened.

The registry of collections (and the keys, with the collection each works in) lives in the
default collection's store: `store.collections`.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select

from index.errors import Conflict, NoCollection, Refused
from index.store import schema as t
from index.store.database import Database, upsert, url_of
from index.store.records import Collection

DEFAULT = "default"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
C = t.collections.c


def collection_name(text: str) -> str:
    """A collection's name as it is kept (`-` read as `_`); `Refused` (`invalid_collection`)
    for a name outside the rules."""
    if not isinstance(text, str) or not NAME.fullmatch(text):
        raise Refused("invalid_collection",
                      f"{str(text)[:60]!r} is not a collection name: 1 to 40 lowercase letters, "
                      "digits, '_' and '-', starting with a letter or a digit")
    return text.replace("-", "_")


def schema_of(name: str) -> str | None:
    """The PostgreSQL schema of a collection (None: the default one's, `public`)."""
    name = collection_name(name)
    return None if name == DEFAULT else f"c_{name}"


def collection_location(location: str | Path, name: str) -> str | Path:
    """Where a collection's tables are: the SQLite file `collections/NAME/` beside the
    default one's, or the same PostgreSQL database (the collection is a schema of it)."""
    name = collection_name(name)
    url = url_of(location)
    if name == DEFAULT or url.get_backend_name() != "sqlite":
        return location
    file = Path(url.database or "")
    return file.parent / "collections" / name / file.name


class CollectionsRepository:
    """The registry of collections (in the default collection's store)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[Collection]:
        """The collections made beside the default one, by name."""
        with self.db.reading() as conn:
            return [Collection(*r) for r in conn.execute(
                select(C.name, C.created).order_by(C.name))]

    def get(self, name: str) -> Collection:
        """A collection made beside the default one; `NoCollection` where there is none."""
        name = collection_name(name)
        with self.db.reading() as conn:
            row = conn.execute(select(C.name, C.created).where(C.name == name)).first()
        if row is None:
            raise NoCollection(f"no collection {name!r}")
        return Collection(*row)

    def add(self, name: str) -> Collection:
        """Register a new collection (its tables are made when it is first opened)."""
        name = collection_name(name)
        if name == DEFAULT:
            raise Conflict("the collection 'default' is there already")
        with self.db.transaction() as conn:
            # to the microsecond: a collection deleted and made again is told from the old one
            created = datetime.now(UTC).isoformat()
            made = conn.execute(upsert(conn, t.collections).values(name=name, created=created)
                                .on_conflict_do_nothing(index_elements=["name"])
                                .returning(C.name)).first()
        if made is None:
            raise Conflict(f"the collection {name!r} is there already")
        return self.get(name)

    def remove(self, name: str) -> int:
        """Delete a collection for good: its registration, its keys and its tables (its
        PostgreSQL schema, or its SQLite folder). The keys it had, revoked."""
        name = collection_name(name)
        if name == DEFAULT:
            raise Refused("default_collection", "the collection 'default' cannot be deleted")
        self.get(name)
        with self.db.transaction() as conn:
            revoked = conn.execute(delete(t.api_keys).where(t.api_keys.c.collection == name)
                                   ).rowcount
            conn.execute(delete(t.collections).where(C.name == name))
            if not self.db.sqlite:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema_of(name)}" CASCADE')
        if self.db.path is not None:
            folder = Path(collection_location(self.db.path, name)).parent
            shutil.rmtree(folder, ignore_errors=True)
        return int(revoked)


def registered(location: str | Path, name: str) -> Collection | None:
    """The collection of this name in the registry of the default store at `location` (None:
    the default collection); `NoCollection` where it was never made or was deleted."""
    name = collection_name(name)
    if name == DEFAULT:
        return None
    db = Database(location)
    try:
        return CollectionsRepository(db).get(name)
    finally:
        db.close()
