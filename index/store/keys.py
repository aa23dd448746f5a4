"""API keys of the HTTP service: only their hashes are kept, with the collection each key
works in (None: every collection)."""

from __future__ import annotations

from sqlalchemy import delete, select

from faces.errors import NotFound
from index.store import schema as t
from index.store.database import Database
from index.store.records import ApiKey
from index.store.shared import inserted_id, now

K = t.api_keys.c


class KeysRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str, scope: str, digest: str, collection: str | None = None) -> int:
        with self.db.transaction() as conn:
            return inserted_id(conn.execute(t.api_keys.insert().values(
                name=name, scope=scope, hash=digest, created=now(), collection=collection)))

    def grant_of(self, digest: str) -> tuple[int, str, str | None] | None:
        """The id, scope and collection (None: every one) of the key with this hash, if
        any."""
        with self.db.reading() as conn:
            row = conn.execute(select(K.id, K.scope, K.collection).where(K.hash == digest)
                               ).first()
        return None if row is None else (int(row[0]), str(row[1]), row[2])

    def scope_of(self, digest: str) -> tuple[int, str] | None:
        """The id and scope of the key with this hash, if any."""
        found = self.grant_of(digest)
        return None if found is None else found[:2]

    def all(self) -> list[ApiKey]:
        with self.db.reading() as conn:
            return [ApiKey(*r) for r in conn.execute(
                select(K.id, K.name, K.scope, K.created, K.last_used, K.collection)
                .order_by(K.id))]

    def revoke(self, key_id: int) -> None:
        with self.db.transaction() as conn:
            if conn.execute(delete(t.api_keys).where(K.id == key_id)).rowcount == 0:
                raise NotFound(f"no API key with id {key_id}")
