"""Album jobs of the service: their state lives in the store, so that any process of the
service answers for any job and a job outlives the process that ran it.

Each service process runs at most one job at a time, on a thread of its own, taking the
oldest job that waits for a process or whose process is gone (`JobsRepository.claim`; a
process of this host counts as gone when no process has its pid). A job taken up again
resumes where it stopped: the photos it tagged are unchanged and skipped. A cancel is a flag
in the job's row, seen by the process that runs it after the photos in hand.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from index.albums import AlbumTagger, alive, owner_name
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

    def submit(self, root: Path, xmp: bool, embed: bool = False, kind: str = "tag") -> int:
        """Queue a job (`kind`: "tag" the album, or "import-tags", its face tags); the first
        idle process of the service takes it."""
        job_id = AlbumTagger(self.gallery, xmp=xmp, embed=embed).start_job(
            root, owner=None, resumable=True, kind=kind)
        self.wake.set()
        return job_id

    def _loop(self) -> None:
        me = owner_name()
        while not self.stop.is_set():
            try:
                job = self.gallery.store.jobs.claim(me, alive)
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
                    import_tags(self.gallery, Path(job.root), self.workers, job_id=job.id,
                                cancel=self.stop)
                else:
                    tagger.run(Path(job.root), job.id)
            except Exception:  # recorded in the job row by the tagger
                log.exception("album job %s failed", job.id)
            else:
                if self.stop.is_set() and not self.gallery.store.jobs.cancelled(job.id):
                    # stopped by this process's shutdown, not cancelled: another takes it up
                    self.gallery.store.jobs.release(job.id)

    def close(self) -> None:
        """Stop after the photos in hand; a job left running is taken up by the next
        process."""
        self.stop.set()
        self.wake.set()
        self.thread.join(timeout=30)
