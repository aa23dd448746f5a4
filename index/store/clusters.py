"""Unknown album faces: the clusters they fall into, the suggestions among them, and what a
user says of one (this is X, not X, hide, split off its cluster, skip)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import ColumnElement, bindparam, func, or_, select, update

from index.store import schema as t
from index.store.albums import FACE_WITH_PHOTO, album_face, with_photo
from index.store.database import Database
from index.store.records import AlbumFace, Cluster, Suggestion, shown

F, P, R = t.album_faces.c, t.album_photos.c, t.roots.c


def recognisable(floor: float) -> ColumnElement[bool]:
    """Album faces not under the quality floor (one recorded before quality was measured
    has none, and is not)."""
    return or_(F.quality.is_(None), F.quality >= floor)


class ClustersRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def unknown(self, model: str, floor: float = 0.0) -> tuple[list[int], np.ndarray]:
        """The album faces named as no one, for this model (those the user hid or split off
        a cluster aside, and those under the quality floor: they go into none): their ids and
        vectors."""
        with self.db.reading() as conn:
            rows = conn.execute(select(F.id, F.vector).where(
                F.person_id.is_(None), ~F.hidden, ~F.ungrouped, F.model == model,
                recognisable(floor)).order_by(F.id)).all()
        vectors = np.stack([r[1] for r in rows]) if rows else np.empty((0, 0), np.float32)
        return [int(r[0]) for r in rows], vectors

    def replace(self, clusters: list[tuple[int, int]]) -> None:
        """The clusters of unknown faces, as (cluster, face id); every other face in none."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_faces).where(F.cluster.is_not(None)).values(cluster=None))
            if clusters:
                conn.execute(update(t.album_faces).where(F.id == bindparam("face"))
                             .values(cluster=bindparam("cluster")),
                             [{"face": f, "cluster": c} for c, f in clusters])

    def all(self) -> list[Cluster]:
        """Each cluster of unknown faces, biggest first: its faces, photos and their paths."""
        with self.db.reading() as conn:
            rows = conn.execute(
                select(F.cluster, func.count().label("faces"),
                       func.count(F.photo_id.distinct()).label("photos"))
                .where(F.cluster.is_not(None)).group_by(F.cluster)
                .order_by(func.count().desc(), F.cluster)).all()
            paths: dict[int, set[str]] = {}
            for cluster, root, path in conn.execute(
                    with_photo(select(F.cluster, R.name, P.path))
                    .where(F.cluster.is_not(None))):
                paths.setdefault(int(cluster), set()).add(shown(root, path))
        return [Cluster(int(r.cluster), int(r.faces), int(r.photos),
                        sorted(paths.get(int(r.cluster), ()))) for r in rows]

    def faces(self, cluster: int) -> list[AlbumFace]:
        """The faces of one cluster, with their photo and whether its job wrote sidecars."""
        j = t.album_jobs.c
        with self.db.reading() as conn:
            return [album_face(r) for r in conn.execute(
                with_photo(select(*FACE_WITH_PHOTO, j.xmp))
                .outerjoin(t.album_jobs, j.id == P.job_id)
                .where(F.cluster == cluster).order_by(F.id))]

    def face_ids(self, cluster: int) -> list[int]:
        with self.db.reading() as conn:
            return [int(r[0]) for r in conn.execute(
                select(F.id).where(F.cluster == cluster).order_by(F.id))]

    def name(self, cluster: int, person_id: int) -> None:
        """A cluster of unknown faces becomes a person's."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_faces).where(F.cluster == cluster)
                         .values(person_id=person_id, cluster=None, similarity=None))

    # -- what a user says of a face -----------------------------------------------------------

    def name_face(self, face_id: int, person_id: int | None, by_user: bool) -> None:
        """An album face becomes a person's (or no one's), as the user says."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_faces).where(F.id == face_id).values(
                person_id=person_id, named_by="answer" if by_user and person_id else None,
                cluster=None, candidate_id=None,
                similarity=None if by_user else F.similarity))

    def hide(self, face_ids: list[int]) -> None:
        """Faces the user does not want to see: out of every cluster and every suggestion."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_faces).where(F.id.in_(face_ids))
                         .values(hidden=True, cluster=None))

    def split_off(self, face_id: int) -> None:
        """A face split off its cluster: in none again."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_faces).where(F.id == face_id)
                         .values(ungrouped=True, cluster=None))

    def skip(self, face_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(update(t.album_faces).where(F.id == face_id).values(skipped=True))

    def reject_candidate(self, face_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(update(t.album_faces).where(F.id == face_id).values(candidate_id=None))

    def suggestions(self, low: float, high: float, limit: int, floor: float = 0.0
                    ) -> tuple[int, list[Suggestion]]:
        """Unknown album faces that came within [low, high) of someone, closest first (none
        under the quality floor): how many wait, and the first `limit`."""
        pe = t.people.c
        where = (F.person_id.is_(None), ~F.hidden, ~F.skipped, F.similarity >= low,
                 F.similarity < high, recognisable(floor))
        base = (with_photo(select(F.id, F.similarity, F.candidate_id, F.vector, pe.name,
                                  R.name.label("root"), P.path, P.id.label("photo_id")))
                .join(t.people, pe.id == F.candidate_id).where(*where))
        with self.db.reading() as conn:
            count = conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
            rows = conn.execute(base.order_by(F.similarity.desc(), F.id).limit(limit)).all()
        return int(count), [Suggestion(r.id, float(r.similarity), r.candidate_id, r.name,
                                       r.vector, shown(r.root, r.path), r.photo_id)
                                for r in rows]
