"""Enrolled faces and the photos they came from (content hash, source name), with a chip of
each face so that any later model can embed it again."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import ColumnElement, Row, delete, select, update

from faces.errors import NotFound
from index.store import schema as t
from index.store.database import Database, upsert
from index.store.records import Chip, NewFace, StoredFace
from index.store.shared import drop_orphan_photos, forget_nearest, now


def _face(row: Row) -> StoredFace:
    return StoredFace(row.id, row.photo_id, row.person_id, row.box, row.landmarks, row.score,
                      row.sharpness, row.source, row.added)


class FacesRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- photos -------------------------------------------------------------------------------

    def photo_id(self, sha256: str) -> int | None:
        with self.db.reading() as conn:
            found = conn.execute(select(t.photos.c.id).where(t.photos.c.sha256 == sha256))
            return found.scalar()

    def add_photo(self, sha256: str, source: str, width: int, height: int) -> int:
        """The id of the photo with this content, recorded where it is new."""
        with self.db.transaction() as conn:
            conn.execute(upsert(conn, t.photos).values(
                sha256=sha256, source=source, width=width, height=height, added=now())
                .on_conflict_do_nothing(index_elements=["sha256"]))
            return int(conn.execute(select(t.photos.c.id)
                                    .where(t.photos.c.sha256 == sha256)).scalar_one())

    def shas(self) -> dict[int, str]:
        """The content hash of each enrolled face's photo."""
        with self.db.reading() as conn:
            return {int(r[0]): r[1] for r in conn.execute(
                select(t.faces.c.id, t.photos.c.sha256)
                .join(t.photos, t.photos.c.id == t.faces.c.photo_id))}

    # -- faces --------------------------------------------------------------------------------

    def add(self, face: NewFace) -> int:
        return self.add_all([face])[0]

    def add_all(self, faces: list[NewFace]) -> list[int]:
        """Enroll these faces; their ids, in order."""
        if not faces:
            return []
        added = now()
        with self.db.transaction() as conn:
            return self.db.new_ids(conn, t.faces, [{**vars(f), "added": added}
                                                   for f in faces])  # (shallow: no copies)

    def _select(self, *where: ColumnElement[bool], newest_first: bool = False
                ) -> list[StoredFace]:
        f = t.faces.c
        query = (select(f.id, f.photo_id, f.person_id, f.box, f.landmarks, f.score, f.sharpness,
                        f.added, t.photos.c.source)
                 .join(t.photos, t.photos.c.id == f.photo_id).where(*where))
        query = query.order_by(*((f.added.desc(), f.id.desc()) if newest_first else (f.id,)))
        with self.db.reading() as conn:
            return [_face(r) for r in conn.execute(query)]

    def get(self, face_id: int) -> StoredFace:
        found = self._select(t.faces.c.id == face_id)
        if not found:
            raise NotFound(f"no face with id {face_id}")
        return found[0]

    def in_photo(self, photo_id: int, for_update: bool = False) -> list[StoredFace]:
        """The faces enrolled from a photo; `for_update`: the photo's row is held until the
        caller's write ends, so that no other writer adds a face to it meanwhile."""
        if for_update:
            with self.db.transaction() as conn:
                conn.execute(select(t.photos.c.id).where(t.photos.c.id == photo_id)
                             .with_for_update())
        return self._select(t.faces.c.photo_id == photo_id)

    def of_person(self, person_id: int, newest_first: bool = False) -> list[StoredFace]:
        return self._select(t.faces.c.person_id == person_id, newest_first=newest_first)

    def ids(self) -> list[int]:
        with self.db.reading() as conn:
            return [int(r[0]) for r in conn.execute(select(t.faces.c.id).order_by(t.faces.c.id))]

    def people(self) -> dict[int, int]:
        """Every enrolled face's person."""
        with self.db.reading() as conn:
            return {int(r[0]): int(r[1]) for r in
                    conn.execute(select(t.faces.c.id, t.faces.c.person_id))}

    def delete(self, face_id: int) -> None:
        with self.db.transaction() as conn:
            photo = conn.execute(select(t.faces.c.photo_id)
                                 .where(t.faces.c.id == face_id)).scalar()
            if photo is None:
                raise NotFound(f"no face with id {face_id}")
            self.db.changed("face", [face_id])
            forget_nearest(conn, [face_id])
            conn.execute(delete(t.faces).where(t.faces.c.id == face_id))
            drop_orphan_photos(conn, [photo])
        self.db.compact()

    def move(self, face_id: int, person_id: int) -> None:
        """An enrolled face becomes another person's, its chip, landmarks and vectors kept."""
        with self.db.transaction() as conn:
            before = conn.execute(select(t.faces.c.person_id)
                                  .where(t.faces.c.id == face_id)).scalar()
            if before is None:
                raise NotFound(f"no face with id {face_id}")
            self.db.changed("face", [face_id])  # (its owner, before and after, follows)
            forget_nearest(conn, [face_id])
            conn.execute(update(t.faces).where(t.faces.c.id == face_id)
                         .values(person_id=person_id))

    def delete_in_photo(self, person_id: int, photo_id: int) -> list[int]:
        """Remove a person's faces in one photo; returns their ids."""
        theirs = (t.faces.c.person_id == person_id) & (t.faces.c.photo_id == photo_id)
        with self.db.transaction() as conn:
            if conn.execute(select(t.people.c.id)
                            .where(t.people.c.id == person_id)).scalar() is None:
                raise NotFound(f"no person with id {person_id}")
            face_ids = [int(r[0]) for r in conn.execute(select(t.faces.c.id).where(theirs))]
            if not face_ids:
                raise NotFound(f"person {person_id} has no face in photo {photo_id}")
            self.db.changed("face", face_ids)
            forget_nearest(conn, face_ids)
            conn.execute(delete(t.faces).where(theirs))
            drop_orphan_photos(conn, [photo_id])
        self.db.compact()
        return face_ids

    # -- chips --------------------------------------------------------------------------------

    def chips(self, face_ids: list[int] | None = None, batch: int = 256) -> Iterator[Chip]:
        """The chips of these faces, or of all, by id (read `batch` at a time)."""
        f = t.faces.c
        wanted = sorted(face_ids) if face_ids is not None else self.ids()
        for start in range(0, len(wanted), batch):
            with self.db.reading() as conn:
                rows = conn.execute(select(f.id, f.chip, f.chip_landmarks)
                                    .where(f.id.in_(wanted[start:start + batch]))
                                    .order_by(f.id)).all()
            for r in rows:
                yield Chip(int(r.id), bytes(r.chip), r.chip_landmarks)

    def chip(self, face_id: int) -> bytes:
        with self.db.reading() as conn:
            found = conn.execute(select(t.faces.c.chip).where(t.faces.c.id == face_id)).scalar()
        if found is None:
            raise NotFound(f"no face with id {face_id}")
        return bytes(found)
