"""Album jobs: a queue in the store that any process of the service takes work from, each
job's progress and what it could not do."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from sqlalchemy import Connection, Row, func, select, update

from index.store import schema as t
from index.store.database import Database
from index.store.records import AlbumJob, Problem
from index.store.shared import inserted_id, now

J = t.album_jobs.c
JOB = (t.album_jobs, t.roots.c.name.label("root"))
ACTIVE = ("queued", "running")


def _job(row: Row) -> AlbumJob:
    m = row._mapping
    return AlbumJob(**{k: m[k] for k in AlbumJob.__dataclass_fields__})


def _gone(row: Row, clock: float, alive: Callable[[str], bool]) -> bool:
    """Whether a job's owner is gone: its lease lapsed (or it never had one), or its host
    says the process is not running."""
    return row.lease_until is None or row.lease_until < clock or not alive(row.owner)


def _status(conn: Connection, job_id: int, status: str, error: str | None = None) -> None:
    conn.execute(update(t.album_jobs).where(J.id == job_id).values(
        status=status, error=func.coalesce(error, J.error), updated=now()))


class JobsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, root_id: int, folder: str, xmp: bool, owner: str | None, resumable: bool,
            embed: bool = False, kind: str = "tag", lease: float = 0.0, ray: bool = False
            ) -> int:
        """A job of a root's folder ("": the whole root): queued (`owner` None), or run by
        `owner`, held for `lease` seconds."""
        with self.db.transaction() as conn:
            return inserted_id(conn.execute(t.album_jobs.insert().values(
                root_id=root_id, folder=folder, status="queued", xmp=xmp, created=now(),
                updated=now(), owner=owner, resumable=resumable, embed=embed, kind=kind,
                ray=ray,
                lease_until=time.time() + lease if owner else None)
            ))

    def get(self, job_id: int) -> AlbumJob | None:
        with self.db.reading() as conn:
            row = conn.execute(select(*JOB).join(t.roots, t.roots.c.id == J.root_id)
                               .where(J.id == job_id)).first()
        return None if row is None else _job(row)

    def claim(self, owner: str, lease: float, alive: Callable[[str], bool] = lambda _: True,
              roots: Collection[int] | None = None) -> AlbumJob | None:
        """Take the oldest service job that waits for a process, or whose owner is gone: it
        becomes `owner`'s, held for `lease` seconds (`renew` holds it longer). An owner is
        gone when its lease has lapsed, or when `alive(owner)` says so (its own host can tell
        at once). Jobs of a gone process that cannot be taken up (a CLI's) are marked
        interrupted on the way. The rows are locked as they are read (others skip them) and
        the update names the owner it saw: two processes never take one job. `roots`: only
        jobs of these roots (those the process can reach; default: any)."""
        clock = time.time()
        mine = J.root_id.in_(list(roots)) if roots is not None else J.root_id.is_not(None)
        with self.db.transaction() as conn:
            rows = conn.execute(select(t.album_jobs).where(
                J.status.in_(ACTIVE), J.owner.is_(None) | (J.owner != owner), mine)
                .order_by(J.id).with_for_update(skip_locked=True))
            for row in rows.all():
                if row.owner is not None and not _gone(row, clock, alive):
                    continue
                if not row.resumable:
                    _status(conn, row.id, "interrupted", "the process running it stopped")
                    continue
                seen = J.owner.is_(None) if row.owner is None else J.owner == row.owner
                taken = conn.execute(update(t.album_jobs).where(J.id == row.id, seen).values(
                    owner=owner, lease_until=clock + lease, updated=now())).rowcount
                if taken:
                    return self.get(row.id)
        return None

    def waiting(self) -> int:
        """How many service jobs are queued or running (or were, when their process
        stopped): the jobs a service process takes up."""
        with self.db.reading() as conn:
            return int(conn.execute(select(func.count()).select_from(t.album_jobs).where(
                J.status.in_(ACTIVE), J.resumable)).scalar_one())

    def renew(self, job_id: int, owner: str, lease: float) -> bool:
        """Hold `owner`'s job `lease` seconds more; whether it is still theirs."""
        with self.db.transaction() as conn:
            return bool(conn.execute(update(t.album_jobs).where(
                J.id == job_id, J.owner == owner).values(lease_until=time.time() + lease)
            ).rowcount)

    def interrupt_orphans(self, alive: Callable[[str], bool]) -> int:
        """Mark interrupted the command-line jobs whose process is gone (killed mid-job)."""
        clock = time.time()
        with self.db.transaction() as conn:
            rows = conn.execute(select(J.id, J.owner, J.lease_until).where(
                J.status.in_(ACTIVE), ~J.resumable, J.owner.is_not(None))).all()
            gone = [r.id for r in rows if _gone(r, clock, alive)]
            for job_id in gone:
                _status(conn, job_id, "interrupted", "the process running it stopped")
        return len(gone)

    def cancel(self, job_id: int) -> bool:
        """Ask a queued or running job to stop (whichever process runs it); one that no
        process has taken yet stops at once. Whether it was queued or running."""
        with self.db.transaction() as conn:
            asked = conn.execute(update(t.album_jobs).where(J.id == job_id, J.status.in_(ACTIVE))
                                 .values(cancel=True, updated=now())).rowcount
            conn.execute(update(t.album_jobs).where(J.id == job_id, J.status.in_(ACTIVE),
                                                    J.owner.is_(None))
                         .values(status="cancelled", updated=now()))
        return bool(asked)

    def cancelled(self, job_id: int) -> bool:
        with self.db.reading() as conn:
            flag = conn.execute(select(J.cancel).where(J.id == job_id)).scalar()
        return flag is None or bool(flag)

    def start(self, job_id: int, total: int, unchanged: int, skipped: int, failed: int) -> None:
        """A job has found its photos: `total` to read (`failed` of them unreadable)."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_jobs).where(J.id == job_id).values(
                status="running", total=total, unchanged=unchanged, skipped=skipped,
                failed=failed, done=failed, updated=now()))

    def progress(self, job_id: int, done: int, faces: int, named: int, unknown: int,
                 failed: int) -> None:
        """A job's counts so far (within the write that records its latest photos, where the
        caller holds one)."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_jobs).where(J.id == job_id).values(
                done=done, faces=faces, named=named, unknown=unknown, failed=failed,
                updated=now()))

    def end(self, job_id: int, status: str, error: str | None = None) -> None:
        """A job has stopped: done, cancelled, failed (with `error`)."""
        with self.db.transaction() as conn:
            _status(conn, job_id, status, error)

    def release(self, job_id: int, owner: str) -> None:
        """A job this process stops without finishing goes back to the queue, for the next
        service process to take up, while it is still `owner`'s."""
        with self.db.transaction() as conn:
            conn.execute(update(t.album_jobs).where(J.id == job_id, J.owner == owner)
                         .values(status="queued", owner=None, updated=now()))

    # -- problems -----------------------------------------------------------------------------

    def add_problems(self, job_id: int, problems: list[tuple[str, str, str]]) -> None:
        """Record (path, problem, detail) rows for a job."""
        if problems:
            with self.db.transaction() as conn:
                conn.execute(t.album_problems.insert(), [
                    {"job_id": job_id, "path": p, "problem": k, "detail": d}
                    for p, k, d in problems])

    def problems(self, job_id: int, limit: int = 100) -> tuple[int, list[Problem]]:
        """How many problems a job recorded, and the first `limit` of them."""
        q = t.album_problems.c
        with self.db.reading() as conn:
            count = conn.execute(select(func.count()).select_from(t.album_problems)
                                 .where(q.job_id == job_id)).scalar_one()
            rows = conn.execute(select(q.path, q.problem, q.detail).where(q.job_id == job_id)
                                .order_by(q.id).limit(limit))
            return int(count), [Problem(*r) for r in rows]
