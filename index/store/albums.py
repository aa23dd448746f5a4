"""Tagged photos of albums and the faces found in them: what an album job records, what a
re-run compares a file with, what sidecars are written from, and what lists show."""

from __future__ import annotations

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    false,
    func,
    or_,
    select,
    update,
)

from faces.boxes import SAME_REGION_IOU, iou
from faces.errors import NotFound
from index.store import schema as t
from index.store.database import Database
from index.store.records import (
    BY_USER,
    AlbumFace,
    AlbumFaceSummary,
    AlbumFaceTable,
    AlbumPhoto,
    NewAlbumFace,
    PhotoRef,
    PhotoState,
    ReportFace,
    shown,
)
from index.store.shared import inserted_id, now

F, P, R = t.album_faces.c, t.album_photos.c, t.roots.c
DRAWN = t.DRAWN_SCORE  # the score of a face a user drew by hand (a detector's is in [0, 1])
# the names facepair writes into a photo's XMP besides its gallery's: the album's context's and
# the user's answers in facepair (a user's own tag is the tool's that wrote it)
WRITTEN = ("context", "answer")
# a part of a folder tree: a root and a folder inside it ("": the whole root)
Part = tuple[int, str]


def at(ref: PhotoRef) -> ColumnElement[bool]:
    """The album photo at a root and path."""
    return and_(P.root_id == ref.root_id, P.path == ref.path)


def within(parts: list[Part]) -> ColumnElement[bool]:
    """Album photos inside these parts of roots (none: no photo)."""
    found: list[ColumnElement[bool]] = []
    for root_id, folder in parts:
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        found.append(and_(P.root_id == root_id, func.substr(P.path, 1, len(prefix)) == prefix)
                     if prefix else P.root_id == root_id)
    return or_(*found) if found else false()


def with_photo(query: Select) -> Select:
    """A query of album faces joined to their photo and its root."""
    return (query.join(t.album_photos, P.id == F.photo_id)
            .join(t.roots, R.id == P.root_id))


def album_face(row: Row) -> AlbumFace:
    return AlbumFace(
        id=row.id, photo_id=row.photo_id, box=row.box, landmarks=row.landmarks,
        score=row.score, chip=bytes(row.chip), chip_landmarks=row.chip_landmarks,
        model=row.model, vector=row.vector, person_id=row.person_id,
        similarity=row.similarity, cluster=row.cluster, named_by=row.named_by,
        candidate_id=row.candidate_id, root_id=row.root_id, root=row.root, path=row.path,
        sha256=row.sha256, width=row.width, height=row.height,
        xmp=bool(getattr(row, "xmp", False)), quality=row.quality)


FACE_WITH_PHOTO = (F.id, F.photo_id, F.box, F.landmarks, F.score, F.chip, F.chip_landmarks,
                   F.model, F.vector, F.person_id, F.similarity, F.cluster, F.named_by,
                   F.candidate_id, P.root_id, R.name.label("root"), P.path, P.sha256, P.width,
                   P.height, F.quality)
PHOTO = (P.id, P.root_id, R.name.label("root"), P.path, P.width, P.height, P.sha256, P.tagged,
         P.duration)
T = t.album_face_times.c


def _still_there(conn: Connection, person_ids: set[int | None]) -> set[int]:
    """Which of these people are still there, held until the write ends (PostgreSQL: FOR KEY
    SHARE, so a delete waits for it; SQLite's one writer holds everything already): a face
    named after someone deleted while its photo was analysed is recorded as unknown."""
    wanted = sorted(p for p in person_ids if p is not None)
    if not wanted:
        return set()
    return {int(r[0]) for r in conn.execute(
        select(t.people.c.id).where(t.people.c.id.in_(wanted))
        .with_for_update(read=True, key_share=True))}


def _faces_of(conn: Connection, photos: list[AlbumPhoto]) -> list[AlbumFaceSummary]:
    """The faces of these photos, with the names of the people named."""
    if not photos:
        return []
    rows = conn.execute(
        select(F.id, F.photo_id, F.box, F.person_id, t.people.c.name, F.named_by, F.score)
        .outerjoin(t.people, t.people.c.id == F.person_id)
        .where(F.photo_id.in_([p.id for p in photos])).order_by(F.id)).all()
    videos = [p.id for p in photos if p.duration is not None]
    times: dict[int, list[tuple[float, float]]] = {}
    if videos:
        for face_id, start, stop in conn.execute(
                select(T.face_id, T.start, T.stop).join(t.album_faces, F.id == T.face_id)
                .where(F.photo_id.in_(videos)).order_by(T.face_id, T.start)):
            times.setdefault(int(face_id), []).append((float(start), float(stop)))
    return [AlbumFaceSummary(r.id, r.photo_id, r.box, r.person_id, r.name, r.named_by,
                             drawn=r.score == DRAWN, times=times.get(r.id)
                             if r.photo_id in videos else None)
            for r in rows]


def _record_tracks(conn: Connection, rows: list[dict], faces: list[NewAlbumFace]) -> None:
    """A video's faces (its tracks), one by one, and the spans each is seen over."""
    for row, face in zip(rows, faces, strict=True):
        face_id = inserted_id(conn.execute(t.album_faces.insert().values(**row)))
        if face.ranges:
            conn.execute(t.album_face_times.insert(), [
                {"face_id": face_id, "start": a, "stop": b} for a, b in face.ranges])


class AlbumsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- what a re-run compares a file with ---------------------------------------------------

    def state(self, ref: PhotoRef) -> PhotoState | None:
        """What the store knows of a tagged photo's file (size, mtime, sha256, model, tags)."""
        with self.db.reading() as conn:
            row = conn.execute(select(P.size, P.mtime, P.sha256, P.model, P.tags)
                               .where(at(ref))).first()
        return None if row is None else PhotoState(*row)

    def touch(self, ref: PhotoRef, mtime: float) -> None:
        """A tagged photo whose file was touched but not changed."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_photos).where(at(ref)).values(mtime=mtime))

    def rewritten(self, ref: PhotoRef, size: int, mtime: float, sha256: str) -> None:
        """facepair wrote into a tagged photo's own XMP: its file is as tagged, not changed."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_photos).where(at(ref))
                         .values(size=size, mtime=mtime, sha256=sha256))

    def sidecar_written(self, ref: PhotoRef, tags: str) -> None:
        """facepair wrote a tagged photo's sidecar: `tags`, the sidecars' fingerprint now, is
        as tagged (the next run does not read the photo again for it)."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_photos).where(at(ref)).values(tags=tags))

    # -- recording ----------------------------------------------------------------------------

    def record(self, ref: PhotoRef, size: int, mtime: float, sha256: str, width: int,
               height: int, model: str, job_id: int, tags: str,
               faces: list[NewAlbumFace], duration: float | None = None) -> list[int]:
        """A tagged photo (replacing what was known of it) and its faces; which of `faces`
        were recorded (their indices). The faces a user drew by hand in it are kept, as they
        were, ids and all, and a face found where one was drawn is that face: not recorded
        again. A video (`duration`, its length in seconds) has a face for each of its tracks,
        with the spans it is seen over."""
        with self.db.transaction() as conn:
            drawn = [dict(r._mapping) for r in conn.execute(
                select(t.album_faces).join(t.album_photos, P.id == F.photo_id)
                .where(at(ref), F.score == DRAWN).order_by(F.id))]
            kept = [i for i, f in enumerate(faces)
                    if not any(iou(f.box, d["box"]) > SAME_REGION_IOU for d in drawn)]
            faces = [faces[i] for i in kept]
            conn.execute(t.album_photos.delete().where(at(ref)))
            photo_id = inserted_id(conn.execute(t.album_photos.insert().values(
                root_id=ref.root_id, path=ref.path, size=size, mtime=mtime, sha256=sha256,
                width=width, height=height, model=model, job_id=job_id, tagged=now(),
                tags=tags, duration=duration)))
            if faces:
                there = _still_there(conn, {p for f in faces
                                            for p in (f.person_id, f.candidate_id)})
                rows = [
                    {"photo_id": photo_id, "box": f.box, "landmarks": f.landmarks,
                     "score": f.score, "chip": f.chip, "chip_landmarks": f.chip_landmarks,
                     "model": f.model, "vector": f.vector, "quality": f.quality,
                     **({"person_id": f.person_id, "similarity": f.similarity,
                         "named_by": f.named_by} if f.person_id is None or f.person_id in there
                        else {"person_id": None, "similarity": None, "named_by": None}),
                     "candidate_id": f.candidate_id if f.candidate_id in there else None,
                     "at": f.at}
                    for f in faces]
                if duration is None:
                    conn.execute(t.album_faces.insert(), rows)
                else:
                    _record_tracks(conn, rows, faces)
            if drawn:
                conn.execute(t.album_faces.insert(), [{**f, "photo_id": photo_id} for f in drawn])
        return kept

    def add_face(self, photo_id: int, face: NewAlbumFace) -> int:
        """A face a user drew by hand into a tagged photo (its score is DRAWN); its id."""
        with self.db.transaction() as conn:
            there = _still_there(conn, {face.person_id, face.candidate_id})
            return inserted_id(conn.execute(t.album_faces.insert().values(
                photo_id=photo_id, box=face.box, landmarks=face.landmarks, score=DRAWN,
                chip=face.chip, chip_landmarks=face.chip_landmarks, model=face.model,
                vector=face.vector, quality=face.quality,
                person_id=face.person_id if face.person_id in there else None,
                similarity=face.similarity,
                named_by=face.named_by if face.person_id in there else None,
                candidate_id=face.candidate_id if face.candidate_id in there else None)))

    def boxes_in(self, photo_id: int) -> list[list[float]]:
        """The boxes of a tagged photo's faces, found or drawn."""
        with self.db.reading() as conn:
            return [r[0] for r in conn.execute(
                select(F.box).where(F.photo_id == photo_id).order_by(F.id))]

    # -- sidecars -----------------------------------------------------------------------------

    def regions(self, ref: PhotoRef
                ) -> tuple[int, int, list[tuple[int, str, list[float]]], bool] | None:
        """A tagged photo's size, the faces facepair named in it (person id, name, box) and
        whether it is a video, or None: named by its gallery, the album's context or the
        user's answer in facepair (`WRITTEN`). Faces a user's own tag names are not
        facepair's to write."""
        with self.db.reading() as conn:
            photo = conn.execute(select(P.id, P.width, P.height, P.duration)
                                 .where(at(ref))).first()
            if photo is None:
                return None
            rows = conn.execute(
                select(t.people.c.id, t.people.c.name, F.box)
                .join(t.people, t.people.c.id == F.person_id)
                .where(F.photo_id == photo.id,
                       or_(F.named_by.is_(None), F.named_by.in_(WRITTEN)))
                .order_by(F.id))
            return (photo.width, photo.height, [(r[0], r[1], r[2]) for r in rows],
                    photo.duration is not None)

    def xmp_of(self, photo_id: int) -> tuple[bool, bool]:
        """Whether the job that tagged a photo wrote its XMP, and whether into the JPEG."""
        j = t.album_jobs.c
        with self.db.reading() as conn:
            row = conn.execute(select(j.xmp, j.embed).join(t.album_photos, P.job_id == j.id)
                               .where(P.id == photo_id)).first()
        return (False, False) if row is None else (bool(row[0]), bool(row[1]))

    def paths_of(self, person_id: int) -> list[PhotoRef]:
        """The tagged photos in which a person was named."""
        with self.db.reading() as conn:
            return [PhotoRef(int(r[0]), r[1]) for r in conn.execute(
                select(P.root_id, P.path).join(t.album_faces, F.photo_id == P.id)
                .where(F.person_id == person_id).distinct().order_by(P.root_id, P.path))]

    # -- the album's own context ------------------------------------------------------------

    def face_table(self, model: str) -> AlbumFaceTable:
        """Every album face of `model` the user did not hide or skip, with its photo."""
        with self.db.reading() as conn:
            rows = conn.execute(with_photo(select(
                F.id, F.photo_id, F.person_id, F.named_by, F.candidate_id, F.similarity,
                F.vector, F.box, R.name.label("root"), P.path, P.width, P.height))
                .where(F.model == model, ~F.hidden, ~F.skipped).order_by(F.id)).all()
        nan = float("nan")
        return AlbumFaceTable(
            ids=np.array([r.id for r in rows], dtype=np.int64),
            photo_ids=np.array([r.photo_id for r in rows], dtype=np.int64),
            person_ids=np.array([-1 if r.person_id is None else r.person_id for r in rows],
                                dtype=np.int64),
            named_by=[r.named_by for r in rows],
            candidate_ids=np.array([-1 if r.candidate_id is None else r.candidate_id
                                    for r in rows], dtype=np.int64),
            similarity=np.array([nan if r.similarity is None else r.similarity for r in rows],
                                dtype=np.float64),
            vectors=(np.stack([np.asarray(r.vector, np.float32) for r in rows]) if rows
                     else np.empty((0, 0), np.float32)),
            boxes=np.array([r.box for r in rows], dtype=np.float64).reshape(-1, 4),
            photos={r.photo_id: (shown(r.root, r.path), r.width, r.height) for r in rows})

    def named_as(self, person_ids: list[int], model: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The album faces of `model` the gallery or the user named as these people: ids,
        photos, people and vectors."""
        with self.db.reading() as conn:
            rows = conn.execute(select(F.id, F.photo_id, F.person_id, F.vector).where(
                F.model == model, F.person_id.in_(person_ids), ~F.hidden,
                or_(F.named_by.is_(None), F.named_by.in_(BY_USER)))
                .order_by(F.id)).all()
        return (np.array([r.id for r in rows], dtype=np.int64),
                np.array([r.photo_id for r in rows], dtype=np.int64),
                np.array([r.person_id for r in rows], dtype=np.int64),
                np.stack([np.asarray(r.vector, np.float32) for r in rows]) if rows
                else np.empty((0, 0), np.float32))

    def name_by_context(self, named: list[tuple[int, int]], cleared: list[int]) -> list[PhotoRef]:
        """Faces the album's context names (face id, person id) and faces it named before
        and no longer does (unknown again, their best person kept as the suggestion), in one
        write; the photos whose names changed. A face the user named in the meantime is left
        as they named it."""
        touched = [f for f, _ in named] + cleared
        if not touched:
            return []
        with self.db.transaction() as conn:
            if cleared:
                conn.execute(update(t.album_faces).where(
                    F.id.in_(cleared), F.named_by == "context")
                    .values(person_id=None, named_by=None))
            there = _still_there(conn, {p for _, p in named})
            for face_id, person_id in named:
                if person_id in there:
                    conn.execute(update(t.album_faces).where(
                        F.id == face_id, F.person_id.is_(None), F.named_by.is_(None))
                        .values(person_id=person_id, named_by="context",
                                candidate_id=person_id))
            return [PhotoRef(int(r[0]), r[1]) for r in conn.execute(
                select(P.root_id, P.path).join(t.album_faces, F.photo_id == P.id)
                .where(F.id.in_(touched)).distinct())]

    # -- faces --------------------------------------------------------------------------------

    def face(self, face_id: int) -> AlbumFace:
        """One album face with its photo: for naming, excluding, thumbnails."""
        with self.db.reading() as conn:
            row = conn.execute(with_photo(select(*FACE_WITH_PHOTO)).where(F.id == face_id)
                               ).first()
        if row is None:
            raise NotFound(f"no album face with id {face_id}")
        return album_face(row)

    def named_by_user(self, parts: list[Part]) -> list[AlbumFace]:
        """The album faces inside these parts of roots that a user's tag names, with their
        photo: the faces a tag import may enroll."""
        with self.db.reading() as conn:
            return [album_face(r) for r in conn.execute(
                with_photo(select(*FACE_WITH_PHOTO))
                .where(F.named_by == "user", within(parts))
                .order_by(F.person_id, R.name, P.path, F.id))]

    def chips(self, face_ids: list[int]) -> dict[int, bytes]:
        """The chips of these album faces."""
        with self.db.reading() as conn:
            return {int(r[0]): bytes(r[1]) for r in conn.execute(
                select(F.id, F.chip).where(F.id.in_(face_ids)))}

    def faces_named(self, person_id: int, limit: int = 100, offset: int = 0
                    ) -> list[AlbumFaceSummary]:
        """The album faces named as a person, newest first, a page at a time."""
        with self.db.reading() as conn:
            rows = conn.execute(with_photo(
                select(F.id, F.photo_id, F.box, F.person_id, F.named_by, F.similarity,
                       R.name.label("root"), P.path, P.tagged))
                .where(F.person_id == person_id)
                .order_by(P.tagged.desc(), F.id.desc()).limit(limit).offset(offset))
            return [AlbumFaceSummary(r.id, r.photo_id, r.box, r.person_id, None, r.named_by,
                                     r.similarity, shown(r.root, r.path), r.tagged)
                    for r in rows]

    def count_named(self, person_id: int) -> int:
        """How many album faces are named as a person."""
        with self.db.reading() as conn:
            return int(conn.execute(select(func.count()).select_from(t.album_faces)
                                    .where(F.person_id == person_id)).scalar_one())

    # -- photos -------------------------------------------------------------------------------

    def photo(self, photo_id: int) -> AlbumPhoto:
        with self.db.reading() as conn:
            row = conn.execute(select(*PHOTO).join(t.roots, R.id == P.root_id)
                               .where(P.id == photo_id)).first()
        if row is None:
            raise NotFound(f"no album photo with id {photo_id}")
        return AlbumPhoto(*row)

    def frame_time(self, photo_id: int) -> float:
        """The time of a video's frame that shows it: its first face's (that track's best),
        or 0 (its first frame) where it has none."""
        with self.db.reading() as conn:
            found = conn.execute(select(F.at).where(F.photo_id == photo_id, F.at.is_not(None))
                                 .order_by(F.id).limit(1)).scalar()
        return 0.0 if found is None else float(found)

    def with_faces(self, photo_id: int) -> tuple[AlbumPhoto, list[AlbumFaceSummary]]:
        """A tagged photo and its faces with names (a video's with their spans)."""
        photo = self.photo(photo_id)
        with self.db.reading() as conn:
            return photo, _faces_of(conn, [photo])

    def photo_at(self, ref: PhotoRef) -> AlbumPhoto:
        """The tagged photo at a root and path."""
        with self.db.reading() as conn:
            row = conn.execute(select(*PHOTO).join(t.roots, R.id == P.root_id)
                               .where(at(ref))).first()
        if row is None:
            raise NotFound(f"{ref.path}: not a tagged photo (facepair tag its folder first)")
        return AlbumPhoto(*row)

    def photos_under(self, parts: list[Part], limit: int, offset: int
                     ) -> tuple[int, list[AlbumPhoto], list[AlbumFaceSummary]]:
        """The tagged photos inside these parts of roots (how many, a page of them by root
        and path) and their faces with names."""
        with self.db.reading() as conn:
            count = conn.execute(select(func.count()).select_from(t.album_photos)
                                 .where(within(parts))).scalar_one()
            photos = [AlbumPhoto(*r) for r in conn.execute(
                select(*PHOTO).join(t.roots, R.id == P.root_id).where(within(parts))
                .order_by(R.name, P.path).limit(limit).offset(offset))]
            return int(count), photos, _faces_of(conn, photos)

    def photos_with(self, person_ids: list[int], limit: int, offset: int
                    ) -> tuple[int, list[AlbumPhoto], list[AlbumFaceSummary]]:
        """The tagged photos in which every one of these people is named (how many, a page of
        them newest first: by the file's time, then the latest recorded) and their faces."""
        wanted = sorted(set(person_ids))
        if not wanted:
            return 0, [], []
        together = (select(F.photo_id).where(F.person_id.in_(wanted)).group_by(F.photo_id)
                    .having(func.count(F.person_id.distinct()) == len(wanted)))
        with self.db.reading() as conn:
            count = conn.execute(select(func.count()).select_from(together.subquery())
                                 ).scalar_one()
            photos = [AlbumPhoto(*r) for r in conn.execute(
                select(*PHOTO).join(t.roots, R.id == P.root_id).where(P.id.in_(together))
                .order_by(P.mtime.desc(), P.id.desc()).limit(limit).offset(offset))]
            return int(count), photos, _faces_of(conn, photos)

    def report(self) -> list[ReportFace]:
        """Every album face for the report: chip, similarity, group, `root:path`, name."""
        with self.db.reading() as conn:
            return [ReportFace(bytes(r[0]), r[1], r[2], shown(r[3], r[4]), r[5])
                    for r in conn.execute(with_photo(
                        select(F.chip, F.similarity, F.cluster, R.name, P.path,
                               t.people.c.name))
                        .outerjoin(t.people, t.people.c.id == F.person_id)
                        .order_by(func.lower(t.people.c.name), F.cluster, R.name, P.path))]

    def counts(self) -> dict[str, int]:
        with self.db.reading() as conn:
            return {"album_photos": int(conn.execute(select(func.count())
                                                     .select_from(t.album_photos)).scalar_one()),
                    "album_faces": int(conn.execute(select(func.count())
                                                    .select_from(t.album_faces)).scalar_one())}
