"""A library tagged in another tool becomes a gallery: `import_tags(gallery, root)`.

The photos under `root` that carry face tags (`faces.tags`) are tagged as an album is
(`AlbumTagger`, only those photos): each named region is matched to a face facepair detects,
and that face is recorded as the person the region names (made where there is none). Then, per
person, a few of those faces are enrolled (`learn`): large and sharp ones, from different
photos, not near-copies of one another, up to a cap that counts the faces already enrolled;
the others stay the person's known faces in the album. A re-run reads only the photos whose
file or tag files changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from faces.align import sharpness
from faces.decode import decode
from faces.errors import FacepairError
from index.album.clusters import enroll_album_face
from index.album.naming import TagCounts
from index.album.tagger import AlbumTagger
from index.gallery import NEAR_COPY, Gallery
from index.roots import Place
from index.store import AlbumFace

PER_PERSON = 10  # faces enrolled per person, at most (those enrolled before count)


class NameReport(TypedDict):
    regions: int  # named regions found
    matched: int  # of them on a face facepair detects
    enrolled: int  # faces enrolled by this import
    person: int | None  # the gallery's person of that name (None in a dry run)


class ImportReport(TypedDict):
    dry_run: bool
    photos: int  # tagged photos read (changed since the last import)
    unchanged: int
    names: dict[str, NameReport]
    regions: int
    matched: int
    without_face: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]
    differ: list[dict[str, Any]]  # faces facepair would have named otherwise
    job: int | None
    seconds: float


def import_tags(gallery: Gallery, root: Path | str | Place, workers: int = 2,
                people: set[str] | None = None, per_person: int = PER_PERSON, dry_run: bool = False,
                progress: Callable[[int, int], None] | None = None,
                job_id: int | None = None, cancel: threading.Event | None = None
                ) -> ImportReport:
    """Read the face tags of the photos under `root`, record the faces they name and enroll a
    chosen few per person (as album job `job_id`, a new one by default); with `dry_run`, only
    read and match, and write nothing."""
    start = time.perf_counter()
    tagger = AlbumTagger(gallery, workers=workers, progress=progress, only_tagged=True,
                         people=people, cancel=cancel)
    enrolled: dict[int, int] = {}
    if dry_run:
        if isinstance(root, Place):
            root = gallery.roots.local(root)
        photos, unchanged, job = tagger.preview(root), 0, None
    else:
        def enroll() -> None:  # the job's last stage: it is done once they are enrolled
            enrolled.update(learn(gallery, root, per_person, people))

        run = tagger.run(root, job_id or tagger.start_job(root, kind="import-tags"),
                         then=enroll)
        photos, unchanged, job = run["photos"], run["unchanged"], run["job"]
    return _report(gallery, tagger.tags, photos, unchanged, enrolled, dry_run, job,
                   time.perf_counter() - start)


def _report(gallery: Gallery, counts: TagCounts, photos: int, unchanged: int,
            enrolled: dict[int, int], dry_run: bool, job: int | None, seconds: float
            ) -> ImportReport:
    names: dict[str, NameReport] = {}
    for name in sorted(counts.regions, key=str.casefold):
        person = None if dry_run else gallery.store.people.by_name(name)
        names[name] = NameReport(regions=counts.regions[name],
                                 matched=counts.matched.get(name, 0),
                                 enrolled=enrolled.get(person.id, 0) if person else 0,
                                 person=person.id if person else None)
    return ImportReport(
        dry_run=dry_run, photos=photos, unchanged=unchanged, names=names,
        regions=sum(counts.regions.values()), matched=sum(counts.matched.values()),
        without_face=counts.without_face, conflicts=counts.conflicts, differ=counts.differ,
        job=job, seconds=round(seconds, 2))


def learn(gallery: Gallery, root: Path | str | Place, per_person: int = PER_PERSON,
          people: set[str] | None = None) -> dict[int, int]:
    """Enroll, per person, the best of the album faces under `root` that the user's tags name
    (person id → faces enrolled now)."""
    by_person: dict[int, list[AlbumFace]] = {}
    for face in gallery.store.albums.named_by_user(gallery.roots.parts(root)):
        if face.person_id is not None:
            by_person.setdefault(face.person_id, []).append(face)
    enrolled: dict[int, int] = {}
    for person_id, faces in by_person.items():
        person = gallery.store.people.get(person_id)
        if people is not None and person.name not in people:
            continue
        room = per_person - person.faces
        if room <= 0:
            continue
        enrolled[person_id] = _enroll_best(gallery, person_id, faces, room)
    return enrolled


def _enroll_best(gallery: Gallery, person_id: int, faces: list[AlbumFace], room: int) -> int:
    """Enroll up to `room` of a person's tagged faces: large and sharp first, one per photo,
    no near-copies of one chosen or enrolled before."""
    smallest = gallery.settings.enroll_min_face
    ranked = []
    for face in faces:
        box = face.box
        size = min(box[2] - box[0], box[3] - box[1])
        if size < smallest:
            continue
        chip = decode(face.chip, name="chip")
        ranked.append((sharpness(chip) * min(size, 160.0), face))
    ranked.sort(key=lambda r: -r[0])
    chosen = list(gallery.store.embeddings.of_model(gallery.model, person_id).vectors)
    photos: set[str] = set()
    done = 0
    for _, face in ranked:
        if done >= room:
            break
        vector = face.vector
        if face.shown in photos or any(float(vector @ c) > NEAR_COPY for c in chosen):
            continue
        try:
            enroll_album_face(gallery, person_id, face, note="from the photo's face tag")
        except FacepairError:
            continue  # this face is enrolled already
        chosen.append(vector)
        photos.add(face.shown)
        done += 1
    return done
