"""The HTTP service end to end: a real `facepair serve` on 127.0.0.1 with the real model, talked
to over HTTP; and the web page driven in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from index.store import Store
from tests.test_gallery import side_by_side

ROOT = Path(__file__).resolve().parent.parent
FACEPAIR = str(Path(sys.executable).parent / "facepair")
AMELIE, CARLOS = "Amelie_Mauresmo", "Carlos_Moya"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home: Path) -> None:
        self.home, self.port = home, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "FACEPAIR_HOME": str(home), "OMP_NUM_THREADS": "2"}
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> dict:
        out = subprocess.run([FACEPAIR, *args, "--json"], env=self.env,
                             capture_output=True, text=True, check=True, cwd=ROOT)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def start(self, workers: int = 1, tries: int = 3) -> None:
        """Serve on the free port chosen; on another where some other process took it first
        (the port is free when chosen, not reserved)."""
        self.proc = subprocess.Popen(
            [FACEPAIR, "serve", "--port", str(self.port), "--workers", str(workers)],
            env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                stderr = self.proc.stderr.read().decode() if self.proc.stderr else ""
                if "address already in use" in stderr.lower() and tries > 1:
                    self.port = free_port()
                    self.url = f"http://127.0.0.1:{self.port}"
                    return self.start(workers, tries - 1)
                raise RuntimeError(stderr)
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise TimeoutError("the service did not become ready")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


@pytest.fixture(scope="module")
def server(tmp_path_factory, lfw_dir):
    s = Server(tmp_path_factory.mktemp("service"))
    s.albums = tmp_path_factory.mktemp("albums")
    s.env["FACEPAIR_ALBUM_ROOTS"] = json.dumps([str(s.albums)])
    s.env["FACEPAIR_ALBUM_WORKERS"] = "1"
    s.keys = {scope: s.cli("keys", "create", "--scope", scope)["key"]
              for scope in ("read", "write", "admin")}
    s.start()
    yield s
    s.stop()


def client(server: Server, scope: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {server.keys[scope]}"} if scope else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=120)


def photo(lfw: Path, name: str, i: int) -> Path:
    return lfw / name / f"{name}_{i:04d}.jpg"


def upload(path: Path, field: str = "photo") -> dict:
    return {field: (path.name, path.read_bytes(), "image/jpeg")}


def job_end(api: httpx.Client, job_id: int, seconds: float) -> dict:
    """An album job's state once it ended (done, failed or cancelled), or the last one seen
    within `seconds`."""
    deadline, state = time.monotonic() + seconds, {}
    while time.monotonic() < deadline:
        state = api.get(f"/v1/albums/jobs/{job_id}").json()
        if state["status"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.3)
    return state


def is_problem(r: httpx.Response, status: int, code: str | None = None) -> bool:
    body = r.json()
    ok = (r.status_code == status and r.headers["content-type"] == "application/problem+json"
          and body["status"] == status and body["detail"])
    return bool(ok and (code is None or body["code"] == code))


def test_keys_and_scopes(server: Server) -> None:
    anonymous = httpx.get(server.url + "/v1/people")
    assert is_problem(anonymous, 401, "no_key")
    wrong = httpx.get(server.url + "/v1/people", headers={"Authorization": "Bearer fp_nope"})
    assert is_problem(wrong, 401, "bad_key")
    with client(server, "read") as reader:
        assert reader.get("/v1/people").status_code == 200
        assert is_problem(reader.post("/v1/people", json={"name": "X"}), 403, "scope")
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert "facepair_requests_total" in httpx.get(server.url + "/metrics").text
    assert httpx.get(server.url + "/openapi.json").json()["info"]["title"] == "facepair"


def test_enroll_identify_verify_delete_and_restart(server: Server, lfw_dir: Path) -> None:
    with client(server, "write") as api:
        amelie = api.post("/v1/people", json={"name": "Amélie"}).json()
        carlos = api.post("/v1/people", json={"name": "Carlos", "note": "tennis"}).json()
        for person, name in ((amelie, AMELIE), (carlos, CARLOS)):
            for i in (1, 2, 3):
                r = api.post(f"/v1/people/{person['id']}/photos",
                             files=upload(photo(lfw_dir, name, i)))
                assert r.status_code == 201, r.text
        again = api.post(f"/v1/people/{amelie['id']}/photos",
                         files=upload(photo(lfw_dir, AMELIE, 1)))
        assert is_problem(again, 422, "duplicate_photo")
        found = api.post("/v1/identify", files=upload(photo(lfw_dir, AMELIE, 9))).json()
        named = [f["person"]["name"] for f in found["faces"] if f["person"]]
        assert named == ["Amélie"]
        assert set(found["faces"][0]) >= {"box", "person", "score", "candidates"}
        # the threshold in force: 6 faces are too few for the gallery's own estimate
        in_force = found["threshold_in_force"]
        assert in_force["source"] == "card" and in_force["threshold"] == found["threshold"]
        assert in_force["faces"] == 6 and in_force["fpir"]["of"] == 6
        status = api.get("/v1/status").json()
        assert status["faces"] == 6 and status["identify"]["threshold"] == found["threshold"]
        # several photos in one call: the photo of two faces gives the one that is Carlos
        pair = side_by_side(photo(lfw_dir, CARLOS, 4), photo(lfw_dir, AMELIE, 4))
        several = api.post(f"/v1/people/{carlos['id']}/enrollments", files=[
            ("photos", ("pair.png", pair, "image/png")),
            ("photos", ("c5.jpg", photo(lfw_dir, CARLOS, 5).read_bytes(), "image/jpeg"))])
        assert several.status_code == 200, several.text
        rows = several.json()["photos"]
        assert [r["status"] for r in rows] == ["enrolled", "enrolled"]
        assert rows[0]["face"]["box"][2] < 170  # the left face: Carlos
        # concurrent requests are detected and embedded in batches: same answers
        probes = [photo(lfw_dir, AMELIE, i) for i in (9, 10, 11)] + [
            photo(lfw_dir, CARLOS, i) for i in (9, 10, 11)]
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda p: api.post("/v1/identify", files=upload(p)).json(),
                                    probes))
        named = [[f["person"]["name"] for f in a["faces"] if f["person"]] for a in answers]
        assert named == [["Amélie"]] * 3 + [["Carlos"]] * 3, named
        stranger = api.post("/v1/identify", files=upload(photo(lfw_dir, "Celine_Dion", 1)))
        assert [f["person"] for f in stranger.json()["faces"]] == [None]
        same = api.post("/v1/verify", files={**upload(photo(lfw_dir, CARLOS, 7), "a"),
                                             **upload(photo(lfw_dir, CARLOS, 8), "b")}).json()
        assert same["same"] is True and same["score"] >= same["threshold"]
        vs_person = api.post("/v1/verify", files=upload(photo(lfw_dir, AMELIE, 7), "a"),
                             data={"person_id": str(carlos["id"])}).json()
        assert vs_person["same"] is False
        faces = api.post("/v1/detect", files=upload(photo(lfw_dir, CARLOS, 7))).json()["faces"]
        assert len(faces) >= 1 and len(faces[0]["landmarks"]) == 5
        renamed = api.patch(f"/v1/people/{carlos['id']}", json={"name": "Carlos Moya"}).json()
        assert renamed["name"] == "Carlos Moya" and renamed["note"] == "tennis"
        shown = api.get(f"/v1/people/{amelie['id']}").json()
        first = shown["photos"][0]["photo_id"]
        assert api.delete(f"/v1/people/{amelie['id']}/photos/{first}").status_code == 200
        assert api.get(f"/v1/people/{amelie['id']}").json()["faces"] == 2

    server.stop()
    server.start()
    with client(server, "write") as api:
        people = {p["name"]: p for p in api.get("/v1/people").json()["people"]}
        # (other tests share this server and add people of their own: only ours are counted)
        assert {n: people[n]["faces"] for n in ("Amélie", "Carlos Moya")} == {
            "Amélie": 2, "Carlos Moya": 5}
        found = api.post("/v1/identify", files=upload(photo(lfw_dir, CARLOS, 12))).json()
        assert [f["person"]["name"] for f in found["faces"] if f["person"]] == ["Carlos Moya"]
        assert api.delete(f"/v1/people/{people['Carlos Moya']['id']}").status_code == 200
        found = api.post("/v1/identify", files=upload(photo(lfw_dir, CARLOS, 12))).json()
        assert [f["person"] for f in found["faces"] if f["person"]] == []


def huge_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG whose header says 30,000×30,000 (a decompression bomb's first bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + 3 * width) * 4)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows)
            + chunk(b"IEND", b""))


def test_bad_inputs_are_4xx_problems(server: Server) -> None:
    with client(server, "admin") as api:
        text = {"photo": ("notes.txt", b"just some text, not a photo", "text/plain")}
        assert is_problem(api.post("/v1/identify", files=text), 415, "unsupported_photo")
        empty = {"photo": ("empty.jpg", b"", "image/jpeg")}
        assert is_problem(api.post("/v1/identify", files=empty), 400)
        assert is_problem(api.post("/v1/identify"), 422, "invalid_request")
        assert is_problem(api.post("/v1/identify", content=b"", headers={
            "content-type": "multipart/form-data; boundary=x"}), 422)
        bomb = {"photo": ("bomb.png", huge_png(), "image/png")}
        assert is_problem(api.post("/v1/identify", files=bomb), 413, "photo_too_large")
        big = {"photo": ("big.jpg", b"\xff" * (21 * 1024 * 1024), "image/jpeg")}
        assert is_problem(api.post("/v1/identify", files=big), 413, "upload_too_large")
        assert is_problem(api.get("/v1/people/987654"), 404, "not_found")
        assert is_problem(api.delete("/v1/people/987654"), 404, "not_found")
        assert is_problem(api.get("/v1/people/abc"), 422, "invalid_request")
        assert is_problem(api.post("/v1/people", json={"name": ""}), 422)
        # a control character would make the XMP sidecars that carry names invalid XML
        for name in ("George\u0001 W", "tab\tname", "nul\u0000"):
            assert is_problem(api.post("/v1/people", json={"name": name}), 422, "invalid_name")
        assert is_problem(api.post("/v1/people", content=b"{not json", headers={
            "content-type": "application/json"}), 422)
        assert is_problem(api.post("/v1/verify", files={"a": ("a.jpg", b"x", "image/jpeg")}),
                          422, "invalid_request")
        assert is_problem(api.get("/v1/nothing-here"), 404)
        lone = b'{"name": "\\ud960x"}'  # a valid JSON escape that is no text
        assert is_problem(api.post("/v1/people", content=lone, headers={
            "content-type": "application/json"}), 422)
        nul = b'{"path": "\\ud960\\u0000x"}'  # found by schemathesis: was a 500
        assert is_problem(api.post("/v1/albums/jobs", content=nul, headers={
            "content-type": "application/json"}), 422)


def test_album_jobs_over_http(server: Server, lfw_dir: Path) -> None:
    album = server.albums / "summer"
    album.mkdir()
    for i in (4, 5, 6):
        shutil.copy(photo(lfw_dir, "Celine_Dion", i), album / f"celine_{i}.jpg")
    shutil.copy(photo(lfw_dir, "Bill_Frist", 1), album / "bill.jpg")
    with client(server, "write") as api:
        celine = api.post("/v1/people", json={"name": "Céline"}).json()
        for i in (2, 3):
            api.post(f"/v1/people/{celine['id']}/photos",
                     files=upload(photo(lfw_dir, "Celine_Dion", i)))
        outside = api.post("/v1/albums/jobs", json={"path": str(lfw_dir)})
        assert is_problem(outside, 403, "path_not_allowed")
        assert is_problem(api.post("/v1/albums/jobs", json={"path": str(server.albums / "no")}),
                          404)
        job = api.post("/v1/albums/jobs", json={"path": str(album), "xmp": True})
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        state = job_end(api, job_id, 180)
        assert state["status"] == "done" and state["total"] == 4 and state["done"] == 4
        assert state["named"] >= 2 and len(list(album.glob("celine_*.jpg.xmp"))) >= 2
        # the folder became a root of its own: shown by name, listed with its folder here
        assert (state["root"], state["folder"], state["path"]) == ("summer", "", "summer")
        roots = api.get("/v1/albums/roots").json()["roots"]
        assert [(r["name"], r["folder"]) for r in roots] == [("summer", str(album.resolve()))]
        listed = api.get("/v1/albums/photos", params={"root": "summer:"}).json()
        assert listed["count"] == 4 and {(p["path"], p["local"]) for p in listed["photos"]} == {
            (f"summer:{f.name}", str(f.resolve())) for f in album.glob("*.jpg")}
        assert api.get(f"/v1/albums/photos/{listed['photos'][0]['id']}/image").status_code == 200
        assert is_problem(api.get("/v1/albums/photos", params={"root": "nowhere:x"}), 422,
                          "unknown_root")
        # flags are booleans; the process that ran it is an opaque name (host, pid, token)
        assert (state["xmp"], state["embed"], state["resumable"], state["cancel"]) == (
            True, False, True, False)
        host, pid, token = state["owner"].split(":")
        assert host == socket.gethostname() and pid.isdigit() and len(token) == 8
        assert is_problem(api.delete(f"/v1/albums/jobs/{job_id}"), 409, "not_running")
        assert is_problem(api.get("/v1/albums/jobs/999"), 404)


def test_a_face_drawn_by_hand_over_http_and_from_the_cli(server: Server, lfw_dir: Path) -> None:
    """A box drawn on a tagged photo where the detector found no face (its corner): kept,
    aligned from the box alone; over the face found, outside the photo or malformed: refused.
    The CLI draws on the photo given as its path, and says what is wrong with a box."""
    album = server.albums / "drawn"
    album.mkdir()
    shutil.copy(photo(lfw_dir, "Bill_Frist", 1), album / "bill.jpg")
    with client(server, "write") as api:
        job = api.post("/v1/albums/jobs", json={"path": str(album)}).json()
        assert job_end(api, job["id"], 120)["status"] == "done"
        (listed,) = api.get("/v1/albums/photos", params={"root": "drawn:"}).json()["photos"]
        (found,) = listed["faces"]
        faces = f"/v1/albums/photos/{listed['id']}/faces"
        assert is_problem(api.post(faces, json={"box": found["box"], "name": "Bill"}), 409,
                          "face_exists")
        assert is_problem(api.post(faces, json={"box": [200, 200, 300, 300]}), 422,
                          "box_outside_photo")
        assert is_problem(api.post(faces, json={"box": [1, 2, 3]}), 422, "invalid_request")
        assert is_problem(api.post(faces, json={"box": [10, 10, 12, 40]}), 422, "bad_box")
        assert is_problem(api.post("/v1/albums/photos/999/faces", json={"box": [0, 0, 9, 9]}),
                          404)
        drawn = api.post(faces, json={"box": [0, 0, 50, 50], "name": None})
        assert drawn.status_code == 201, drawn.text
        body = drawn.json()
        assert (body["landmarks"], body["unrecognisable"], body["person"]) == ("box", True, None)
        (again,) = api.get("/v1/albums/photos", params={"root": "drawn:"}).json()["photos"]
        assert [f["drawn"] for f in again["faces"]] == [False, True]
    bad = subprocess.run([FACEPAIR, "draw-face", str(album / "bill.jpg"), "--box", "1,2,x,4"],
                         env=server.env, capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "error: --box" in bad.stderr and "Traceback" not in bad.stderr
    added = server.cli("draw-face", str(album / "bill.jpg"), "--box", "200,0,250,50")
    assert added["box"] == [200.0, 0.0, 250.0, 50.0] and added["photo_id"] == listed["id"]


def test_an_import_tags_job_makes_people_from_a_tagged_folder(server: Server, lfw_dir: Path,
                                                               detector) -> None:
    from bench.tagged_album import digikam_sidecar, region_of
    from faces.decode import decode
    from faces.detect import pick_face

    album = server.albums / "tagged"
    album.mkdir()
    for i in (1, 2, 3):
        source = photo(lfw_dir, "Halle_Berry", i)
        face = pick_face(detector.detect(decode(source)), (250, 250))
        shutil.copy(source, album / f"halle_{i}.jpg")
        (album / f"halle_{i}.jpg.xmp").write_text(
            digikam_sidecar("Halle Berry", region_of(face.box, 250, 250), 250, 250))
    before = {p.name: p.read_bytes() for p in album.iterdir()}
    with client(server, "write") as api:
        job = api.post("/v1/albums/jobs", json={"path": str(album), "kind": "import-tags"})
        assert job.status_code == 202 and job.json()["kind"] == "import-tags", job.text
        state = job_end(api, job.json()["id"], 180)
        assert (state["status"], state["done"], state["named"]) == ("done", 3, 3), state
        people = {p["name"]: p["faces"] for p in api.get("/v1/people").json()["people"]}
        assert people["Halle Berry"] == 3
        bad = api.post("/v1/albums/jobs", json={"path": str(album), "kind": "everything"})
        assert bad.status_code == 422
    assert {p.name: p.read_bytes() for p in album.iterdir()} == before


def chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def test_the_web_apps_routes_refuse_clearly(server: Server) -> None:
    with client(server, "read") as api:
        roots = api.get("/v1/albums/folders").json()
        assert [f["path"] for f in roots["folders"]] == [str(server.albums.resolve())]
        assert is_problem(api.get("/v1/albums/folders", params={"path": "/etc"}), 403,
                          "path_not_allowed")
        assert is_problem(api.get("/v1/albums/photos", params={"root": "/"}), 403,
                          "path_not_allowed")
        assert is_problem(api.get("/v1/faces/999999/chip"), 404, "not_found")
        assert is_problem(api.get("/v1/album-faces/999999/chip"), 404, "not_found")
        assert is_problem(api.get("/v1/albums/photos/999999/image"), 404, "not_found")
        assert is_problem(api.post("/v1/suggestions/1", json={"answer": "yes"}), 403, "scope")
    with client(server, "write") as api:
        assert is_problem(api.post("/v1/suggestions/999999", json={"answer": "yes"}), 404)
        assert is_problem(api.post("/v1/suggestions/1", json={"answer": "maybe"}), 422)
        assert is_problem(api.post("/v1/clusters/999999/hide"), 404)
        assert is_problem(api.post("/v1/album-faces/999999/split"), 404)
        assert is_problem(api.post("/v1/people/999999/not-this",
                                   json={"face_id": 1, "kind": "album"}), 404)
    script = httpx.get(server.url + "/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert httpx.get(server.url + "/static/index.py").status_code == 404
    policy = httpx.get(server.url + "/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_made_up_methods_do_not_grow_the_metrics(server: Server) -> None:
    """Each made-up method name used to add a series to /metrics, for good."""
    before = len(httpx.get(server.url + "/metrics").text)
    for i in range(40):
        httpx.request(f"X{i:03d}" + "Y" * 2000, server.url + "/v1/people")
    text = httpx.get(server.url + "/metrics").text
    assert "YYYY" not in text and 'method="other"' in text
    assert len(text) - before < 5_000


def test_album_jobs_outlive_a_killed_service_and_cancel_from_any_worker(
        tmp_path: Path, lfw_dir: Path) -> None:
    """A job whose service was killed used to stay "running" for ever, and with several
    workers a cancel failed unless it reached the worker running the job. Job state lives in
    the store: the next service takes the job up and finishes it, and any worker cancels."""
    home, albums = tmp_path / "home", tmp_path / "albums"
    album = albums / "big"
    album.mkdir(parents=True)
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[:400]
    for folder in people:
        first = folder / f"{folder.name}_0001.jpg"
        shutil.copy(first, album / first.name)
    first = Server(home)
    first.env.update(FACEPAIR_ALBUM_ROOTS=json.dumps([str(albums)]), FACEPAIR_ALBUM_WORKERS="1")
    first.keys = {"write": first.cli("keys", "create", "--scope", "write")["key"]}
    first.start()
    with client(first, "write") as api:
        job_id = api.post("/v1/albums/jobs", json={"path": str(album)}).json()["id"]
        deadline = time.monotonic() + 120
        while api.get(f"/v1/albums/jobs/{job_id}").json()["done"] < 5:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert first.proc is not None
    first.proc.kill()  # kill -9: the job's process is gone mid-job
    first.proc.wait(timeout=30)
    first.proc = None
    store = Store(home / "gallery.sqlite3")
    job = store.jobs.get(job_id)
    store.close()
    assert job is not None and job.status == "running" and 5 <= job.done < len(people)

    second = Server(home)
    second.env.update(first.env)
    second.keys = first.keys
    second.start()
    try:
        with client(second, "write") as api:
            state = job_end(api, job_id, 300)
            # it goes on from the counts recorded with its photos: the figures of a run
            # never broken off
            assert (state["status"], state["done"], state["total"], state["unchanged"]) == (
                "done", len(people), len(people), 0)
    finally:
        second.stop()

    several = Server(home)
    several.env.update(first.env)
    several.keys = first.keys
    several.start(workers=2)
    try:
        (album / "new").mkdir()  # new photos: the next job has work to do
        for folder in sorted(p for p in lfw_dir.iterdir() if p.is_dir())[400:700]:
            shutil.copy(folder / f"{folder.name}_0001.jpg", album / "new")
        with client(several, "write") as api:
            job_id = api.post("/v1/albums/jobs", json={"path": str(album)}).json()["id"]
            deadline = time.monotonic() + 120
            while api.get(f"/v1/albums/jobs/{job_id}").json()["done"] < 1:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        # on a new connection, whichever worker answers: it is not always the one running it
        with client(several, "write") as api:
            assert api.delete(f"/v1/albums/jobs/{job_id}").status_code == 202
        with client(several, "write") as api:
            state = job_end(api, job_id, 120)
        assert state["status"] == "cancelled", state
    finally:
        several.stop()
