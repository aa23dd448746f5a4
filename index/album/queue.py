"""The service's album-job queue: each service process runs at most one job at a time, on a
thread of its own, taking the oldest job that waits for a process or whose process is gone
(`index.album.jobs.claim`). A job taken up again resumes where it stopped: the photos it
tagged are unchanged and skipped. A cancel is a flag in the job's row, seen by the process
that runs it after the photos in hand. While the store cannot be reached the thread waits
and asks again; a job it was running goes back to the queue once the store answers.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from faces.errors import NoCluster
from index.album.jobs import Job, claim, new_job, place_of
from index.album.tagger import AlbumTagger
from index.errors import StoreUnavailable
from index.gallery import Gallery
from index.store import AlbumJob
from index.tag_import import import_tags

log = logging.getLogger("facepair.jobs")
POLL_SECONDS = 1.0  # how often an idle process looks for a job


class AlbumJobs:
    def __init__(self, gallery: Gallery, workers: int) -> None:
        self.gallery, self.workers = gallery, workers
        self.wake, self.stop = threading.Event(), threading.Event()
        self.away = False  # whether the store was unreachable when last asked
        self.thread = threading.Thread(target=self._loop, name="album-jobs", daemon=True)
        self.thread.start()

    def submit(self, root: Path | str, xmp: bool, embed: bool = False, kind: str = "tag",
               ray: bool = False) -> int:
        """Queue a job of a folder (of this host, or `name:path`; one inside no root becomes
        a root of its own) (`kind`: "tag" the album, or "import-tags", its face tags); the
        first idle process of the service whose host has the folder's root takes it. `ray`:
        its photos are analysed on the service's Ray cluster (FACEPAIR_RAY_ADDRESS)."""
        if ray and not self.gallery.settings.ray_address:
            raise NoCluster("this service has no Ray cluster (FACEPAIR_RAY_ADDRESS)")
        if ray and kind != "tag":
            raise NoCluster(f"a {kind} job runs on the service's own workers, not on Ray")
        place = self.gallery.roots.place(root, register=True)
        job_id = new_job(self.gallery.store, place, xmp, embed, kind, ray=ray)
        self.wake.set()
        return job_id

    def _loop(self) -> None:
        while not self.stop.is_set():
            job = self._claim()
            if job is None:
                self.wake.wait(POLL_SECONDS)
                self.wake.clear()
                continue
            self._run(job)

    def _claim(self) -> AlbumJob | None:
        """The next job for this process, if any; none while the store is away (said once
        per outage in the log, and asked again every `POLL_SECONDS`)."""
        try:
            here = {h.root.id for h in self.gallery.roots.here()}
            job = claim(self.gallery.store, self.gallery.settings.job_lease, here)
        except StoreUnavailable as exc:
            if not self.away:
                log.warning("album jobs wait for the store: %s", exc.message)
            self.away = True
            return None
        except Exception:
            log.exception("looking for an album job failed")
            return None
        if self.away:
            log.warning("the store answers again: album jobs go on")
            self.away = False
        return job

    def _run(self, job: AlbumJob) -> None:
        # a process with no Ray cluster of its own runs a Ray job with its workers
        ray = self.gallery.settings.ray_address if job.ray else ""
        tagger = AlbumTagger(self.gallery, workers=self.workers, xmp=job.xmp,
                             embed=job.embed, cancel=self.stop, ray=ray or None)
        try:
            if job.kind == "import-tags":
                import_tags(self.gallery, place_of(job), self.workers, job_id=job.id,
                            cancel=self.stop)
            else:
                tagger.run(place_of(job), job.id)
        except StoreUnavailable as exc:
            log.warning("album job %s stopped, the store away (%s): it goes back to the "
                        "queue once the store answers", job.id, exc.message)
            self._give_back(job.id)
        except Exception:  # recorded in the job row by the tagger
            log.exception("album job %s failed", job.id)
        else:
            if self.stop.is_set():  # this process's shutdown: another takes it up
                Job(self.gallery.store, job.id).release()

    def _give_back(self, job_id: int) -> None:
        """Back to the queue, as soon as the store answers (unless another process took the
        job over meanwhile, its lease having lapsed)."""
        while not self.stop.is_set():
            try:
                Job(self.gallery.store, job_id).release()
                return
            except StoreUnavailable:
                self.stop.wait(POLL_SECONDS)
            except Exception:
                log.exception("album job %s: not given back (its lease lapses)", job_id)
                return

    def close(self) -> None:
        """Stop after the photos in hand; a job left running is taken up by the next
        process."""
        self.stop.set()
        self.wake.set()
        self.thread.join(timeout=30)
