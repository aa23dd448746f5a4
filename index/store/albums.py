"""Tagged photos of albums and the faces found in them: what an album job records, what a
re-run compares a file with, what sidecars are written from, and what lists show."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import ColumnElement, Row, func, select, update

from faces.errors import NotFound
from index.store import schema as t
from index.store.database import Database
from index.store.records import (
    AlbumFace,
    AlbumFaceSummary,
    AlbumPhoto,
    NewAlbumFace,
    PhotoState,
    ReportFace,
)
from index.store.shared import inserted_id, now

F, P = t.album_faces.c, t.album_photos.c


def under(root: Path) -> ColumnElement[bool]:
    """Album photos whose path lies under `root`."""
    prefix = str(root).rstrip(os.sep) + os.sep
    return func.substr(P.path, 1, len(prefix)) == prefix


def album_face(row: Row) -> AlbumFace:
    return AlbumFace(
        id=row.id, photo_id=row.photo_id, box=row.box, landmarks=row.landmarks,
        score=row.score, chip=bytes(row.chip), chip_landmarks=row.chip_landmarks,
        model=row.model, vector=row.vector, person_id=row.person_id,
        similarity=row.similarity, cluster=row.cluster, named_by=row.named_by,
        candidate_id=row.candidate_id, path=row.path, sha256=row.sha256, width=row.width,
        height=row.height, xmp=bool(getattr(row, "xmp", False)))


FACE_WITH_PHOTO = (F.id, F.photo_id, F.box, F.landmarks, F.score, F.chip, F.chip_landmarks,
                   F.model, F.vector, F.person_id, F.similarity, F.cluster, F.named_by,
                   F.candidate_id, P.path, P.sha256, P.width, P.height)


class AlbumsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- what a re-run compares a file with ---------------------------------------------------

    def state(self, path: Path) -> PhotoState | None:
        """What the store knows of a tagged photo's file (size, mtime, sha256, model, tags)."""
        with self.db.reading() as conn:
            row = conn.execute(select(P.size, P.mtime, P.sha256, P.model, P.tags)
                               .where(P.path == str(path))).first()
        return None if row is None else PhotoState(*row)

    def touch(self, path: Path, mtime: float) -> None:
        """A tagged photo whose file was touched but not changed."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_photos).where(P.path == str(path)).values(mtime=mtime))

    def rewritten(self, path: Path, size: int, mtime: float, sha256: str) -> None:
        """facepair wrote into a tagged photo's own XMP: its file is as tagged, not changed."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_photos).where(P.path == str(path))
                         .values(size=size, mtime=mtime, sha256=sha256))

    # -- recording ----------------------------------------------------------------------------

    def record(self, path: str, size: int, mtime: float, sha256: str, width: int, height: int,
               model: str, job_id: int, tags: str, faces: list[NewAlbumFace]) -> int:
        """A tagged photo (replacing what was known of its path) and its faces."""
        with self.db.transaction() as conn:
            conn.execute(t.album_photos.delete().where(P.path == path))
            photo_id = inserted_id(conn.execute(t.album_photos.insert().values(
                path=path, size=size, mtime=mtime, sha256=sha256, width=width, height=height,
                model=model, job_id=job_id, tagged=now(), tags=tags)))
            if faces:
                conn.execute(t.album_faces.insert(), [
                    {"photo_id": photo_id, "box": f.box, "landmarks": f.landmarks,
                     "score": f.score, "person_id": f.person_id, "similarity": f.similarity,
                     "chip": f.chip, "chip_landmarks": f.chip_landmarks, "model": f.model,
                     "vector": f.vector, "named_by": f.named_by,
                     "candidate_id": f.candidate_id} for f in faces])
        return photo_id

    # -- sidecars -----------------------------------------------------------------------------

    def regions(self, path: Path) -> tuple[int, int, list[tuple[int, str, list[float]]]] | None:
        """A tagged photo's size and the faces facepair named in it (person id, name, box),
        or None. Faces a user's own tag names are not facepair's to write."""
        with self.db.reading() as conn:
            photo = conn.execute(select(P.id, P.width, P.height)
                                 .where(P.path == str(path))).first()
            if photo is None:
                return None
            rows = conn.execute(
                select(t.people.c.id, t.people.c.name, F.box)
                .join(t.people, t.people.c.id == F.person_id)
                .where(F.photo_id == photo.id, F.named_by.is_(None)).order_by(F.id))
            return photo.width, photo.height, [(r[0], r[1], r[2]) for r in rows]

    def paths_of(self, person_id: int) -> list[Path]:
        """The tagged photos in which a person was named."""
        with self.db.reading() as conn:
            return [Path(r[0]) for r in conn.execute(
                select(P.path).join(t.album_faces, F.photo_id == P.id)
                .where(F.person_id == person_id).distinct().order_by(P.path))]

    # -- faces --------------------------------------------------------------------------------

    def face(self, face_id: int) -> AlbumFace:
        """One album face with its photo: for naming, excluding, thumbnails."""
        with self.db.reading() as conn:
            row = conn.execute(select(*FACE_WITH_PHOTO)
                               .join(t.album_photos, P.id == F.photo_id)
                               .where(F.id == face_id)).first()
        if row is None:
            raise NotFound(f"no album face with id {face_id}")
        return album_face(row)

    def named_by_user(self, root: Path) -> list[AlbumFace]:
        """The album faces under `root` that a user's tag names, with their photo: the faces
        a tag import may enroll."""
        with self.db.reading() as conn:
            return [album_face(r) for r in conn.execute(
                select(*FACE_WITH_PHOTO).join(t.album_photos, P.id == F.photo_id)
                .where(F.named_by == "user", under(root))
                .order_by(F.person_id, P.path, F.id))]

    def chips(self, face_ids: list[int]) -> dict[int, bytes]:
        """The chips of these album faces."""
        with self.db.reading() as conn:
            return {int(r[0]): bytes(r[1]) for r in conn.execute(
                select(F.id, F.chip).where(F.id.in_(face_ids)))}

    def faces_named(self, person_id: int, limit: int = 500) -> list[AlbumFaceSummary]:
        """The album faces named as a person, newest first."""
        with self.db.reading() as conn:
            rows = conn.execute(
                select(F.id, F.photo_id, F.box, F.person_id, F.named_by, F.similarity, P.path,
                       P.tagged).join(t.album_photos, P.id == F.photo_id)
                .where(F.person_id == person_id)
                .order_by(P.tagged.desc(), F.id.desc()).limit(limit))
            return [AlbumFaceSummary(r.id, r.photo_id, r.box, r.person_id, None, r.named_by,
                                     r.similarity, r.path, r.tagged) for r in rows]

    # -- photos -------------------------------------------------------------------------------

    def photo(self, photo_id: int) -> AlbumPhoto:
        with self.db.reading() as conn:
            row = conn.execute(select(P.id, P.path, P.width, P.height, P.sha256, P.tagged)
                               .where(P.id == photo_id)).first()
        if row is None:
            raise NotFound(f"no album photo with id {photo_id}")
        return AlbumPhoto(*row)

    def photos_under(self, root: Path, limit: int, offset: int
                     ) -> tuple[int, list[AlbumPhoto], list[AlbumFaceSummary]]:
        """The tagged photos under `root` (how many, a page of them by path) and their
        faces with names."""
        with self.db.reading() as conn:
            count = conn.execute(select(func.count()).select_from(t.album_photos)
                                 .where(under(root))).scalar_one()
            photos = [AlbumPhoto(*r) for r in conn.execute(
                select(P.id, P.path, P.width, P.height, P.sha256, P.tagged)
                .where(under(root)).order_by(P.path)
                .limit(limit).offset(offset))]
            faces = [AlbumFaceSummary(r.id, r.photo_id, r.box, r.person_id, r.name, r.named_by)
                     for r in conn.execute(
                         select(F.id, F.photo_id, F.box, F.person_id, t.people.c.name,
                                F.named_by)
                         .outerjoin(t.people, t.people.c.id == F.person_id)
                         .where(F.photo_id.in_([p.id for p in photos])).order_by(F.id))
                     ] if photos else []
        return int(count), photos, faces

    def report(self) -> list[ReportFace]:
        """Every album face for the report: chip, similarity, group, path, name."""
        with self.db.reading() as conn:
            return [ReportFace(bytes(r[0]), r[1], r[2], r[3], r[4]) for r in conn.execute(
                select(F.chip, F.similarity, F.cluster, P.path, t.people.c.name)
                .join(t.album_photos, P.id == F.photo_id)
                .outerjoin(t.people, t.people.c.id == F.person_id)
                .order_by(func.lower(t.people.c.name), F.cluster, P.path))]

    def counts(self) -> dict[str, int]:
        with self.db.reading() as conn:
            return {"album_photos": int(conn.execute(select(func.count())
                                                     .select_from(t.album_photos)).scalar_one()),
                    "album_faces": int(conn.execute(select(func.count())
                                                    .select_from(t.album_faces)).scalar_one())}
