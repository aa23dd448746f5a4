"""A fault and soak run of `facepair serve --workers N`: many clients at once, hostile input, a
worker killed, a full disk; then whether anything acknowledged was lost.

    .venv/bin/python -m bench.soak [--minutes 10] [--clients 32] [--workers 2] [--json]

Each client loops over a mix of requests, as a family's scripts and browsers would send them:
identify (LFW photos, 4000×3000 photos and 50-megapixel PNGs, which outlast the 5 s request
timeout the run sets), enroll into people it creates with hostile names (markup, quotes,
right-to-left text, emoji; some with control characters or too long, which must be refused),
verify, detect, rename / merge / delete of its own people, listing and status, broken uploads
(empty, truncated, not a photo, over the size limit, a wrong key) and, from one client, album
jobs with XMP over a folder whose photos carry other tools' sidecars (one of them broken, a
broken symlink among the photos).

Midway one worker process is killed with SIGKILL (uvicorn starts another), and later the
store's disk is full for 45 s (RLIMIT_FSIZE of the workers set to the size their files have,
then lifted): writes then fail, and must fail cleanly.

It prints the answers by status and problem code; the 5xx answers other than timeouts (504),
`busy` and `storage_full` (503), which must be none; connections cut by the killed worker;
p50/p99 latency per kind of request; the service's resident memory after warm-up and at the
end; and, after the run, whether every acknowledged enrollment is there (merges followed,
deletions gone) and every sidecar parses, the other tools' ones with their own content. The
figures are also written to `soak.json`, and the service's log to `soak-service.log`, in the
benchmarks' cache (`bench.CACHE`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import resource
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np
from lxml import etree
from PIL import Image

from bench import CACHE
from bench.photos import lfw_dir
from bench.service_process import running_service

EXPECTED_5XX = {(504, "timeout"), (503, "busy"), (503, "storage_full")}
NAMES = ["<b>Ann</b>", "Bob & Co", 'Eve "the" ]]>', "Zoë", "\u0645\u062d\u0645\u062f\u200c\u0631",
         "👨\u200d👩\u200d👧 family", "Eve[/x]", "O'Brien", "  spaced  ", "&amp;"]
REFUSED_NAMES = ["George\u0001W", "x" * 300, "   ", "a\u202eb"]  # 422 each
FOREIGN = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
           '22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/'
           'xap/1.0/" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
           'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmp:Rating="3"><mwg-rs:Regions '
           'rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description '
           'mwg-rs:Name="Grandma" mwg-rs:Type="Face"><mwg-rs:Area stArea:x="0.1" stArea:y="0.1" '
           'stArea:w="0.05" stArea:h="0.05" stArea:unit="normalized"/></rdf:Description>'
           '</rdf:li></rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions></rdf:Description>'
           '</rdf:RDF></x:xmpmeta>')
BROKEN_SIDECAR = b"<x:xmpmeta><rdf:RDF"


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


class Photos:
    """What the clients send: LFW photos, large ones, and broken uploads."""

    def __init__(self, rng: random.Random) -> None:
        root = lfw_dir()
        people = sorted(p for p in root.iterdir() if p.is_dir())
        self.by_person = [sorted(p.glob("*.jpg")) for p in rng.sample(people, 300)]
        self.small = [p.read_bytes() for photos in self.by_person for p in photos[:2]]
        big = Image.open(self.by_person[0][0]).resize((4000, 3000))
        self.large = jpeg(big)
        side = 7071  # FACEPAIR_MAX_PIXELS (50 MP): a flat 16-bit PNG, small on the wire
        path = CACHE / f"soak_gray16_{side}.png"
        if not path.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            ramp = (np.arange(side, dtype=np.uint32) * 65535 // side).astype(np.uint16)
            Image.fromarray(np.tile(ramp, (side, 1))).save(path, optimize=True)
        self.huge = path.read_bytes()
        whole = self.small[0]
        self.broken = {"empty": b"", "truncated": whole[: len(whole) // 3],
                       "not_a_photo": b"%PDF-1.4 not a photo" * 50,
                       "oversize": b"\xff\xd8" + os.urandom(21 * 1024 * 1024)}


class Client(threading.Thread):
    """One client: its own people, their enrolled faces, and every answer it got."""

    def __init__(self, number: int, url: str, key: str, photos: Photos, deadline: float,
                 album: Path | None, seed: int) -> None:
        super().__init__(daemon=True)
        self.number, self.url, self.key, self.photos = number, url, key, photos
        self.deadline, self.album, self.rng = deadline, album, random.Random(seed)
        self.people: dict[int, set[int]] = {}  # person id → face ids acknowledged
        self.deleted: set[int] = set()
        self.uncertain: set[int] = set()  # a write whose answer was lost (a killed worker)
        self.answers: list[tuple[str, int, str, float]] = []  # kind, status, code, seconds
        self.cut = 0
        self.made = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=120,
                          headers={"Authorization": f"Bearer {self.key}"}) as api:
            self.api = api
            kinds = ["identify"] * 6 + ["enroll"] * 3 + ["verify"] * 2 + ["edit"] * 2 + [
                "broken"] * 3 + ["read"] * 2 + ["detect"]
            next_album = time.monotonic()
            while time.monotonic() < self.deadline:
                if self.album is not None and time.monotonic() >= next_album:
                    self.call("album", "POST", "/v1/albums/jobs",
                              json={"path": str(self.album), "xmp": True})
                    next_album = time.monotonic() + 60
                    continue
                getattr(self, self.rng.choice(kinds))()

    def call(self, kind: str, method: str, path: str, **kw) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            r = self.api.request(method, path, **kw)
        except httpx.TransportError:
            self.cut += 1
            return None
        code = ""
        if r.status_code >= 400 and r.headers.get("content-type", "").startswith(
                "application/problem+json"):
            code = r.json().get("code", "")
        self.answers.append((kind, r.status_code, code, time.perf_counter() - start))
        return r

    def photo(self) -> bytes:
        roll = self.rng.random()
        if roll < 0.03:
            return self.photos.huge
        if roll < 0.12:
            return self.photos.large
        return self.rng.choice(self.photos.small)

    def identify(self) -> None:
        self.call("identify", "POST", "/v1/identify", files={"photo": ("p.jpg", self.photo())})

    def detect(self) -> None:
        self.call("detect", "POST", "/v1/detect", files={"photo": ("p.jpg", self.photo())})

    def verify(self) -> None:
        a, b = self.rng.sample(self.photos.small, 2)
        self.call("verify", "POST", "/v1/verify", files={"a": ("a.jpg", a), "b": ("b.jpg", b)})

    def read(self) -> None:
        path = self.rng.choice(["/v1/people", "/v1/status"])
        self.call("read", "GET", path)

    def enroll(self) -> None:
        if len(self.people) < 3 or self.rng.random() < 0.3:
            self.made += 1
            if self.rng.random() < 0.1:
                self.call("name_refused", "POST", "/v1/people",
                          json={"name": self.rng.choice(REFUSED_NAMES)})
                return
            name = f"{self.rng.choice(NAMES)} {self.number}-{self.made}"
            r = self.call("person", "POST", "/v1/people", json={"name": name})
            if r is not None and r.status_code == 201:
                self.people[r.json()["id"]] = set()
            return
        person = self.rng.choice(sorted(self.people))
        photos = self.rng.choice(self.photos.by_person)
        data = self.rng.choice(photos).read_bytes()
        r = self.call("enroll", "POST", f"/v1/people/{person}/photos",
                      files={"photo": ("p.jpg", data)}, data={"face": "largest"})
        if r is None:
            self.uncertain.add(person)
        elif r.status_code == 201:
            self.people[person].add(r.json()["id"])

    def edit(self) -> None:
        if len(self.people) < 2:
            return self.enroll()
        what = self.rng.choice(["rename", "rename", "merge", "delete"])
        a, b = self.rng.sample(sorted(self.people), 2)
        if what == "rename":
            self.made += 1
            r = self.call("rename", "PATCH", f"/v1/people/{a}",
                          json={"name": f"{self.rng.choice(NAMES)} {self.number}-{self.made}"})
            if r is None:
                self.uncertain.add(a)
        elif what == "merge":
            r = self.call("merge", "POST", f"/v1/people/{a}/merge", json={"other": b})
            if r is None:
                self.uncertain |= {a, b}
            elif r.status_code == 200:
                self.people[a] |= self.people.pop(b)
                self.deleted.add(b)
        else:
            r = self.call("delete", "DELETE", f"/v1/people/{a}")
            if r is None:
                self.uncertain.add(a)
            elif r.status_code == 200:
                self.people.pop(a)
                self.deleted.add(a)

    def broken(self) -> None:
        what = self.rng.choice([*sorted(self.photos.broken), "wrong_key"])
        if what == "wrong_key":
            self.call("broken", "GET", "/v1/people", headers={"Authorization": "Bearer fp_no"})
            return
        self.call("broken", "POST", "/v1/identify",
                  files={"photo": ("b.jpg", self.photos.broken[what])})


def tree_pids(root: int) -> list[int]:
    """A process and its descendants (Linux: /proc)."""
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def build_album(root: Path, photos: Photos) -> list[Path]:
    """A folder of LFW photos; a third carry another tool's sidecar, one a broken sidecar,
    and a broken symlink lies among them. Returns the photos with a foreign sidecar."""
    root.mkdir(parents=True)
    foreign = []
    for i, paths in enumerate(photos.by_person[:120]):
        target = root / f"IMG {i:04d} ü&.jpg"
        target.write_bytes(paths[-1].read_bytes())
        if i % 3 == 0:
            target.with_name(target.name + ".xmp").write_text(FOREIGN)
            foreign.append(target)
    (root / "IMG 0001 ü&.jpg.xmp").write_bytes(BROKEN_SIDECAR)
    (root / "gone.jpg").symlink_to(root / "nowhere.jpg")
    return foreign


def check_sidecars(root: Path, foreign: list[Path]) -> dict:
    parsed, broken, kept = 0, [], 0
    for path in sorted(root.glob("*.xmp")):
        if path.name == "IMG 0001 ü&.jpg.xmp":  # broken on purpose: checked below
            continue
        try:
            doc = etree.parse(str(path))
            parsed += 1
        except etree.XMLSyntaxError:
            broken.append(path.name)
            continue
        if path.with_suffix("") in foreign:
            text = etree.tostring(doc).decode()
            kept += 'Rating="3"' in text and "Grandma" in text
    untouched = (root / "IMG 0001 ü&.jpg.xmp").read_bytes() == BROKEN_SIDECAR
    return {"sidecars_parsed": parsed, "unparsable": broken, "broken_one_untouched": untouched,
            "foreign_kept": kept, "foreign": len(foreign)}


def check_people(url: str, key: str, clients: list[Client]) -> dict:
    checked = missing = lingering = 0
    lost: list[dict] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                      timeout=120) as api:
        for c in clients:
            for person, faces in c.people.items():
                if person in c.uncertain:
                    continue
                r = api.get(f"/v1/people/{person}")
                have = {p["face_id"] for p in r.json()["photos"]} if r.status_code == 200 else set()
                checked += len(faces)
                missing += len(faces - have)
                if faces - have:
                    lost.append({"person": person, "status": r.status_code,
                                 "missing": sorted(faces - have), "have": sorted(have)})
            for person in c.deleted - c.uncertain:
                if api.get(f"/v1/people/{person}").status_code != 404:
                    lingering += 1
                    lost.append({"deleted_but_there": person})
    return {"acknowledged_faces_checked": checked, "acknowledged_faces_missing": missing,
            "deleted_people_still_there": lingering, "lost": lost[:20]}


def faults(server: subprocess.Popen, home: Path, begin: float, seconds: float
           ) -> tuple[list[str], int]:
    """The run's schedule, from `begin`: warm-up, a worker killed at 40 %, the disk full for
    45 s at 60 %. What happened when, and the service's memory after warm-up (MB)."""
    events = []
    time.sleep(min(30, seconds * 0.1))
    warm = round(rss_mb(tree_pids(server.pid)))
    time.sleep(max(0.0, begin + seconds * 0.4 - time.monotonic()))
    # the largest child is a worker (others are small helpers, as multiprocessing's)
    workers = [p for p in tree_pids(server.pid) if p != server.pid]
    if workers:
        victim = max(workers, key=lambda p: rss_mb([p]))
        size = rss_mb([victim])
        os.kill(victim, signal.SIGKILL)
        events.append(f"{time.monotonic() - begin:.0f} s: SIGKILL to worker {victim} "
                      f"({size:.0f} MB)")
    time.sleep(max(0.0, begin + seconds * 0.6 - time.monotonic()))
    full = max((f.stat().st_size for f in home.rglob("*") if f.is_file()), default=0)
    pids = [p for p in tree_pids(server.pid) if p != server.pid]
    hard = {}
    for pid in pids:  # the soft limit only: lifting it again needs no privilege
        with contextlib.suppress(ProcessLookupError):
            hard[pid] = resource.prlimit(pid, resource.RLIMIT_FSIZE)[1]
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (full, hard[pid]))
    events.append(f"{time.monotonic() - begin:.0f} s: disk full for 45 s "
                  f"(RLIMIT_FSIZE {full:,} bytes on {len(pids)} processes)")
    time.sleep(45)
    for pid, limit in hard.items():
        with contextlib.suppress(ProcessLookupError):
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, limit))
    return events, warm


def run(args: argparse.Namespace, tmp: Path, photos: Photos) -> tuple[dict, list[Client]]:
    """The soak run on a service over a home and albums in `tmp`: the clients, and what the
    run found (events, memory, acknowledged enrollments and sidecars checked afterwards)."""
    home, albums = tmp / "home", tmp / "albums"
    foreign = build_album(albums / "family", photos)
    env = {"FACEPAIR_REQUEST_TIMEOUT": "5", "FACEPAIR_ALBUM_ROOTS": json.dumps([str(albums)]),
           "FACEPAIR_ALBUM_WORKERS": "1", "OMP_NUM_THREADS": "1"}
    started: list = []
    with running_service(home, args.workers, env, started,
                         CACHE / "soak-service.log") as (url, key):
        server = started[0]
        seconds = args.minutes * 60
        begin = time.monotonic()
        clients = [Client(i, url, key, photos, begin + seconds,
                          albums / "family" if i == 0 else None, args.seed * 1000 + i)
                   for i in range(args.clients)]
        for c in clients:
            c.start()
        samples: list[tuple[float, list[float]]] = []
        sampling = threading.Event()

        def sample() -> None:  # each process's resident memory, every 2 s
            while not sampling.wait(2):
                samples.append((time.monotonic() - begin,
                                [rss_mb([p]) for p in tree_pids(server.pid)]))

        threading.Thread(target=sample, daemon=True).start()
        events, warm = faults(server, home, begin, seconds)
        for c in clients:
            c.join()
        memory = {"after_warm_up_mb": warm, "end_mb": round(rss_mb(tree_pids(server.pid)))}
        sampling.set()
        memory["largest_process_mb"] = round(max(max(m) for _, m in samples))
        memory["series_mb"] = [(round(t), [round(x) for x in m]) for t, m in samples[::5]]
        time.sleep(5)  # the album job in hand ends its chunk
        return {"minutes": args.minutes, "clients": args.clients, "workers": args.workers,
                "events": events, "memory": memory,
                **check_people(url, key, clients),
                **check_sidecars(albums / "family", foreign)}, clients


def answered(clients: list[Client], expected: frozenset = frozenset(EXPECTED_5XX)) -> dict:
    """The answers by status and problem code, the 5xx among them other than `expected`,
    the connections cut and the latency of each kind of request."""
    answers = [a for c in clients for a in c.answers]
    statuses = Counter(f"{s} {code}".strip() for _, s, code, _ in answers)
    unexpected = sum(n for k, n in statuses.items()
                     if int(k.split()[0]) >= 500 and tuple(
                         (int(k.split()[0]), k.split()[1] if " " in k else "")) not in
                     expected)
    latency = {}
    for kind in sorted({a[0] for a in answers}):
        times = np.array([t for k, _, _, t in answers if k == kind])
        latency[kind] = {"n": len(times), "p50_s": round(float(np.percentile(times, 50)), 3),
                         "p99_s": round(float(np.percentile(times, 99)), 3)}
    return {"requests": len(answers), "by_status": dict(sorted(statuses.items())),
            "unexpected_5xx": unexpected, "connections_cut": sum(c.cut for c in clients),
            "latency": latency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    photos = Photos(rng)
    with tempfile.TemporaryDirectory(prefix="facepair-soak-") as tmp:
        result, clients = run(args, Path(tmp), photos)
        result.update(answered(clients))
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "soak.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
        return
    report(result)


def report(result: dict) -> None:
    memory = result["memory"]
    print(f"{result['clients']} clients, {result['minutes']:g} min, serve --workers "
          f"{result['workers']}: {result['requests']:,} answers")
    for event in result["events"]:
        print(" ", event)
    print("  by status:", ", ".join(f"{k}: {v}" for k, v in result["by_status"].items()))
    print(f"  5xx other than timeouts, busy and storage_full: {result['unexpected_5xx']}; "
          f"connections cut: {result['connections_cut']}")
    for kind, row in result["latency"].items():
        print(f"  {kind:12s} n={row['n']:6d}  p50 {row['p50_s']:.3f} s  p99 {row['p99_s']:.3f} s")
    print(f"  memory: {memory['after_warm_up_mb']} MB after warm-up, {memory['end_mb']} MB "
          f"at the end (all processes); the largest process at most "
          f"{memory['largest_process_mb']} MB")
    print(f"  acknowledged faces: {result['acknowledged_faces_checked']} checked, "
          f"{result['acknowledged_faces_missing']} missing; deleted people still there: "
          f"{result['deleted_people_still_there']}")
    print(f"  sidecars: {result['sidecars_parsed']} parse, unparsable {result['unparsable']}, "
          f"the broken one untouched: {result['broken_one_untouched']}, other tools' content "
          f"kept in {result['foreign_kept']} of {result['foreign']}")


if __name__ == "__main__":
    main()
