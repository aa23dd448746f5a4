"""Embeddings of enrolled faces per model, each face's nearest faces (the gallery's own
calibration data) and the vectors of faces a user said are not someone."""

from __future__ import annotations

import logging
from typing import cast

import numpy as np
import psycopg
from sqlalchemy import (
    ColumnElement,
    Connection,
    LargeBinary,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError

from index.store import schema as t
from index.store.database import Database, upsert
from index.store.records import Embedded, NearestFaces
from index.store.shared import forget_nearest, in_chunks, now

log = logging.getLogger("facepair.store")


def bulk_embeddings(conn: Connection, model: str) -> Embedded | None:
    """Every face embedded by `model`, read from PostgreSQL with one binary COPY and decoded
    by NumPy as fixed-size records (None where the vectors are not all of one size)."""
    driver = cast(psycopg.Connection, conn.connection.dbapi_connection)
    query = ("COPY (SELECT f.id, f.person_id, e.vector FROM embeddings e JOIN faces f "
             "ON f.id = e.face_id WHERE e.model = %s) TO STDOUT (FORMAT BINARY)")
    with driver.cursor() as cursor, cursor.copy(query, (model,)) as copy:
        data = b"".join(bytes(block) for block in copy)
    header = 19 + int(np.frombuffer(data, ">i4", 1, 15)[0])  # signature, flags, extension
    body = data[header:-2]  # the trailer: a field count of -1
    if not body:
        return Embedded(np.zeros(0, np.int64), np.zeros(0, np.int64),
                        np.empty((0, 0), np.float32))
    size = int(np.frombuffer(body, ">i4", 1, 18)[0])  # the first vector's bytes
    record = np.dtype([("fields", ">i2"), ("n1", ">i4"), ("id", ">i4"), ("n2", ">i4"),
                       ("person", ">i4"), ("n3", ">i4"), ("vector", "<f4", (size // 4,))])
    if size % 4 or len(body) % record.itemsize:
        return None
    rows = np.frombuffer(body, record)
    if not ((rows["fields"] == 3).all() and (rows["n3"] == size).all()):
        return None
    rows = rows[np.argsort(rows["id"], kind="stable")]  # by face id (sorted here, not there)
    return Embedded(rows["id"].astype(np.int64), rows["person"].astype(np.int64),
                    rows["vector"].astype(np.float32))


class EmbeddingsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, model: str, face_ids: list[int], vectors: np.ndarray) -> None:
        """Store (or replace) these faces' vectors under `model`."""
        if not len(face_ids):
            return
        with self.db.transaction() as conn:
            self.db.changed("face", [int(f) for f in face_ids], model=model)
            forget_nearest(conn, [int(f) for f in face_ids], model)
            stmt = upsert(conn, t.embeddings)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["face_id", "model"], set_={"vector": stmt.excluded.vector}),
                [{"face_id": int(f), "model": model, "vector": v}
                 for f, v in zip(face_ids, vectors, strict=True)])

    def of_model(self, model: str, person_id: int | None = None,
                 face_ids: list[int] | None = None) -> Embedded:
        """Every face embedded by `model` (of one person, or these faces, when given), by
        face id. A whole model's vectors come in one bulk read (PostgreSQL's binary COPY),
        not a row at a time."""
        if person_id is None and face_ids is None and not self.db.sqlite:
            with self.db.reading() as conn:
                bulk = bulk_embeddings(conn, model)
            if bulk is not None:
                return bulk
        e, f = t.embeddings.c, t.faces.c
        # the vector's bytes as stored, decoded below in one piece
        query = (select(f.id, f.person_id, type_coerce(e.vector, LargeBinary))
                 .join(t.faces, f.id == e.face_id).where(e.model == model).order_by(f.id))
        if person_id is not None:
            query = query.where(f.person_id == person_id)
        rows: list = []
        with self.db.reading() as conn:
            if face_ids is None:
                rows = list(conn.execute(query))
            for chunk in in_chunks(face_ids or []):
                rows += conn.execute(query.where(f.id.in_(chunk)))
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        people = np.array([r[1] for r in rows], dtype=np.int64)
        if not rows:
            return Embedded(ids, people, np.empty((0, 0), dtype=np.float32))
        vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4")
        return Embedded(ids, people, vectors.reshape(len(rows), -1).astype(np.float32))

    def missing(self, model: str) -> list[int]:
        """The faces `model` has not embedded yet."""
        e = t.embeddings.c
        with self.db.reading() as conn:
            return [int(r[0]) for r in conn.execute(
                select(t.faces.c.id).where(~exists().where(
                    and_(e.face_id == t.faces.c.id, e.model == model))).order_by(t.faces.c.id))]

    def drop_other_models(self, model: str) -> int:
        """Delete embeddings made by other models (after a re-embed)."""
        with self.db.transaction() as conn:
            self.db.changed("reset")
            return int(conn.execute(delete(t.embeddings)
                                    .where(t.embeddings.c.model != model)).rowcount)

    def count(self) -> int:
        with self.db.reading() as conn:
            return int(conn.execute(select(func.count()).select_from(t.embeddings)).scalar_one())

    # -- nearest faces (index.calibration) ----------------------------------------------------

    def nearest(self, model: str) -> dict[int, NearestFaces]:
        """face id → its nearest faces under `model`."""
        n = t.nearest.c
        with self.db.reading() as conn:
            rows = conn.execute(select(n.face_id, n.impostor, n.impostor_face, n.genuine,
                                       n.genuine_face).where(n.model == model))
            return {int(r[0]): NearestFaces(float(r[1]), int(r[2]), r[3], r[4]) for r in rows}

    def without_nearest(self, model: str) -> int:
        """How many faces have no nearest-faces row under `model`."""
        n = t.nearest.c
        with self.db.reading() as conn:
            return int(conn.execute(select(func.count()).select_from(t.faces).where(
                ~exists().where(and_(n.face_id == t.faces.c.id, n.model == model))
            )).scalar_one())

    def clear_nearest(self) -> None:
        """Drop every nearest-faces row: they are all computed again when next asked."""
        with self.db.transaction() as conn:
            conn.execute(delete(t.nearest))

    def put_nearest(self, model: str,
                    rows: list[tuple[int, float, int, float | None, int | None]],
                    raised: list[tuple[int, str, float, int]]) -> None:
        """Write recomputed rows (face id, impostor, its face, genuine, its face), and raise
        other faces' scores (face id, 'impostor' or 'genuine', score, face) where the new
        one is higher. Both keep the maximum of what is stored and what is written, so
        that one process never lowers what another has just raised; a row or a raise that
        names a face deleted meanwhile is not written (it is computed again when next
        asked). Rows are a cache: where another process deletes a face between the check
        and the write (PostgreSQL reads what others committed meanwhile), none is written."""
        try:
            self._put_nearest(model, rows, raised)
        except IntegrityError:
            log.info("nearest faces not written: a face was deleted meanwhile")

    def _put_nearest(self, model: str,
                     rows: list[tuple[int, float, int, float | None, int | None]],
                     raised: list[tuple[int, str, float, int]]) -> None:
        n = t.nearest.c
        with self.db.transaction() as conn:
            known = set(_existing(conn, {f for r in rows for f in (r[0], r[2], r[4])
                                         if f is not None}
                                  | {f for r in raised for f in (r[0], r[3])}))
            stmt = upsert(conn, t.nearest)
            new = stmt.excluded
            keep_higher = {
                f"{kind}{suffix}": _if_higher(getattr(new, kind), getattr(n, kind),
                                              getattr(new, kind + suffix),
                                              getattr(n, kind + suffix))
                for kind in ("impostor", "genuine") for suffix in ("", "_face")}
            fresh = [{"face_id": f, "model": model, "impostor": i, "impostor_face": fi,
                      "genuine": g, "genuine_face": gi} for f, i, fi, g, gi in rows
                     if f in known and fi in known and (gi is None or gi in known)]
            if fresh:
                conn.execute(stmt.on_conflict_do_update(index_elements=["face_id", "model"],
                                                        set_=keep_higher), fresh)
            for kind in ("impostor", "genuine"):
                score, face = getattr(n, kind), getattr(n, kind + "_face")
                higher = [{"f": f, "value": value, "other": other}
                          for f, k, value, other in raised
                          if k == kind and f in known and other in known]
                if higher:
                    conn.execute(update(t.nearest).where(
                        n.face_id == bindparam("f"), n.model == model,
                        score.is_(None) | (score < bindparam("value"))).values(
                            {score: bindparam("value"), face: bindparam("other")}), higher)

    # -- exclusions ---------------------------------------------------------------------------

    def exclude(self, person_id: int, model: str, vector: np.ndarray) -> None:
        with self.db.transaction() as conn:
            self.db.changed("exclusion", person_id=person_id, model=model)
            conn.execute(t.exclusions.insert().values(person_id=person_id, model=model,
                                                      vector=vector, created=now()))

    def exclusions(self, model: str) -> dict[int, np.ndarray]:
        """Per person, the vectors of the faces a user said are not them (K×D)."""
        x = t.exclusions.c
        found: dict[int, list[np.ndarray]] = {}
        with self.db.reading() as conn:
            for person_id, vector in conn.execute(select(x.person_id, x.vector)
                                                  .where(x.model == model).order_by(x.id)):
                found.setdefault(int(person_id), []).append(vector)
        return {p: np.stack(v) for p, v in found.items()}


def _existing(conn: Connection, face_ids: set[int]) -> list[int]:
    """Which of these faces still exist."""
    found: list[int] = []
    for chunk in in_chunks(sorted(face_ids)):
        found += [int(r[0]) for r in conn.execute(
            select(t.faces.c.id).where(t.faces.c.id.in_(chunk)))]
    return found


def _if_higher(new_score: ColumnElement, old_score: ColumnElement, new: ColumnElement,
               old: ColumnElement) -> ColumnElement:
    """`new` where the new score beats the stored one (or none is stored), else `old`."""
    return case(((new_score > old_score) | old_score.is_(None), new), else_=old)
