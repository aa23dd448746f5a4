"""Steps more than one repository takes within its writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from sqlalchemy import (
    Connection,
    CursorResult,
    Integer,
    Select,
    any_,
    bindparam,
    delete,
    exists,
    or_,
)
from sqlalchemy.dialects.postgresql import ARRAY

from index.store import schema as t

IN_LIST = 10_000  # ids in one IN (…) list


def in_chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    """Ids `IN_LIST` at a time, for `IN (…)` lists a statement can take."""
    for start in range(0, len(ids), IN_LIST):
        yield ids[start : start + IN_LIST]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def inserted_id(result: CursorResult) -> int:
    """The id the database gave the row an INSERT made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def forget_nearest(conn: Connection, face_ids: Select | list[int], model: str | None = None
                   ) -> None:
    """Nearest-faces rows that name these faces go: they are computed again when next asked
    (a face deleted, moved to another person or embedded again no longer stands for what
    they measured)."""
    n = t.nearest.c
    if isinstance(face_ids, list) and conn.dialect.name == "postgresql":
        # one array parameter, however many faces (not a placeholder each)
        ids = bindparam("face_ids", face_ids, type_=ARRAY(Integer))
        naming = or_(n.face_id == any_(ids), n.impostor_face == any_(ids),
                     n.genuine_face == any_(ids))
    else:
        naming = or_(n.face_id.in_(face_ids), n.impostor_face.in_(face_ids),
                     n.genuine_face.in_(face_ids))
    conn.execute(delete(t.nearest).where(naming if model is None
                                         else naming & (n.model == model)))


def drop_orphan_photos(conn: Connection, photo_ids: list[int]) -> None:
    """Enrolled photos left with no face go too."""
    if photo_ids:
        conn.execute(delete(t.photos).where(
            t.photos.c.id.in_(photo_ids),
            ~exists().where(t.faces.c.photo_id == t.photos.c.id)))
