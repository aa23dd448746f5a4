"""Album tagging: every face in a folder tree of photos, named or clustered, resumable.

`AlbumTagger.run(root)` takes the album through its stages:
scan (`index.album.scan`: the photos, and which changed since they were tagged) →
analyse (`index.album.analyse`: decode, detect, embed, in worker processes) →
name (`index.album.naming`: the gallery's names, and the user's own tags, which win) →
record (`index.album.record`: each chunk of photos with the job's progress in one write) →
write sidecars (`index.album.sidecars`, when asked) →
context (`index.album.context`: faces just under the threshold named by the library's named
faces that are confidently like them) →
cluster (`index.album.clusters`: the unknown faces that look alike).
The job's life (made, taken, progress, cancel, end) is `index.album.jobs`'. Originals are
only ever read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NotRequired, TypedDict

from faces.errors import FacepairError, NotFound
from index.album.analyse import analysed
from index.album.clusters import Clusterer, cluster_unknown
from index.album.context import ContextRun, name_by_context
from index.album.jobs import Job, new_job
from index.album.naming import Namer, Naming, TagCounts
from index.album.reading import AnalysedPhoto
from index.album.record import Recorder, Tally
from index.album.scan import Changes, PhotoFile, changes, listed, scan
from index.album.sidecars import Problem, write_xmp
from index.clustering import dbscan_labels
from index.errors import StoreUnavailable
from index.gallery import Gallery
from index.roots import Place


class AlbumRun(TypedDict):
    """What a tagging run did: photos tagged (videos among them), faces found (a video's
    tracks among them), named, unknown and unrecognisable (under the quality floor:
    `index.quality`), unreadable photos and videos (`failed`), photos unchanged
    since the last run, other files (`skipped`), clusters of unknown faces, and the time it
    took."""

    job: int
    root: str  # the folder tagged, as `root:folder`
    status: str  # done or cancelled
    photos: int
    videos: int  # of the photos, those that are videos
    faces: int
    tracks: int  # of the faces, the videos' (a face followed across frames)
    frames: int  # the videos' sampled frames
    seen: int  # the faces seen in those frames, which the tracks follow
    named: int
    unknown: int
    unrecognisable: int
    failed: int
    unchanged: int
    skipped: int
    clusters: int
    context: ContextRun  # faces named by the library's context (over the whole library)
    seconds: float
    report: NotRequired[str]  # the HTML report's path, where one was written


class AlbumTagger:
    def __init__(self, gallery: Gallery, workers: int = 2, xmp: bool = False,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None, clusterer: Clusterer | None = None,
                 only_tagged: bool = False, people: set[str] | None = None,
                 embed: bool = False, ray: str | None = None) -> None:
        """`clusterer`: `dbscan_labels` (the default) or a `ClusterHelper`. `only_tagged`:
        only photos that carry face tags of other tools; `people`: only these names of
        theirs are taken (default: every name). `embed`: with `xmp`, the XMP goes into the
        JPEGs themselves, not into sidecars. `ray`: the address of a Ray cluster the photos
        are analysed on (`index.album.on_ray`) instead of `workers` local processes."""
        self.gallery, self.store = gallery, gallery.store
        self.workers, self.xmp, self.embed, self.ray = workers, xmp, embed, ray
        self.clusterer = clusterer or dbscan_labels
        self.progress, self.cancel = progress, cancel or threading.Event()
        self.only_tagged = only_tagged
        self.namer, self.recorder = Namer(gallery, people), Recorder(gallery)

    @property
    def tags(self) -> TagCounts:
        """What the users' own face tags said over this tagger's runs."""
        return self.namer.tags

    def place(self, root: Path | str | Place) -> tuple[Place, Path]:
        """A folder to tag (of this host, or `name:path`) as a root and a folder inside it,
        and where that is on this host; a folder inside no root becomes a root of its own."""
        place = root if isinstance(root, Place) else self.gallery.roots.place(root, True)
        folder = self.gallery.roots.local(place)
        if not folder.is_dir():
            raise NotFound(f"{place.shown} ({folder}): no such folder")
        return place, folder

    def start_job(self, root: Path | str | Place, kind: str = "tag") -> int:
        """A new job for `root`, run by this process."""
        return new_job(self.store, self.place(root)[0], self.xmp, self.embed, kind,
                       self.gallery.settings.job_lease, self.ray is not None)

    def run(self, root: Path | str | Place, job_id: int | None = None,
            then: Callable[[], None] | None = None) -> AlbumRun:
        """Tag every photo under `root` as job `job_id` (a new job by default); `then`, a
        last stage of the job's own (enrolling a tag import's faces), runs before it ends."""
        try:
            place, folder = self.place(root)
        except StoreUnavailable:
            raise  # not the job's failure: it is taken up again once the store answers
        except FacepairError as exc:  # a queued job's folder is not here: it ends here
            if job_id is not None:
                Job(self.store, job_id).failed(exc)
            raise
        job = Job(self.store, job_id or self.start_job(place))
        with job.held(self.gallery.settings.job_lease):
            return self._run(place, folder, job, then)

    def _run(self, place: Place, folder: Path, job: Job, then: Callable[[], None] | None
             ) -> AlbumRun:
        start = time.perf_counter()
        status = "done"
        context = ContextRun(named=0, cleared=0)
        try:
            found, skipped, tally, total = self._begin(folder, job)
            for chunk in self._analysed(found.todo):
                job.problems(self.record_chunk(job, chunk, tally))
                if self.progress:
                    self.progress(tally.done, total)
                # a cancel asked here, or through the store by any process
                if self.cancel.is_set() or job.cancelled():
                    status = "cancelled"
                    break
            if status == "done":
                context, touched = name_by_context(self.gallery)
                if self.xmp and touched:
                    job.problems(write_xmp(self.gallery, touched, self.embed)[1])
            clusters = cluster_unknown(self.gallery, self.clusterer)
            if then is not None:
                then()
        except StoreUnavailable:
            raise  # not the job's failure: it is taken up again once the store answers
        except BaseException as exc:
            job.failed(exc)
            raise
        job.end(status)
        return AlbumRun(job=job.id, root=place.shown, status=status, photos=tally.photos,
                        videos=tally.videos, faces=tally.faces, tracks=tally.tracks,
                        frames=tally.frames, seen=tally.seen,
                        named=tally.named, unknown=tally.unknown,
                        unrecognisable=tally.unrecognisable, failed=tally.failed,
                        unchanged=found.unchanged, skipped=skipped, clusters=clusters,
                        context=context, seconds=round(time.perf_counter() - start, 2))

    def _begin(self, folder: Path, job: Job) -> tuple[Changes, int, Tally, int]:
        """The photos to tag (those unchanged, the other files skipped), the tally to go on
        from and the photos in all. A job taken up again (its process stopped, or was killed)
        goes on from the counts recorded with its photos, which its scan now finds unchanged:
        it ends with the figures of a run that was never broken off."""
        photos, skipped = scan(folder)
        found = changes(self.store, self.gallery.model, photos, self.only_tagged,
                        self.gallery.roots.finder())
        before = job.before()
        if before is not None and before.total > 0:  # taken up again
            tally = Tally(photos=before.done - before.failed, faces=before.faces,
                          named=before.named, unknown=before.unknown, failed=before.failed,
                          unrecognisable=before.faces - before.named - before.unknown)
            total = before.done + len(found.todo)  # photos added meanwhile included
            job.resumed(before, total)
            return found._replace(unchanged=before.unchanged), before.skipped, tally, total
        tally = Tally(failed=len(found.unreadable))
        total = len(found.todo) + tally.failed
        job.found(total, found.unchanged, skipped, found.unreadable)
        return found, skipped, tally, total

    def record_chunk(self, job: Job, chunk: list[AnalysedPhoto], tally: Tally
                     ) -> list[Problem]:
        """One chunk of analysed photos named, recorded with the job's progress, and its
        sidecars written; the problems met on the way."""
        # named before the write: naming takes the gallery's lock, which an enrollment
        # holds while it waits for the store's (taking them the other way round here held
        # both for the store's whole busy wait)
        named = self.name(chunk)
        problems = [p for n in named for p in n.problems]
        people = [self.recorder.user_people(n) for n in named]
        with self.store.transaction():  # a chunk and its progress
            for item, naming, theirs in zip(chunk, named, people, strict=True):
                self.recorder.record(item, naming, theirs, job.id, tally)
            job.progress(tally.done, tally.faces, tally.named, tally.unknown, tally.failed)
        problems += [(item.shown, "unreadable", item.error) for item in chunk
                     if item.error is not None]
        if self.xmp:
            problems += write_xmp(self.gallery, [item.ref for item in chunk
                                                 if item.error is None], self.embed)[1]
        return problems

    def _analysed(self, todo: list[PhotoFile]) -> Iterator[list[AnalysedPhoto]]:
        """The photos analysed, a chunk at a time: on the Ray cluster, or by local workers."""
        if self.ray is not None:
            from index.album.on_ray import analysed_on_ray

            return analysed_on_ray(self.gallery, todo, self.ray)
        return analysed(self.gallery, todo, self.workers,
                        import_sklearn=self.clusterer is dbscan_labels)

    def name(self, chunk: list[AnalysedPhoto]) -> list[Naming]:
        """The chunk's photos named at the threshold in force now."""
        threshold = self.gallery.threshold()
        return [self.namer.name(item, threshold) for item in chunk]

    def preview(self, root: Path | str) -> int:
        """Read and name the photos under `root` as `run` would, writing nothing (what the
        users' tags say is in `self.tags`; a folder inside no root is not made one). Returns
        how many photos were read."""
        named = self.gallery.roots.named(str(root))
        folder = self.gallery.roots.local(named) if named else Path(root).resolve()
        if not folder.is_dir():
            raise NotFound(f"{root}: no such folder")
        items = listed(scan(folder)[0], self.only_tagged, self.gallery.roots.finder())
        done = 0
        for chunk in self._analysed(items):
            self.name(chunk)
            done += sum(item.error is None for item in chunk)
            if self.progress:
                self.progress(done, len(items))
        return done
