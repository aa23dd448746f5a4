"""Album tagging on a real Ray cluster (a head and a worker node on this machine, `ray start`
with one CPU each): the same names as the local pool, a worker node killed mid-job, and the
service's album job on the cluster."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.album import build_album, enrollment
from bench.harness import named_faces
from faces.cluster import disconnect
from index.album.queue import AlbumJobs
from index.gallery import Gallery
from index.settings import IndexSettings

FACEPAIR = str(Path(sys.executable).parent / "facepair")


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, lfw_dir, detector) -> tuple[Path, Path]:
    """An album of LFW DevTest photos (bench.album) and a home with its four known people
    enrolled, to be copied by each test."""
    tmp = tmp_path_factory.mktemp("ray")
    build_album(tmp / "photos")
    g = Gallery(home=tmp / "enrolled", detector=detector)
    for name, photos in enrollment().items():
        for photo in photos:
            g.enroll(name, photo, face="center")
    g.close()
    return tmp / "photos", tmp / "enrolled"


def tag(album: Path, home: Path, *options: str, wait: bool = True
        ) -> subprocess.Popen | dict:
    env = {**os.environ, "FACEPAIR_HOME": str(home)}
    command = [FACEPAIR, "tag", str(album), *options, "--json"]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def figures(run: dict) -> dict:
    return {k: run[k] for k in ("status", "photos", "faces", "named", "unknown", "failed",
                                "unchanged", "skipped", "clusters")}


def test_a_worker_node_lost_mid_job_changes_nothing_the_job_records(enrolled, tmp_path,
                                                                      ray_cluster):
    """Tagged on the cluster, with its worker node killed once the first photos are recorded,
    the album gets the figures and the names of every photo that the local pool gives it, and
    each photo is recorded once; the job's photos were analysed on both nodes' actors."""
    album, home = enrolled
    local, remote = tmp_path / "local", tmp_path / "remote"
    shutil.copytree(home, local)
    shutil.copytree(home, remote)
    clean = tag(album, local, "--workers", "2")
    assert isinstance(clean, dict) and clean["named"] >= 30 and clean["photos"] >= 40

    running = tag(album, remote, "--ray", ray_cluster.address, wait=False)
    assert isinstance(running, subprocess.Popen)
    worker, killed_at = ray_cluster.nodes[1], None
    db = remote / "gallery.sqlite3"
    while running.poll() is None:
        with sqlite3.connect(db) as con:
            done = con.execute("SELECT max(done) FROM album_jobs").fetchone()[0] or 0
        if killed_at is None and done >= 8:
            ray_cluster.kill(worker, wait=True)  # (the job goes on meanwhile)
            killed_at = done
        time.sleep(0.2)
    out, err = running.communicate()
    assert running.returncode == 0, err[-3000:]
    assert killed_at is not None and killed_at < clean["photos"]
    run = json.loads(out.strip().splitlines()[-1])
    assert figures(run) == figures(clean)
    assert named_faces(remote, album) == named_faces(local, album)
    with sqlite3.connect(db) as con:
        rows, photos = con.execute(
            "SELECT count(*), count(DISTINCT root_id || ':' || path) FROM album_photos"
        ).fetchone()
    assert rows == photos == clean["photos"]
    ray_cluster.add_node()  # for the tests after this one


def test_the_services_album_job_runs_on_the_cluster(enrolled, tmp_path, ray_cluster, detector):
    """A job submitted with ray=True is kept as such and run on the cluster by the process that
    takes it, its sidecars written; a service without a cluster refuses such a job."""
    album, home = enrolled
    shutil.copytree(album / "parties", tmp_path / "photos")
    album = tmp_path / "photos"
    photos = len(list(album.glob("*.png")))
    shutil.copytree(home, tmp_path / "home")
    settings = IndexSettings(home=tmp_path / "home", ray_address=ray_cluster.address)
    g = Gallery(settings, detector=detector)
    jobs = AlbumJobs(g, workers=1)
    try:
        job = wait_job(g, jobs.submit(album, xmp=True, ray=True))
        assert job.ray and (job.status, job.done, job.failed) == ("done", photos, 0), job
        assert job.named >= 2 * photos  # group photos of two or three known people
        assert len(list(album.glob("*.png.xmp"))) == photos
    finally:
        jobs.close()
        g.close()
        disconnect()
    none = Gallery(IndexSettings(home=tmp_path / "home"), detector=detector)
    try:
        jobs = AlbumJobs(none, workers=1)
        with pytest.raises(Exception, match="FACEPAIR_RAY_ADDRESS"):
            jobs.submit(album, xmp=False, ray=True)
        jobs.close()
    finally:
        none.close()


def wait_job(g: Gallery, job_id: int, seconds: float = 300):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = g.store.jobs.get(job_id)
        assert job is not None
        if job.status not in ("queued", "running"):
            return job
        time.sleep(0.3)
    raise TimeoutError(f"album job {job_id} still runs")


class Pids:
    """A worker of a pool that answers with the process it runs in."""

    def __init__(self, device: str, threads: int, pool: str) -> None:
        self.pid = os.getpid()

    def __call__(self, records: list) -> list:
        return [(record, self.pid) for record in records]


def test_the_actors_stay_warm_between_jobs_and_leave_when_idle(ray_cluster):
    """A second job finds the first one's actors (the same processes); once idle for `keep`
    seconds they leave the cluster, and the next job starts new ones."""
    import ray

    from faces.cluster import NAMESPACE, connect, stream

    def job() -> dict[int, int]:
        pids: dict[int, int] = {}
        for batch in stream(ray_cluster.address, list(range(12)), int, {}, Pids,
                            {"pool": "warm-test"}, 2, keep=3):
            pids.update(batch)
        return pids

    def names() -> set[str]:
        return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                if a["namespace"] == NAMESPACE}

    connect(ray_cluster.address)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Pids, on the nodes
    try:
        before = names()
        first = job()
        assert sorted(first) == list(range(12))
        pool = names() - before
        assert pool
        second = job()
        assert sorted(second) == list(range(12))
        assert set(second.values()) <= set(first.values())  # the same actors
        assert pool <= names()
        deadline = time.monotonic() + 30
        while names() & pool and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not names() & pool, "idle actors stayed past their keep"
        third = job()
        assert sorted(third) == list(range(12))
        assert not set(third.values()) & set(first.values())
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        disconnect()
