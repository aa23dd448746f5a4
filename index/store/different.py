"""Pairs of people a user said are different people (look-alikes, not one person enrolled
twice); a pair goes with either person."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from faces.errors import NotFound
from index.store import schema as t
from index.store.database import Database, upsert
from index.store.shared import now


class DifferentPeopleRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def mark(self, a: int, b: int) -> None:
        """Remember that `a` and `b` (two people) are different people (again: no change)."""
        low, high = min(a, b), max(a, b)
        try:
            with self.db.transaction() as conn:
                conn.execute(upsert(conn, t.different_people)
                             .values(a=low, b=high, created=now())
                             .on_conflict_do_nothing(index_elements=["a", "b"]))
        except IntegrityError as exc:  # one of them was deleted meanwhile
            raise NotFound(f"no person with id {low} or {high}") from exc

    def pairs(self) -> set[tuple[int, int]]:
        """Every pair marked different, as (lower id, higher id)."""
        d = t.different_people.c
        with self.db.reading() as conn:
            return {(int(a), int(b)) for a, b in conn.execute(select(d.a, d.b))}
