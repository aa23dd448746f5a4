"""Roots: photo libraries by name. Album photos and jobs point at a root and a path inside
it; where a root lives on a host is that host's own setting (`index.roots`), not the
store's."""

from __future__ import annotations

from sqlalchemy import select, update

from index.store import schema as t
from index.store.database import Database, upsert
from index.store.records import Root
from index.store.shared import now

R = t.roots.c


class RootsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[Root]:
        """Every root, by name."""
        with self.db.reading() as conn:
            return [Root(*r) for r in conn.execute(
                select(R.id, R.name, R.created, R.hint).order_by(R.name))]

    def get(self, root_id: int) -> Root | None:
        with self.db.reading() as conn:
            row = conn.execute(select(R.id, R.name, R.created, R.hint)
                               .where(R.id == root_id)).first()
        return None if row is None else Root(*row)

    def add(self, name: str, hint: str | None) -> int | None:
        """A new root of this name (its id), or None where the name is taken."""
        with self.db.transaction() as conn:
            made = conn.execute(upsert(conn, t.roots).values(name=name, created=now(), hint=hint)
                                .on_conflict_do_nothing(index_elements=["name"])
                                .returning(R.id)).first()
        return None if made is None else int(made[0])

    def rename(self, root_id: int, name: str) -> bool:
        """A root's new name; False where another root has it."""
        with self.db.transaction() as conn:
            if conn.execute(select(R.id).where(R.name == name, R.id != root_id)).first():
                return False
            conn.execute(update(t.roots).where(R.id == root_id).values(name=name))
        return True

    def get_or_add(self, name: str, hint: str | None) -> int:
        """The id of the root of this name, made where there is none."""
        made = self.add(name, hint)
        if made is not None:
            return made
        with self.db.reading() as conn:
            return int(conn.execute(select(R.id).where(R.name == name)).scalar_one())
