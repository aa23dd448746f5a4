"""The service's album-job queue: each service process runs at most one job at a time, on a
thread of its own, taking the oldest job that waits for a process or whose process is gone
(`index.album.jobs.claim`). A job taken up again resumes where it stopped: the photos it
tagged are unchanged and skipped. A cancel is a flag in the job's row, seen by the process
that runs it after the photos in hand.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from index.album.jobs import Job, claim, new_job, place_of
from index.album.tagger import AlbumTagger
from index.gallery import Gallery
from index.tag_import import import_tags

log = logging.getLogger("facepair.jobs")
POLL_SECONDS = 1.0  # how often an idle process looks for a job


class AlbumJobs:
    def __init__(self, gallery: Gallery, workers: int) -> None:
        self.gallery, self.workers = gallery, workers
        self.wake, self.stop = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._loop, name="album-jobs", daemon=True)
        self.thread.start()

    def submit(self, root: Path | str, xmp: bool, embed: bool = False, kind: str = "tag"
               ) -> int:
        """Queue a job of a folder (of this host, or `name:path`; one inside no root becomes
        a root of its own) (`kind`: "tag" the album, or "import-tags", its face tags); the
        first idle process of the service whose host has the folder's root takes it."""
        place = self.gallery.roots.place(root, register=True)
        job_id = new_job(self.gallery.store, place, xmp, embed, kind)
        self.wake.set()
        return job_id

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                here = {h.root.id for h in self.gallery.roots.here()}
                job = claim(self.gallery.store, self.gallery.settings.job_lease, here)
            except Exception:
                log.exception("looking for an album job failed")
                job = None
            if job is None:
                self.wake.wait(POLL_SECONDS)
                self.wake.clear()
                continue
            tagger = AlbumTagger(self.gallery, workers=self.workers, xmp=job.xmp,
                                 embed=job.embed, cancel=self.stop)
            try:
                if job.kind == "import-tags":
                    import_tags(self.gallery, place_of(job), self.workers, job_id=job.id,
                                cancel=self.stop)
                else:
                    tagger.run(place_of(job), job.id)
            except Exception:  # recorded in the job row by the tagger
                log.exception("album job %s failed", job.id)
            else:
                if self.stop.is_set():  # this process's shutdown: another takes it up
                    Job(self.gallery.store, job.id).release()

    def close(self) -> None:
        """Stop after the photos in hand; a job left running is taken up by the next
        process."""
        self.stop.set()
        self.wake.set()
        self.thread.join(timeout=30)
