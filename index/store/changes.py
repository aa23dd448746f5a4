"""The change feed: what changed of what identify answers, in commit order (`schema.changes`).

Writes record their changes with `Database.changed` inside their transaction; a process reads
what came after the last change it applied (`since`) and waits for more with `wait`: woken by
PostgreSQL's `NOTIFY` at once, or polling an SQLite file.
"""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import func, select

from index.store import schema as t
from index.store.database import CONNECT_SECONDS, Database
from index.store.records import Change

POLL_SECONDS = 0.25  # how often a process looks at an SQLite feed while it waits


class ChangesRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._listening: psycopg.Connection | None = None  # wait's LISTEN connection

    def head(self) -> int:
        """The newest change's id (0: none yet)."""
        with self.db.reading() as conn:
            return int(conn.execute(select(func.coalesce(func.max(t.changes.c.id), 0)))
                       .scalar_one())

    def since(self, after: int, limit: int = 10_000) -> list[Change]:
        """The changes after `after`, oldest first, at most `limit` of them."""
        c = t.changes.c
        with self.db.reading() as conn:
            rows = conn.execute(select(c.id, c.kind, c.face_id, c.person_id, c.model)
                                .where(c.id > after).order_by(c.id).limit(limit))
            return [Change(*r) for r in rows]

    def wait(self, after: int, timeout: float) -> int:
        """Wait until the feed holds a change after `after`, or `timeout` seconds pass; the
        newest change's id. One thread of a process waits at a time."""
        deadline = time.monotonic() + timeout
        while True:
            head = self.head()
            left = deadline - time.monotonic()
            if head > after or left <= 0:
                return head
            if self.db.sqlite:
                time.sleep(min(POLL_SECONDS, left))
            else:
                self._notified(left)

    def _notified(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for PostgreSQL's notification of new changes."""
        try:
            if self._listening is None or self._listening.closed:
                self._listening = psycopg.connect(self.db.address(), autocommit=True,
                                                  connect_timeout=CONNECT_SECONDS)
                self._listening.execute(f"LISTEN {self.db.channel}")
            for _ in self._listening.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error:
            self.close()
            raise

    def close(self) -> None:
        if self._listening is not None:
            self._listening.close()
            self._listening = None
