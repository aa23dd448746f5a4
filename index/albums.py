"""Album tagging: every face in a folder tree of photos, named or clustered, resumable.

`AlbumTagger.run(root)` walks the folders, skips photos already tagged and unchanged (path,
size, mtime; the content hash when only the mtime moved), and sends the rest in chunks to
worker processes that detect and embed in batches. On a CPU the workers are forked, one core
each, and start with the detector and the model already loaded; with CUDA they are spawned
and each loads them once. The main process names the faces (`Gallery.match`), commits each
chunk of photos with the job's progress in one transaction (so an interrupted run loses nothing
it finished), writes XMP sidecars when asked, and at the end clusters the unknown faces (DBSCAN
on cosine distance, at the model's one-to-one threshold).
Originals are only ever read.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing as mp
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np

from faces.align import face_chip
from faces.decode import Reduced, Source, decode_reduced, decode_regions, is_photo_path
from faces.detect import Detector, Face
from faces.embed import Embedder
from faces.errors import FacepairError, NotFound
from faces.memory import keep_freed_memory, release_freed_memory
from faces.tags import PhotoTags, assign, fingerprint, read_tags, tagged_photo
from index.clustering import dbscan_labels
from index.errors import Refused
from index.files import sha256_of
from index.gallery import FaceMatch, Gallery, encode_chip
from index.results import EnrolledFaceOut
from index.settings import IndexSettings
from index.store import AlbumFace, NewAlbumFace

CHUNK = 8  # photos per worker task at most: their faces are embedded in one batch


@dataclass
class Analysed:
    """What a worker found in one photo."""

    path: str
    size: int
    mtime: float
    sha256: str
    width: int = 0
    height: int = 0
    faces: list[Face] = field(default_factory=list)
    vectors: np.ndarray | None = None
    chips: list[tuple[bytes, list]] = field(default_factory=list)
    error: str | None = None


class AlbumRun(TypedDict):
    """What a tagging run did: photos tagged, faces found, named and unknown, unreadable
    photos (`failed`), photos unchanged since the last run, other files (`skipped`), groups
    of unknown faces, and the time it took."""

    job: int
    status: str  # done or cancelled
    photos: int
    faces: int
    named: int
    unknown: int
    failed: int
    unchanged: int
    skipped: int
    clusters: int
    seconds: float
    report: NotRequired[str]  # the HTML report's path, where one was written


@dataclass
class Naming:
    """The faces of one photo, named: facepair's matches, the name a user's own tag (in a
    sidecar or the photo's XMP) gives each face, which wins, and what did not fit."""

    matches: list[FaceMatch]
    by_user: list[str | None]
    problems: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class TagCounts:
    """What the users' own face tags of a run said: regions by name (found, matched to a
    detected face), regions without a face, faces named differently by two tags, and faces
    facepair would have named otherwise."""

    regions: dict[str, int] = field(default_factory=dict)
    matched: dict[str, int] = field(default_factory=dict)
    without_face: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    differ: list[dict[str, Any]] = field(default_factory=list)


class Cluster(TypedDict):
    """A group of unknown faces: how many, in how many photos, a few of those photos."""

    id: int
    faces: int
    photos: int
    examples: list[str]


class NamedCluster(TypedDict):
    person: dict[str, Any]
    enrolled_faces: int
    photos: int
    sidecars_written: int


_WORKER: dict = {}
# the share of the model's input that a face's detected box spans in its aligned crop: a face
# smaller than that in the reduced photo is aligned from its part of the photo at full size,
# its box grown by AROUND times its size on every side
CHIP_FACE = 0.72
AROUND = 1.5


def _init_worker(settings: IndexSettings, model: str, device: str, threads: int) -> None:
    """A spawned worker: load the detector and the model itself."""
    import torch

    torch.set_num_threads(threads)
    keep_freed_memory()
    _WORKER.update(detector=Detector(settings, device), embedder=Embedder(model, device),
                   max_pixels=settings.max_pixels)


def _init_forked() -> None:
    """A forked worker already holds the parent's detector and model (copy-on-write). It runs
    torch on one thread: an OpenMP thread pool does not survive a fork, so a forked worker
    must never start one (PyTorch's DataLoader workers do the same)."""
    import torch

    torch.set_num_threads(1)
    keep_freed_memory()


def owner_name() -> str:
    """This process as an album job's owner: its host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def alive(owner: str) -> bool:
    """Whether the process that owns a job still runs. A process of another host is taken
    to be alive: only its own host can tell."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        return True
    return True


def analyse(items: list[tuple[str, int, float, str]]) -> list[Analysed]:
    """Decode, detect and embed a chunk of photos, in a worker. Each photo is decoded at the
    size detection works at (a JPEG at a DCT-reduced size: `decode_reduced`); a face too small
    there to fill the model's input is aligned from its part of the photo at full size
    (`decode_regions`: the photo is decoded in full once more, but only those parts are kept).
    The chunk's faces are embedded together."""
    detector, embedder = _WORKER["detector"], _WORKER["embedder"]
    results = [Analysed(path, size, mtime, sha) for path, size, mtime, sha in items]
    crops: list[np.ndarray] = []
    for item in results:
        try:
            faces = _faces_of(item, detector, embedder, crops)
        except FacepairError as exc:
            item.error = exc.message
            continue
        item.faces = faces
    vectors = (embedder.embed_crops(np.stack(crops)) if crops
               else np.empty((0, embedder.dim), dtype=np.float32))
    start = 0
    for item in results:
        item.vectors = vectors[start : start + len(item.faces)]
        start += len(item.faces)
    return results


def _faces_of(item: Analysed, detector: Detector, embedder: Embedder, crops: list[np.ndarray]
              ) -> list[Face]:
    """One photo's faces, in its full-size coordinates; their chips go into `item.chips` and
    their model crops into `crops`."""
    path, limit = Path(item.path), _WORKER["max_pixels"]
    reduced = decode_reduced(path, detector.settings.detect_max_side, limit)
    item.width, item.height = reduced.size
    scale = reduced.scale
    found = detector.detect_reduced(reduced)
    faces = []
    for f, (source, points) in zip(found, face_sources(path, reduced, found,
                                                       embedder.input_size, limit), strict=True):
        chip, chip_points = face_chip(source, points)
        crops.append(embedder.crops_at(source, [points])[0])
        item.chips.append((encode_chip(chip), chip_points.round(3).tolist()))
        x1, y1, x2, y2 = (float(v) * scale for v in f.box)
        faces.append(Face(box=(x1, y1, x2, y2), score=f.score, landmarks=f.landmarks * scale))
    return faces


def _chunks(todo: list, workers: int) -> list[list]:
    """The photos in worker tasks of CHUNK, growing smaller towards the end (down to one
    photo) so that the workers finish together: a task is never more than the share of what
    is left that keeps every worker busy twice over."""
    chunks, start = [], 0
    while start < len(todo):
        size = max(1, min(CHUNK, (len(todo) - start) // (2 * max(1, workers))))
        chunks.append(todo[start : start + size])
        start += size
    return chunks


def face_sources(source: Source, reduced: Reduced, faces: Sequence[Face], input_size: int,
                 limit: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Where each face of a reduced photo is aligned from: (pixels, the face's landmarks in
    them). The reduced photo; for a face too small there to fill the model's input (under
    CHIP_FACE of `input_size`), its part of the photo at full size (`decode_regions`: one
    decode for all such faces of the photo)."""
    small = [i for i, f in enumerate(faces)
             if reduced.scale > 1 and f.size < CHIP_FACE * input_size]
    regions = dict(zip(small, decode_regions(
        source, [face_region(faces[i], reduced.scale) for i in small], limit),
        strict=True)) if small else {}
    sources = []
    for i, f in enumerate(faces):
        if i in regions:
            pixels, corner = regions[i]
            sources.append((pixels, f.landmarks * reduced.scale
                            - np.asarray(corner, dtype=np.float64)))
        else:
            sources.append((reduced.image, f.landmarks))
    return sources


def face_region(face: Face, scale: float) -> tuple[float, float, float, float]:
    """The part of the full-size photo that a face's chip and model crop are cut from: its box
    grown by AROUND times its size on every side (a crop turned 45° still lies inside)."""
    x1, y1, x2, y2 = (v * scale for v in face.box)
    grow = AROUND * max(x2 - x1, y2 - y1)
    return x1 - grow, y1 - grow, x2 + grow, y2 + grow


def enroll_album_face(gallery: Gallery, person: str | int, found: AlbumFace, note: str = ""
                      ) -> EnrolledFaceOut:
    """Enroll an album face for a person, from its stored chip; raises FacepairError where it
    cannot be (enrolled already, …)."""
    face = Face(box=(found.box[0], found.box[1], found.box[2], found.box[3]),
                score=float(found.score), landmarks=np.asarray(found.landmarks))
    return gallery.enroll_chip(person, found.chip, np.asarray(found.chip_landmarks), face,
                               found.sha256, found.path, found.width, found.height, note)


class AlbumTagger:
    def __init__(self, gallery: Gallery, workers: int = 2, xmp: bool = False,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None,
                 clusterer: Callable[[np.ndarray, float], np.ndarray] | None = None,
                 only_tagged: bool = False, people: set[str] | None = None,
                 embed: bool = False) -> None:
        """`clusterer`: `dbscan_labels` (the default) or a `ClusterHelper`. `only_tagged`:
        only photos that carry face tags of other tools; `people`: only these names of
        theirs are taken (default: every name). `embed`: with `xmp`, the XMP goes into the
        JPEGs themselves, not into sidecars."""
        self.gallery, self.store = gallery, gallery.store
        self.workers, self.xmp, self.embed = workers, xmp, embed
        self.clusterer = clusterer or dbscan_labels
        self.progress, self.cancel = progress, cancel or threading.Event()
        self.only_tagged, self.people = only_tagged, people
        self.tags = TagCounts()
        self._person_ids: dict[str, int | None] = {}

    # -- walking ------------------------------------------------------------------------------

    @staticmethod
    def scan(root: Path) -> tuple[list[Path], int]:
        """Photos under `root` (sorted) and the number of other files (our sidecars aside)."""
        photos, skipped = [], 0
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(folder) / name
                if is_photo_path(path):
                    photos.append(path)
                elif not name.endswith(".xmp") and not name.startswith("."):
                    skipped += 1
        return photos, skipped

    def _todo(self, photos: list[Path]) -> tuple[list[tuple[str, int, float, str]], int,
                                                 list[tuple[str, str, str]]]:
        """The photos to analyse (path, size, mtime, sha256), how many are unchanged, and
        those that cannot be read (a broken link, a file gone or unreadable) as (path,
        problem, detail): counted as failed."""
        todo: list[tuple[str, int, float, str]] = []
        unchanged, unreadable = 0, []
        for path in photos:
            try:
                st = path.stat()
                if not stat.S_ISREG(st.st_mode):
                    raise IsADirectoryError(path)
            except OSError as exc:
                unreadable.append((str(path), "unreadable", f"{type(exc).__name__}: {exc}"))
                continue
            if self.only_tagged and not tagged_photo(path):
                continue
            known = self.store.albums.state(path)
            if (known is not None and known.model == self.gallery.model
                    and known.size == st.st_size and known.tags == fingerprint(path)):
                if known.mtime == st.st_mtime:
                    unchanged += 1
                    continue
                sha = sha256_of(path)  # (read errors here end the job as failed, below)
                if sha == known.sha256:  # touched, not changed
                    self.store.albums.touch(path, st.st_mtime)
                    unchanged += 1
                    continue
            else:
                sha = sha256_of(path)
            todo.append((str(path), st.st_size, st.st_mtime, sha))
        return todo, unchanged, unreadable

    def lend_to_workers(self) -> None:
        """This process's detector and model, for `analyse` here or in forked workers."""
        _WORKER.update(detector=self.gallery.detector, embedder=self.gallery.embedder,
                       max_pixels=self.gallery.settings.max_pixels)

    def _analysed(self, todo: list[tuple[str, int, float, str]]) -> Iterator[list[Analysed]]:
        chunks = _chunks(todo, self.workers)
        if self.workers <= 1:
            self.lend_to_workers()
            for chunk in chunks:
                yield analyse(chunk)
            return
        if self.gallery.embedder.device == "cpu" and "fork" in mp.get_all_start_methods():
            # forked from here, with the detector and model this process holds: a worker
            # starts in milliseconds instead of importing torch and loading both (seconds)
            self.lend_to_workers()
            # what exists now is out of the workers' garbage collector's sight, so that a
            # collection in a worker does not copy the pages it shares; this process (the
            # service lives on) sees it all again once they are forked
            gc.collect()
            gc.freeze()
            release_freed_memory()  # a worker's resident memory starts with this process's
            try:
                pool = mp.get_context("fork").Pool(self.workers, _init_forked)
            finally:
                gc.unfreeze()
        else:  # CUDA cannot be forked once initialised; elsewhere there is no fork
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            pool = mp.get_context("spawn").Pool(
                self.workers, _init_worker, (self.gallery.settings, str(self.gallery.embedder.path),
                                             self.gallery.embedder.device, threads))
        with pool:
            if self.clusterer is dbscan_labels:
                # the workers are forked: scikit-learn may load meanwhile (a second and a
                # half of imports at the end otherwise; never while forking: import locks)
                threading.Thread(target=importlib.import_module, args=("sklearn.cluster",),
                                 daemon=True).start()
            yield from pool.imap(analyse, chunks)

    # -- the job ------------------------------------------------------------------------------

    def start_job(self, root: Path, owner: str | None = None, resumable: bool = False,
                  kind: str = "tag") -> int:
        """A job's row: run by `owner` (default: this process), or waiting for a service
        process to take it (`owner=None`, `resumable`). Jobs of commands that were killed
        are marked interrupted on the way."""
        if owner is None and not resumable:
            owner = owner_name()
            self.store.jobs.interrupt_orphans(alive)
        return self.store.jobs.add(root, self.xmp, owner, resumable, self.embed, kind)

    def run(self, root: Path, job_id: int | None = None) -> AlbumRun:
        """Tag every photo under `root` as job `job_id` (a new job by default)."""
        root = Path(root).resolve()
        if not root.is_dir():
            raise NotFound(f"{root}: no such folder")
        job_id = job_id or self.start_job(root)
        start = time.perf_counter()
        status = "done"
        try:
            photos, skipped = self.scan(root)
            todo, unchanged, unreadable = self._todo(photos)
            self.store.jobs.add_problems(job_id, unreadable)
            failed = len(unreadable)
            counts = {"photos": 0, "faces": 0, "named": 0, "unknown": 0, "failed": failed}
            self.store.jobs.start(job_id, len(todo) + failed, unchanged, skipped, failed)
            for chunk in self._analysed(todo):
                # named before the write: naming takes the gallery's lock, which an enrollment
                # holds while it waits for the store's (taking them the other way round here
                # held both for the store's whole busy wait)
                threshold = self.gallery.threshold()
                named = [self.name(item, threshold) for item in chunk]
                problems = [p for n in named for p in n.problems]
                people = [self.user_people(n) for n in named]
                with self.store.transaction():  # a chunk and its progress
                    for item, naming, theirs in zip(chunk, named, people, strict=True):
                        self.record(item, naming, theirs, job_id, counts)
                    self.store.jobs.progress(
                        job_id, counts["photos"] + counts["failed"], counts["faces"],
                        counts["named"], counts["unknown"], counts["failed"])
                problems += [(item.path, "unreadable", item.error) for item in chunk
                             if item.error is not None]
                if self.xmp:
                    for item in chunk:
                        if item.error is None:
                            problems += self.write_xmp(Path(item.path))[1]
                self.store.jobs.add_problems(job_id, problems)
                if self.progress:
                    self.progress(counts["photos"] + counts["failed"], len(todo) + failed)
                # a cancel asked here, or through the store by any process
                if self.cancel.is_set() or self.store.jobs.cancelled(job_id):
                    status = "cancelled"
                    break
        except BaseException as exc:
            self.store.jobs.end(job_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
        clusters = self.cluster()
        self.store.jobs.end(job_id, status)
        return AlbumRun(job=job_id, status=status, photos=counts["photos"],
                        faces=counts["faces"], named=counts["named"], unknown=counts["unknown"],
                        failed=counts["failed"], unchanged=unchanged, skipped=skipped,
                        clusters=clusters, seconds=round(time.perf_counter() - start, 2))

    def preview(self, root: Path) -> int:
        """Read and name the photos under `root` as `run` would, writing nothing (what the
        users' tags say is in `self.tags`). Returns how many photos were read."""
        photos = [p for p in self.scan(Path(root).resolve())[0]
                  if not self.only_tagged or tagged_photo(p)]
        items = []
        for path in photos:
            try:
                st = path.stat()
            except OSError:
                continue
            items.append((str(path), st.st_size, st.st_mtime, ""))
        done = 0
        for chunk in self._analysed(items):
            threshold = self.gallery.threshold()
            for item in chunk:
                self.name(item, threshold)
                done += item.error is None
            if self.progress:
                self.progress(done, len(items))
        return done

    def name(self, item: Analysed, threshold: float) -> Naming:
        """The faces of one analysed photo, named by facepair and by the user's own tags
        (none for a photo that failed)."""
        if item.error is not None:
            return Naming([], [])
        vectors = item.vectors if item.vectors is not None else np.empty((0, 0))
        matches = self.gallery.match(item.faces, vectors, threshold) if item.faces else []
        naming = Naming(matches, [None] * len(matches))
        self._apply_tags(item.path, read_tags(Path(item.path)), naming)
        return naming

    def _apply_tags(self, path: str, tags: PhotoTags, naming: Naming) -> None:
        """The user's names win: a face that a tag of theirs marks is theirs to name. A tag
        with no face under it, a face two tags name differently, and a face facepair would
        have named otherwise are reported, never guessed at."""
        naming.problems += [(file, "tags_unreadable", detail) for file, detail in tags.problems]
        counts = self.tags
        boxes = [m.face.box for m in naming.matches]
        chosen = assign([f.box for f in tags.faces], boxes)
        for i, tagged in enumerate(tags.faces):
            names = [n for n in tagged.names if self.people is None or n in self.people]
            if not names:
                continue
            where = {"path": path, "box": [round(v, 1) for v in tagged.box],
                     "sources": sorted({t.source for t in tagged.tags})}
            for name in names:
                counts.regions[name] = counts.regions.get(name, 0) + 1
            if i not in chosen:
                counts.without_face.append({**where, "names": names})
                naming.problems.append((path, "tag_without_face",
                                        f"{' / '.join(names)}: no face found in the region"))
                continue
            if len(tagged.names) > 1:
                counts.conflicts.append({**where, "names": tagged.names})
                naming.problems.append((path, "tag_conflict", "one face is named "
                                        + " and ".join(repr(n) for n in tagged.names)))
                continue
            name, match = names[0], naming.matches[chosen[i]]
            counts.matched[name] = counts.matched.get(name, 0) + 1
            naming.by_user[chosen[i]] = name
            if match.person is not None and match.person.name != name:
                counts.differ.append({**where, "tag": name, "facepair": match.person.name})
                naming.problems.append((path, "name_differs", f"the photo's tag names "
                                        f"{name!r} where facepair sees {match.person.name!r}; "
                                        "the tag's name is kept"))

    def user_people(self, naming: Naming) -> list[int | None]:
        """The ids of the people the user's tags name, per face (None: no tag, or a name
        facepair cannot store); people new to the gallery are made here, before the photo is
        recorded."""
        for name in set(naming.by_user) - set(self._person_ids) - {None}:
            assert name is not None
            try:
                self._person_ids[name] = self.gallery.person_id_for(name)
            except Refused:
                self._person_ids[name] = None
        return [self._person_ids[n] if n else None for n in naming.by_user]

    def record(self, item: Analysed, naming: Naming, people: list[int | None], job_id: int,
                counts: dict) -> None:
        """One analysed photo and its named faces into the store (within the chunk's write);
        `people`: whom the user's tags name, per face."""
        if item.error is not None:
            counts["failed"] += 1
            return
        vectors = item.vectors if item.vectors is not None else np.empty((0, 0))
        model = self.gallery.model
        matches = naming.matches
        self.store.albums.record(
            item.path, item.size, item.mtime, item.sha256, item.width, item.height, model,
            job_id, fingerprint(Path(item.path)),
            [NewAlbumFace(
                box=[round(float(x), 1) for x in m.face.box],
                landmarks=np.round(m.face.landmarks, 1).tolist(), score=float(m.face.score),
                chip=chip, chip_landmarks=points, model=model, vector=v,
                person_id=user if user else (m.person.id if m.person else None),
                similarity=None if user or not np.isfinite(m.score) else float(m.score),
                named_by="user" if user else None,
                candidate_id=(m.candidates[0].person.id if not user and m.person is None
                              and m.candidates else None))
             for m, user, (chip, points), v in zip(matches, people, item.chips, vectors,
                                                   strict=True)])
        named = [m for m, user in zip(matches, people, strict=True)
                 if user or m.person is not None]
        counts["photos"] += 1
        counts["faces"] += len(matches)
        counts["named"] += len(named)
        counts["unknown"] += len(matches) - len(named)

    def write_xmp(self, path: Path) -> tuple[bool, list[tuple[str, str, str]]]:
        """(Re)write facepair's part of one tagged photo's sidecar from what the store says:
        whether it changed, and its problems (`Gallery.sync_sidecars`)."""
        changed, problems = self.gallery.sync_sidecars([path], create=True, embed=self.embed)
        return bool(changed), problems

    # -- clusters of unknown faces ------------------------------------------------------------

    def cluster(self) -> int:
        """Cluster the unknown faces: DBSCAN, cosine distance, eps = 1 - the model's one-to-one
        threshold, at least 2 faces. Returns the number of clusters."""
        face_ids, vectors = self.store.clusters.unknown(self.gallery.model)
        labels = np.full(len(face_ids), -1)
        if len(face_ids) >= 2:
            labels = self.clusterer(vectors, 1.0 - self.gallery.verify_threshold())
        self.store.clusters.replace([(int(c) + 1, f)
                                     for f, c in zip(face_ids, labels, strict=True) if c >= 0])
        return int(labels.max() + 1) if len(labels) else 0


def clusters(gallery: Gallery) -> list[Cluster]:
    """The clusters of unknown faces, biggest first."""
    return [Cluster(id=c.id, faces=c.faces, photos=c.photos, examples=c.paths[:5])
            for c in gallery.store.clusters.all()]


def name_cluster(gallery: Gallery, cluster: int, name: str, xmp: bool | None = None
                 ) -> NamedCluster:
    """Turn a cluster of unknown faces into an enrolled person (new, or one of that name), and
    re-tag the photos they came from."""
    found = gallery.store.clusters.faces(cluster)
    if not found:
        raise NotFound(f"no group of unknown faces with id {cluster} (facepair clusters list)")
    enrolled = 0
    person_id: int | None = None
    for face in found:
        try:
            stored = enroll_album_face(gallery, person_id or name, face)
            person_id = stored.person_id
            enrolled += 1
        except FacepairError:
            continue  # this face was enrolled already
    if person_id is None:
        person_id = gallery.find_person(name).id
    gallery.store.clusters.name(cluster, person_id)
    tagger = AlbumTagger(gallery)
    rewritten = 0
    for path, wrote in sorted({(f.path, f.xmp) for f in found}):
        if (xmp if xmp is not None else wrote) and tagger.write_xmp(Path(path))[0]:
            rewritten += 1
    person = gallery.store.people.get(person_id)
    return NamedCluster(person=person.to_dict(), enrolled_faces=enrolled,
                        photos=len({f.photo_id for f in found}), sidecars_written=rewritten)


def job(gallery: Gallery, job_id: int) -> dict:
    found = gallery.store.jobs.get(job_id)
    if found is None:
        raise NotFound(f"no album job with id {job_id}")
    count, problems = gallery.store.jobs.problems(job_id)
    return {**found.to_dict(), "problems": count,
            "first_problems": [p.to_dict() for p in problems]}
