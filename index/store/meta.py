"""Small named values the gallery keeps (the threshold in force, its calibration, the model
a gallery was last embedded with) and its row counts."""

from __future__ import annotations

import time

from sqlalchemy import delete, func, select

from index.store import schema as t
from index.store.database import Database, upsert


class MetaRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str, default: str | None = None) -> str | None:
        with self.db.reading() as conn:
            value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()
        return default if value is None else str(value)

    def set(self, key: str, value: str, model: str | None = None) -> None:
        """`model`: the value is that model's threshold set by hand (identify answers
        otherwise: the change feed says so)."""
        with self.db.transaction() as conn:
            if model is not None:
                self.db.changed("threshold", model=model)
            stmt = upsert(conn, t.meta).values(key=key, value=value)
            conn.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                                    set_={"value": stmt.excluded.value}))

    def delete(self, key: str, model: str | None = None) -> None:
        with self.db.transaction() as conn:
            if model is not None:
                self.db.changed("threshold", model=model)
            conn.execute(delete(t.meta).where(t.meta.c.key == key))

    def take_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Hold the lease `name` for `seconds` from now: whether `owner` holds it (it was
        free, had lapsed, or was already theirs)."""
        now = time.time()
        with self.db.transaction() as conn:
            stmt = upsert(conn, t.leases).values(name=name, owner=owner, until=now + seconds)
            return conn.execute(stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"owner": stmt.excluded.owner, "until": stmt.excluded.until},
                where=(t.leases.c.until < now) | (t.leases.c.owner == owner))
                .returning(t.leases.c.owner)).first() is not None

    def release_lease(self, name: str, owner: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(delete(t.leases).where(t.leases.c.name == name,
                                                t.leases.c.owner == owner))

    def counts(self) -> dict[str, int]:
        """How many people, photos, faces and embeddings the gallery holds."""
        with self.db.reading() as conn:
            return {table.name: int(conn.execute(select(func.count())
                                                 .select_from(table)).scalar_one())
                    for table in (t.people, t.photos, t.faces, t.embeddings)}
