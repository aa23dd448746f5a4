"""Replicas: several real `facepair serve` processes, each with a home of its own and nothing
shared on disk but the photo library, over one PostgreSQL database (`FACEPAIR_STORE`), talked
to over HTTP with the real model and real photos; and that database stopped and started again
under them.

The replicas of this module serve a cluster of its own (the last test stops it), and are shared
by its tests: each test uses people and albums of its own."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from index.errors import StoreUnavailable
from index.store import Store

ROOT = Path(__file__).resolve().parent.parent
SERVE = [sys.executable, "-c", "from service.cli import main; main()", "serve"]
BOUND = 5.0  # seconds within which a replica sees another's write
LEASE = 2  # FACEPAIR_JOB_LEASE of the replicas


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photo(lfw: Path, name: str, i: int) -> Path:
    return lfw / name / f"{name}_{i:04d}.jpg"


def upload(path: Path) -> dict:
    return {"photo": (path.name, path.read_bytes(), "image/jpeg")}


def within(seconds: float, check: Callable[[], Any], what: str) -> Any:
    """`check()`'s first truthy answer, asked until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what} (last: {found!r})")
        time.sleep(0.1)


class Replica:
    """One `facepair serve` process over the shared database, with a home of its own."""

    def __init__(self, name: str, home: Path, env: dict[str, str]) -> None:
        self.name, self.home = name, home
        self.env = {**env, "FACEPAIR_HOME": str(home)}
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def start(self) -> None:
        """Start serving (not waiting for it: `ready` does)."""
        self.port = free_port()
        with (self.home / "serve.log").open("ab") as log:
            self.proc = subprocess.Popen([*SERVE, "--port", str(self.port)], env=self.env,
                                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)

    def log(self) -> str:
        return (self.home / "serve.log").read_text(errors="replace")[-3000:]

    def ready(self, seconds: float = 120, tries: int = 3) -> None:
        """Wait until /readyz answers 200 (on another port where another process took the
        one chosen: a port is free when chosen, not reserved)."""
        assert self.proc is not None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "address already in use" in self.log().lower() and tries > 1:
                    self.start()
                    return self.ready(seconds, tries - 1)
                raise RuntimeError(f"{self.name} stopped:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not become ready:\n{self.log()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown of any kind."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def cluster():
    """A PostgreSQL cluster of this module's own: its last test stops and starts it."""
    from tests.postgres import throwaway

    with throwaway() as own:
        yield own


class Replicas:
    """The module's replicas over one database, and the photo library they share."""

    def __init__(self, store: str, base: Path) -> None:
        self.store, self.base = store, base
        self.albums = base / "albums"
        self.albums.mkdir()
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "FACEPAIR_STORE": store,
                    "FACEPAIR_AUTH": "false", "FACEPAIR_JOB_LEASE": str(LEASE),
                    "FACEPAIR_ALBUM_ROOTS": json.dumps([str(self.albums)]),
                    "FACEPAIR_ALBUM_WORKERS": "1", "FACEPAIR_THREADS": "1",
                    "OMP_NUM_THREADS": "1"}
        self.all: list[Replica] = []

    def add(self, name: str) -> Replica:
        home = self.base / name
        home.mkdir()
        replica = Replica(name, home, self.env)
        self.all.append(replica)
        return replica

    def running(self, count: int = 3) -> list[Replica]:
        """The first `count` replicas, each started again where a test killed it."""
        stopped = [r for r in self.all[:count] if not r.alive()]
        for r in stopped:
            r.start()
        for r in stopped:
            r.ready()
        return self.all[:count]

    def by_pid(self, pid: int) -> Replica:
        return next(r for r in self.all if r.proc is not None and r.proc.pid == pid)


@pytest.fixture(scope="module")
def replicas(cluster, tmp_path_factory) -> Iterator[Replicas]:
    """Three replicas, started together (each loads the models once)."""
    group = Replicas(cluster.new_database(), tmp_path_factory.mktemp("replicas"))
    for name in ("r1", "r2", "r3"):
        group.add(name)
    try:
        group.running()
        yield group
    finally:
        for r in group.all:
            r.stop()


def names_in(replica: Replica, path: Path) -> list[str | None]:
    """Who `replica` says the faces of a photo are."""
    with replica.api as api:
        answer = api.post("/v1/identify", files=upload(path))
    assert answer.status_code == 200, answer.text
    return [(f["person"] or {}).get("name") for f in answer.json()["faces"]]


def enroll(replica: Replica, person_id: int, path: Path) -> httpx.Response:
    with replica.api as api:
        return api.post(f"/v1/people/{person_id}/photos", files=upload(path))


def face_ids(replica: Replica, person_id: int) -> set[int]:
    with replica.api as api:
        person = api.get(f"/v1/people/{person_id}")
    assert person.status_code == 200, person.text
    return {p["face_id"] for p in person.json()["photos"]}


def metric(replica: Replica, name: str) -> str:
    """The lines of one metric in `replica`'s /metrics."""
    text = httpx.get(replica.url + "/metrics", timeout=10).text
    return "\n".join(line for line in text.splitlines() if line.startswith(name))


def faces_of(replica: Replica) -> float:
    return float(metric(replica, "facepair_gallery_faces ").split()[-1])


def test_a_write_on_one_replica_is_seen_by_the_others(replicas: Replicas, lfw_dir: Path
                                                      ) -> None:
    r1, r2, r3 = replicas.running()
    with r1.api as api:
        person = api.post("/v1/people", json={"name": "Colin"}).json()
        enrolled = api.post(f"/v1/people/{person['id']}/photos",
                            files=upload(photo(lfw_dir, "Colin_Powell", 1)))
    assert enrolled.status_code == 201, enrolled.text
    probe = photo(lfw_dir, "Colin_Powell", 2)
    within(BOUND, lambda: "Colin" in names_in(r2, probe), "r2 names the face enrolled on r1")
    with r3.api as api:
        renamed = api.patch(f"/v1/people/{person['id']}", json={"name": "Colin Powell"})
    assert renamed.status_code == 200, renamed.text
    for other in (r1, r2):
        within(BOUND, lambda other=other: "Colin Powell" in names_in(other, probe),
               f"{other.name} names the face by the name given on r3")
    # each replica is one series of its own, and counts the faces of its own index
    infos = {metric(r, "facepair_replica_info") for r in (r1, r2, r3)}
    assert len(infos) == 3 and all(f":{r.proc.pid}:" in metric(r, "facepair_replica_info")
                                   for r in (r1, r2, r3) if r.proc)
    within(BOUND, lambda: {faces_of(r) for r in (r1, r2, r3)} == {faces_of(r1)} and faces_of(
        r1) >= 1, "every replica's index holds the same faces")


def test_two_replicas_making_one_new_name_at_once_make_one_person(replicas: Replicas,
                                                                  lfw_dir: Path) -> None:
    r1, r2, _ = replicas.running()
    start = threading.Barrier(2)
    made: dict[str, httpx.Response] = {}

    def make(replica: Replica) -> None:
        with replica.api as api:
            start.wait()
            made[replica.name] = api.post("/v1/people", json={"name": "Tony"})

    threads = [threading.Thread(target=make, args=(r,)) for r in (r1, r2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in made.values())
    assert statuses == [201, 409], {k: v.text for k, v in made.items()}
    with r1.api as api:
        tonys = [p for p in api.get("/v1/people").json()["people"] if p["name"] == "Tony"]
    assert len(tonys) == 1
    # each replica enrolls a photo of its own into the one person
    for i, replica in enumerate((r1, r2), start=2):
        assert enroll(replica, tonys[0]["id"], photo(lfw_dir, "Tony_Blair", i)).status_code == 201
    assert len(face_ids(replicas.all[2], tonys[0]["id"])) == 2


def album(replicas: Replicas, lfw_dir: Path, name: str, people: list[str], each: int) -> Path:
    """A folder of the shared library: `each` photos of each of `people`."""
    folder = replicas.albums / name
    folder.mkdir()
    for who in people:
        for i in range(1, each + 1):
            shutil.copy(photo(lfw_dir, who, i), folder / f"{who}_{i}.jpg")
    return folder


def job_state(replica: Replica, job_id: int) -> dict:
    with replica.api as api:
        state = api.get(f"/v1/albums/jobs/{job_id}")
    assert state.status_code == 200, state.text
    return state.json()


def ended(replica: Replica, job_id: int, seconds: float) -> dict:
    return within(seconds, lambda: (lambda s: s if s["status"] in (
        "done", "failed", "cancelled", "interrupted") else None)(job_state(replica, job_id)),
        f"album job {job_id} ends")


def owner_pid(state: dict) -> int:
    return int(state["owner"].split(":")[1])


def test_a_replica_cancels_a_job_another_runs(replicas: Replicas, lfw_dir: Path) -> None:
    running = replicas.running()
    folder = album(replicas, lfw_dir, "to-cancel", ["Gerhard_Schroeder", "Ariel_Sharon"], 30)
    with running[0].api as api:
        job = api.post("/v1/albums/jobs", json={"path": str(folder)})
    assert job.status_code == 202, job.text
    state = within(30, lambda: (lambda s: s if s["owner"] and s["status"] == "running"
                                else None)(job_state(running[0], job.json()["id"])),
                   "a replica takes the job")
    runner = replicas.by_pid(owner_pid(state))
    other = next(r for r in running if r is not runner)
    with other.api as api:
        asked = api.delete(f"/v1/albums/jobs/{state['id']}")
    assert asked.status_code == 202, asked.text
    final = ended(other, state["id"], 60)
    assert final["status"] == "cancelled" and final["done"] < final["total"] == 60, final


def test_a_replica_started_late_catches_up(replicas: Replicas, lfw_dir: Path) -> None:
    r1, r2, _ = replicas.running()
    with r1.api as api:
        donald = api.post("/v1/people", json={"name": "Donald"}).json()["id"]
        hugo = api.post("/v1/people", json={"name": "Hugo"}).json()["id"]
    acknowledged: list[int] = []

    def write() -> None:  # enrollments on r1 and r2 while the late replica starts
        for i in range(1, 9):
            for replica, (who, pid) in ((r1, ("Donald_Rumsfeld", donald)),
                                        (r2, ("Hugo_Chavez", hugo))):
                done = enroll(replica, pid, photo(lfw_dir, who, i))
                if done.status_code == 201:
                    acknowledged.append(done.json()["id"])

    writer = threading.Thread(target=write)
    late = replicas.all[3] if len(replicas.all) > 3 else replicas.add("r4")
    writer.start()
    late.start()
    late.ready()
    writer.join()
    assert len(acknowledged) >= 12
    with r1.api as api:
        people_r1 = api.get("/v1/people").json()
    with late.api as api:
        assert api.get("/v1/people").json() == people_r1
    for who, name in (("Donald_Rumsfeld", "Donald"), ("Hugo_Chavez", "Hugo")):
        probe = photo(lfw_dir, who, 20)
        assert names_in(late, probe) == names_in(r1, probe)
        assert name in names_in(late, probe)
    assert face_ids(late, donald) | face_ids(late, hugo) == set(acknowledged)


def test_enrollments_acknowledged_by_a_killed_replica_are_kept(replicas: Replicas,
                                                               lfw_dir: Path) -> None:
    r1 = replicas.running()[0]
    victim = replicas.all[3] if len(replicas.all) > 3 else replicas.add("r4")
    if not victim.alive():
        victim.start()
        victim.ready()
    with r1.api as api:
        person = api.post("/v1/people", json={"name": "Junichiro"}).json()["id"]
    acknowledged: list[int] = []
    answered = threading.Event()

    def write() -> None:
        for i in range(1, 40):
            try:
                done = enroll(victim, person, photo(lfw_dir, "Junichiro_Koizumi", i))
            except httpx.TransportError:
                return  # killed
            if done.status_code == 201:
                acknowledged.append(done.json()["id"])
                if len(acknowledged) >= 3:
                    answered.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert answered.wait(60), victim.log()
    victim.kill()
    writer.join()
    assert len(acknowledged) >= 3
    assert set(acknowledged) <= face_ids(r1, person)
    within(BOUND, lambda: "Junichiro" in names_in(r1, photo(lfw_dir, "Junichiro_Koizumi", 50)),
           "r1 names the person the killed replica enrolled")


FIGURES = ("status", "total", "done", "unchanged", "faces", "named", "unknown", "skipped",
           "failed")


def test_a_killed_replicas_album_job_is_taken_over_and_ends_as_a_clean_run(
        replicas: Replicas, lfw_dir: Path) -> None:
    running = replicas.running()
    people = ["Jean_Chretien", "John_Ashcroft", "Jacques_Chirac"]
    clean, broken = (album(replicas, lfw_dir, name, people, 12) for name in ("clean", "broken"))
    with running[0].api as api:
        first = api.post("/v1/albums/jobs", json={"path": str(clean)}).json()["id"]
    expected = ended(running[0], first, 120)
    assert expected["status"] == "done" and expected["total"] == 36, expected
    with running[1].api as api:
        second = api.post("/v1/albums/jobs", json={"path": str(broken)}).json()["id"]
    state = within(60, lambda: (lambda s: s if s["owner"] and s["done"] > 0 else None)(
        job_state(running[1], second)), "the job records its first photos")
    assert state["done"] < state["total"], "the job ended before it could be broken off"
    victim = replicas.by_pid(owner_pid(state))
    victim.kill()
    survivor = next(r for r in running if r is not victim)
    final = ended(survivor, second, 120)
    assert victim.proc is not None and owner_pid(final) != victim.proc.pid
    assert {k: final[k] for k in FIGURES} == {k: expected[k] for k in FIGURES}
    with survivor.api as api:
        photos = api.get("/v1/albums/photos", params={"root": str(broken)})
    assert photos.status_code == 200, photos.text


Answer = tuple[float, str, int, str, str | None]  # when, what, status, code, Retry-After


class Load:
    """A light load while the store comes and goes: enrollments of new photos on one replica,
    one after another, and identify on another; every answer is kept."""

    def __init__(self, enroll_on: Replica, ask_on: Replica, person: int, lfw: Path) -> None:
        self.enroll_on, self.ask_on, self.person, self.lfw = enroll_on, ask_on, person, lfw
        self.answers: list[Answer] = []
        self.acknowledged: list[int] = []  # the faces enrolled with a 201
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._enroll), threading.Thread(target=self._ask)]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join()

    def _keep(self, what: str, answer: httpx.Response) -> None:
        code = answer.json().get("code", "") if answer.status_code >= 400 else ""
        self.answers.append((time.monotonic(), what, answer.status_code, code,
                             answer.headers.get("retry-after")))

    def _enroll(self) -> None:
        with self.enroll_on.api as api:
            for i in range(1, 400):
                if self.stopping.is_set():
                    return
                answer = api.post(f"/v1/people/{self.person}/photos",
                                  files=upload(photo(self.lfw, "George_W_Bush", i)))
                self._keep("enroll", answer)
                if answer.status_code == 201:
                    self.acknowledged.append(answer.json()["id"])
                elif answer.status_code == 503:
                    time.sleep(0.2)

    def _ask(self) -> None:
        with self.ask_on.api as api:
            while not self.stopping.is_set():
                self._keep("identify", api.post("/v1/identify", files=upload(
                    photo(self.lfw, "George_W_Bush", 500))))
                time.sleep(0.2)

    def seen(self, what: str, status: int, since: float) -> bool:
        return any(w == what and s == status for when, w, s, _, _ in self.answers
                   if when > since)


def test_the_store_stopped_and_started_under_load(replicas: Replicas, cluster, lfw_dir: Path
                                                  ) -> None:
    """PostgreSQL stopped under enrollments, identify and an album job, and started again:
    503 `store_unavailable` with Retry-After meanwhile (never a 500), /readyz 503 on every
    replica, then each replica by itself ready again, every acknowledged enrollment kept,
    and the album job broken off taken up again to its end."""
    running = replicas.running()
    pids = [r.proc.pid for r in running if r.proc]
    with running[0].api as api:
        person = api.post("/v1/people", json={"name": "George"}).json()["id"]
        folder = album(replicas, lfw_dir, "during", ["Vladimir_Putin", "Serena_Williams"], 15)
        job = api.post("/v1/albums/jobs", json={"path": str(folder)}).json()["id"]
    up = 0.0
    with Load(running[0], running[1], person, lfw_dir) as load:
        try:
            within(60, lambda: len(load.acknowledged) >= 2 and job_state(
                running[2], job)["done"] > 0, "enrollments and a job under way")
            cluster.stop()
            down = time.monotonic()
            within(20, lambda: load.seen("enroll", 503, down) and load.seen(
                "identify", 503, down), "503s while the store is down")
            for r in running:
                ready = within(5, lambda r=r: (lambda a: a if a.status_code == 503 else None)(
                    httpx.get(r.url + "/readyz", timeout=10)), f"{r.name}'s /readyz says 503")
                assert ready.json()["code"] == "store_unavailable" and ready.headers["retry-after"]
            with running[2].api as api:
                listed = api.get("/v1/people")
            assert listed.status_code == 503 and listed.json()["code"] == "store_unavailable"
            assert "host=" not in listed.text and listed.headers["retry-after"]
            cluster.start()
            up = time.monotonic()
            for r in running:
                within(20, lambda r=r: httpx.get(r.url + "/readyz", timeout=10).status_code
                       == 200, f"{r.name} ready again by itself")
            within(60, lambda: load.seen("enroll", 201, up) and load.seen("identify", 200, up),
                   "enrollments and identify answered after the start")
        finally:
            if not up:  # a failure while it was down: the module's other tests need it
                cluster.start()
    assert [r.proc.pid for r in running if r.proc] == pids and all(r.alive() for r in running)
    wrong = [a for a in load.answers if a[2] not in (200, 201, 422)
             and not (a[2] == 503 and a[3] == "store_unavailable" and a[4])]
    assert not wrong, wrong
    assert set(load.acknowledged) <= face_ids(running[1], person)
    final = ended(running[1], job, 120)
    assert (final["status"], final["total"], final["done"], final["unchanged"]) == (
        "done", 30, 30, 0), final


def test_the_store_says_unavailable_and_recovers(cluster) -> None:
    """Store-level: a server stopped under an open transaction, a server gone, a server back."""
    store = Store(cluster.new_database())
    try:
        store.people.add("Before")
        with pytest.raises(StoreUnavailable) as cut, store.transaction():
            store.people.add("Cut off")
            cluster.stop()  # fast: every session's transaction rolled back, its client cut
            store.people.add("After the cut")
        assert "cannot be reached" in cut.value.message
        try:
            with pytest.raises(StoreUnavailable):
                store.ping()
            with pytest.raises(StoreUnavailable):
                store.people.add("While down")
            with pytest.raises(StoreUnavailable):
                store.changes.head()
        finally:
            cluster.start()
        store.ping()
        store.people.add("After")
        assert sorted(p.name for p in store.people.all()) == ["After", "Before"]
    finally:
        store.close()


def test_readiness_asks_the_store_at_most_once_a_second(cluster) -> None:
    """A flood of /readyz calls makes one round trip to the database a second."""
    from service.routes.ops import StoreCheck

    store = Store(cluster.new_database())
    asked: list[float] = []
    ping = store.ping

    def counted() -> None:
        asked.append(time.monotonic())
        ping()

    store.ping = counted  # type: ignore[method-assign]
    check = StoreCheck(store)

    async def flood() -> list[str | None]:
        return list(await asyncio.gather(*(check.problem() for _ in range(50))))

    async def floods() -> tuple[list[str | None], list[str | None], list[str | None]]:
        first, again = await flood(), await flood()
        await asyncio.sleep(1.05)
        cluster.stop()
        try:
            return first, again, await flood()
        finally:
            cluster.start()

    try:
        first, again, down = asyncio.run(floods())
        assert first == again == [None] * 50
        assert len(asked) == 2 and len(set(down)) == 1
        assert down[0] is not None and "cannot be reached" in down[0]
    finally:
        store.close()


def test_a_command_says_the_store_cannot_be_reached(tmp_path: Path) -> None:
    """A command over a PostgreSQL that does not answer: one line on stderr naming the
    database and why, exit status 2, and with --json the error's code; `serve` says so
    before it starts."""
    nowhere = f"postgresql://facepair@/gallery?host={tmp_path}&port=1"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FACEPAIR_STORE": nowhere,
           "FACEPAIR_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-c", "from service.cli import main; main()", "keys", "list"]
    plain = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and plain.stdout == ""
    line = plain.stderr.strip()
    assert "\n" not in line and line.startswith("error: the gallery's database postgresql://")
    assert "cannot be reached" in line and "Traceback" not in line
    as_json = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True,
                             timeout=120)
    error = json.loads(as_json.stdout.strip().splitlines()[-1])["error"]
    assert as_json.returncode == 2 and error["code"] == "store_unavailable"
    serve = subprocess.run([*SERVE, "--port", str(free_port())], env=env, capture_output=True,
                           text=True, timeout=120)
    assert serve.returncode == 2 and "cannot be reached" in serve.stderr.strip().splitlines()[-1]
