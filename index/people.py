"""People management: find, create, rename, merge and delete people, remove their enrolled
photos and faces, and move a face to someone else. A change of a name, or a deletion, reaches
the XMP that facepair wrote in the user's photos (`index.sidecars`)."""

from __future__ import annotations

from faces.errors import NotFound
from index.matching import Matching
from index.names import checked_name
from index.results import DeletedPersonOut, RemovedFaceOut, RemovedPhotoOut
from index.roots import Roots
from index.sidecars import sync_sidecars
from index.store import Person, Store


class PeopleManagement:
    """The people of one gallery. Thread-safe."""

    def __init__(self, store: Store, matching: Matching, roots: Roots) -> None:
        self.store, self.matching, self.roots = store, matching, roots

    def all(self) -> list[Person]:
        return self.store.people.all()

    def find(self, key: str | int) -> Person:
        """A person by id, or by exact name."""
        if isinstance(key, int) or str(key).isdigit():
            return self.store.people.get(int(key))
        found = self.store.people.by_name(str(key))
        if found is None:
            raise NotFound(f"no person named {key!r}")
        return found

    def id_for(self, name: str) -> int:
        """The id of the person of this name, made where there is none yet (a name in a
        user's face tag); raises `Refused` for a name facepair cannot store."""
        name = checked_name(name)
        found = self.store.people.by_name(name)
        if found is not None:
            return found.id
        with self.matching.lock:
            person_id = self.store.people.get_or_add(name)
            self.matching.sync()
        return person_id

    def create(self, name: str, note: str = "") -> Person:
        with self.matching.lock:
            pid = self.store.people.add(checked_name(name), note)
            self.matching.sync()
        return self.store.people.get(pid)

    def update(self, person_id: int, name: str | None = None,
               note: str | None = None) -> Person:
        """Rename (or annotate) someone; the sidecars that name them follow."""
        with self.matching.lock:
            before = self.store.people.get(person_id).name
            person = self.store.people.update(
                person_id, None if name is None else checked_name(name), note)
            self.matching.sync()
        if person.name != before:
            sync_sidecars(self.store, self.roots, self.store.albums.paths_of(person_id))
        return person

    def merge(self, keep: int, other: int) -> Person:
        """`other`'s faces become `keep`'s; the sidecars that named `other` follow."""
        tagged = self.store.albums.paths_of(other)
        with self.matching.lock:
            person = self.store.people.merge(keep, other)
            self.matching.sync()
        sync_sidecars(self.store, self.roots, tagged)
        return person

    def delete(self, person_id: int) -> DeletedPersonOut:
        """Hard delete: rows, chips, embeddings and index entries; the index file is rewritten
        at once, and facepair's regions of the person leave the sidecars it wrote, so nothing
        of the person is left in any file facepair writes."""
        self.store.people.get(person_id)
        tagged = self.store.albums.paths_of(person_id)
        with self.matching.lock:
            face_ids = self.store.people.delete(person_id)
            self.matching.sync()
        changed, _ = sync_sidecars(self.store, self.roots, tagged)
        return DeletedPersonOut(deleted_person=person_id, deleted_faces=len(face_ids),
                                sidecars_scrubbed=changed)

    def remove_photo(self, person_id: int, photo_id: int) -> RemovedPhotoOut:
        """Remove a person's face(s) in one enrolled photo (and the photo, when no one else
        was enrolled from it)."""
        with self.matching.lock:
            face_ids = self.store.faces.delete_in_photo(person_id, photo_id)
            self.matching.sync()
        return RemovedPhotoOut(deleted_photo=photo_id, deleted_faces=face_ids)

    def remove_face(self, face_id: int) -> RemovedFaceOut:
        with self.matching.lock:
            self.store.faces.delete(face_id)
            self.matching.sync()
        return RemovedFaceOut(deleted_face=face_id)

    def move_face(self, face_id: int, person_id: int) -> None:
        """An enrolled face becomes another person's (its chip, landmarks and vectors kept)."""
        with self.matching.lock:
            self.store.people.get(person_id)
            self.store.faces.move(face_id, person_id)
            self.matching.sync()
