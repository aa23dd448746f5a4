"""An album job's life, in one place: made (by a command, or queued for the service), taken
by a process, its photos found, its progress recorded with each chunk, a cancel asked by any
process, and its end (done, cancelled, failed; interrupted when its process is gone).

A job's state lives in the store, so any process of the service, on any host, answers for
any job, and a job outlives the process that ran it. Its owner (host, process id, a random
part) holds it by a lease that it renews while the job runs (`FACEPAIR_JOB_LEASE`, 30 s):
once the lease lapses any process takes the job over; a process of the owner's own host
does so at once when no process has the owner's id.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from faces.errors import NotFound
from index.errors import StoreUnavailable
from index.gallery import Gallery
from index.replica import owner_name
from index.results import AlbumJobOut
from index.roots import Place
from index.store import AlbumJob, Root, Store

Problem = tuple[str, str, str]  # path, problem, detail
log = logging.getLogger("facepair.jobs")


def alive(owner: str) -> bool:
    """Whether the process that owns a job still runs, as far as this host can tell at once:
    a process of another host is taken to be alive (its lease tells when it is gone)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        return True
    return True


def new_job(store: Store, place: Place, xmp: bool, embed: bool = False, kind: str = "tag",
            lease: float | None = None, ray: bool = False) -> int:
    """A job's row for a root's folder: run by this process, held for `lease` seconds
    (renewed while it runs), or, without a lease, queued for a service process to take up.
    Jobs of commands that were killed are marked interrupted on the way."""
    root_id, folder = place.part
    if lease is None:
        return store.jobs.add(root_id, folder, xmp, None, True, embed, kind, ray=ray)
    store.jobs.interrupt_orphans(alive)
    return store.jobs.add(root_id, folder, xmp, owner_name(), False, embed, kind, lease, ray)


def claim(store: Store, lease: float, roots: set[int] | None = None) -> AlbumJob | None:
    """The oldest queued job, or one whose owner is gone, taken by this process; `roots`:
    only jobs of these roots (those with a folder on this host)."""
    return store.jobs.claim(owner_name(), lease, alive, roots)


def place_of(job: AlbumJob) -> Place:
    """What a job tags: its root and the folder inside it."""
    return Place(Root(job.root_id, job.root, "", None), job.folder)


@dataclass
class Job:
    """A running job's handle: what the tagging run tells the store about it."""

    store: Store
    id: int

    @contextmanager
    def held(self, lease: float) -> Iterator[None]:
        """While the block runs, this process's lease on the job is renewed (every third of
        `lease`), so no other process takes it over."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(lease / 3):
                try:
                    if not self.store.jobs.renew(self.id, owner_name(), lease):
                        log.warning("album job %s: its lease went to another process",
                                    self.id)
                        return
                except StoreUnavailable as exc:  # the next renewal tries again
                    log.warning("album job %s: its lease was not renewed: %s", self.id,
                                exc.message)
                except Exception:
                    log.warning("album job %s: its lease was not renewed", self.id,
                                exc_info=True)

        thread = threading.Thread(target=renew, name=f"lease-{self.id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=lease)

    def found(self, total: int, unchanged: int, skipped: int, unreadable: list[Problem]) -> None:
        """The photos are listed: `total` to read, the `unreadable` ones among them."""
        self.store.jobs.add_problems(self.id, unreadable)
        self.store.jobs.start(self.id, total, unchanged, skipped, len(unreadable))

    def before(self) -> AlbumJob | None:
        """The job as the store has it (its counts so far, where it was taken up again)."""
        return self.store.jobs.get(self.id)

    def resumed(self, before: AlbumJob, total: int) -> None:
        """Taken up again: running, `total` photos in all, its counts as they were recorded
        with its photos."""
        with self.store.transaction():
            self.store.jobs.start(self.id, total, before.unchanged, before.skipped,
                                  before.failed)
            self.progress(before.done, before.faces, before.named, before.unknown,
                          before.failed)

    def progress(self, done: int, faces: int, named: int, unknown: int, failed: int) -> None:
        """The counts so far (within the write that records the latest photos)."""
        self.store.jobs.progress(self.id, done, faces, named, unknown, failed)

    def problems(self, problems: list[Problem]) -> None:
        self.store.jobs.add_problems(self.id, problems)

    def cancelled(self) -> bool:
        """Whether any process asked this job to stop."""
        return self.store.jobs.cancelled(self.id)

    def end(self, status: str) -> None:
        self.store.jobs.end(self.id, status)

    def failed(self, exc: BaseException) -> None:
        self.store.jobs.end(self.id, "failed", f"{type(exc).__name__}: {exc}")

    def release(self) -> None:
        """Stopped by this process (its shutdown, the store away), not cancelled: back to the
        queue for the next service process, unless a cancel was asked or another process
        took it over meanwhile."""
        if not self.cancelled():
            self.store.jobs.release(self.id, owner_name())


def status(gallery: Gallery, job_id: int) -> AlbumJobOut:
    """A job as the API and the CLI show it, with its first problems."""
    return AlbumJobOut.of(_existing(gallery, job_id), *gallery.store.jobs.problems(job_id))


def cancel(gallery: Gallery, job_id: int) -> bool:
    """Ask a queued or running job to stop; whether it was queued or running."""
    _existing(gallery, job_id)
    return gallery.store.jobs.cancel(job_id)


def _existing(gallery: Gallery, job_id: int) -> AlbumJob:
    found = gallery.store.jobs.get(job_id)
    if found is None:
        raise NotFound(f"no album job with id {job_id}")
    return found
