"""People: names, notes, and what merging or deleting one does to their faces."""

from __future__ import annotations

import unicodedata

from sqlalchemy import Row, Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from faces.errors import NotFound
from index.errors import Conflict
from index.store import schema as t
from index.store.database import Database, upsert
from index.store.records import Person
from index.store.shared import drop_orphan_photos, forget_nearest, in_chunks, inserted_id, now


def _people() -> Select:
    faces = t.faces
    count = (select(func.count()).select_from(faces).where(faces.c.person_id == t.people.c.id)
             .scalar_subquery())
    sharpest = (select(faces.c.id).where(faces.c.person_id == t.people.c.id)
                .order_by(faces.c.sharpness.desc(), faces.c.id).limit(1).scalar_subquery())
    p = t.people.c
    return select(p.id, p.name, p.note, p.created, count.label("faces"),
                  sharpest.label("face_id"))


def _person(row: Row) -> Person:
    return Person(row.id, row.name, row.note, row.created, int(row.faces), row.face_id)


class PeopleRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[Person]:
        with self.db.reading() as conn:
            rows = conn.execute(_people().order_by(func.lower(t.people.c.name), t.people.c.id))
            return [_person(r) for r in rows]

    def get(self, person_id: int) -> Person:
        with self.db.reading() as conn:
            row = conn.execute(_people().where(t.people.c.id == person_id)).first()
        if row is None:
            raise NotFound(f"no person with id {person_id}")
        return _person(row)

    def some(self, person_ids: list[int]) -> list[Person]:
        """These people, those of them still there."""
        found: list[Person] = []
        with self.db.reading() as conn:
            for chunk in in_chunks(person_ids):
                found += [_person(r) for r in
                          conn.execute(_people().where(t.people.c.id.in_(chunk)))]
        return found

    def by_name(self, name: str) -> Person | None:
        """A person by exact name (NFC, trimmed, as names are stored)."""
        name = unicodedata.normalize("NFC", name).strip()
        with self.db.reading() as conn:
            row = conn.execute(_people().where(t.people.c.name == name)).first()
        return None if row is None else _person(row)

    def add(self, name: str, note: str = "") -> int:
        """A new person (`name` as `index.names.checked_name` gives it)."""
        try:
            with self.db.transaction() as conn:
                person_id = inserted_id(conn.execute(t.people.insert().values(
                    name=name, note=note, created=now())))
                self.db.changed("person", person_id=person_id)
                return person_id
        except IntegrityError as exc:
            raise Conflict(f"a person named {name!r} already exists") from exc

    def add_all(self, names: list[str]) -> list[int]:
        """New people, in one write (a whole import): their ids, in order."""
        if not names:
            return []
        with self.db.transaction() as conn:
            try:
                ids = self.db.new_ids(conn, t.people, [{"name": name, "note": "",
                                                        "created": now()} for name in names])
            except IntegrityError as exc:
                raise Conflict("some of these names are taken already") from exc
            for person_id in ids:
                self.db.changed("person", person_id=person_id)
            return ids

    def get_or_add(self, name: str, note: str = "") -> int:
        """The id of the person of this name, made (with `note`) where there is none yet:
        two writers asking at once get the same person."""
        with self.db.transaction() as conn:
            added = conn.execute(upsert(conn, t.people)
                                 .values(name=name, note=note, created=now())
                                 .on_conflict_do_nothing(index_elements=["name"])).rowcount
            person_id = int(conn.execute(select(t.people.c.id)
                                         .where(t.people.c.name == name)).scalar_one())
            if added:
                self.db.changed("person", person_id=person_id)
            return person_id

    def update(self, person_id: int, name: str | None = None, note: str | None = None
               ) -> Person:
        values = {k: v for k, v in (("name", name), ("note", note)) if v is not None}
        try:
            with self.db.transaction() as conn:
                self.get(person_id)
                self.db.changed("person", person_id=person_id)
                if values:
                    conn.execute(update(t.people).where(t.people.c.id == person_id)
                                 .values(**values))
        except IntegrityError as exc:
            raise Conflict(f"a person named {name!r} already exists (merge them "
                           f"instead?)") from exc
        return self.get(person_id)

    def merge(self, keep: int, other: int) -> Person:
        """Move `other`'s faces, enrolled and found in albums, to `keep` and delete `other`."""
        if keep == other:
            raise Conflict("cannot merge a person with themselves")
        with self.db.transaction() as conn:
            self.get(keep)
            self.get(other)
            moved = select(t.faces.c.id).where(t.faces.c.person_id == other)
            self.db.changed("face", [int(r[0]) for r in conn.execute(moved)])
            self.db.changed("person", person_id=keep)
            self.db.changed("person", person_id=other)
            forget_nearest(conn, moved)
            conn.execute(update(t.faces).where(t.faces.c.person_id == other)
                         .values(person_id=keep))
            conn.execute(update(t.album_faces).where(t.album_faces.c.person_id == other)
                         .values(person_id=keep))
            conn.execute(delete(t.people).where(t.people.c.id == other))
        return self.get(keep)

    def delete(self, person_id: int) -> list[int]:
        """Hard delete: the person, their faces, chips, embeddings, and photos left with no
        face. Returns the deleted face ids (for the index)."""
        with self.db.transaction() as conn:
            self.get(person_id)
            theirs = t.faces.c.person_id == person_id
            face_ids = [int(r[0]) for r in conn.execute(select(t.faces.c.id).where(theirs))]
            self.db.changed("face", face_ids)
            self.db.changed("person", person_id=person_id)
            photo_ids = [int(r[0]) for r in conn.execute(
                select(t.faces.c.photo_id).where(theirs).distinct())]
            forget_nearest(conn, select(t.faces.c.id).where(theirs))
            conn.execute(delete(t.people).where(t.people.c.id == person_id))  # cascades
            drop_orphan_photos(conn, photo_ids)
        self.db.compact()
        return face_ids
