"""The service under faults, in process (the real gallery, detector and model): timeouts that
do not undo writes, the key checked before the body, bounded queues, security headers."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faces.decode import decode
from index.gallery import Gallery
from index.store import Store
from service import keys
from service.app import create_app
from service.batching import Busy, IdentifyBatcher
from service.settings import ServiceSettings

NAME = "Amelie_Mauresmo"


def jpeg(lfw: Path, i: int) -> dict:
    path = lfw / NAME / f"{NAME}_{i:04d}.jpg"
    return {"photo": (path.name, path.read_bytes(), "image/jpeg")}


@pytest.fixture
def gallery(tmp_path: Path, detector):
    g = Gallery(home=tmp_path / "home", detector=detector)
    yield g
    g.close()


def test_a_write_that_started_runs_to_completion_and_is_answered(gallery: Gallery,
                                                                  lfw_dir: Path) -> None:
    """An enrollment outlasting the timeout used to answer 504 and commit later; it is now
    answered with what it did. A read past the timeout still answers 504."""
    settings = ServiceSettings(auth=False, request_timeout=0.02, home=gallery.home)
    with TestClient(create_app(settings, gallery)) as api:
        person = api.post("/v1/people", json={"name": "Amélie"})
        assert person.status_code == 201
        pid = person.json()["id"]
        enrolled = api.post(f"/v1/people/{pid}/photos", files=jpeg(lfw_dir, 1))
        assert enrolled.status_code == 201, enrolled.text
        face = enrolled.json()["id"]
        assert [f.id for f in gallery.store.faces.of_person(pid)] == [face]
        slow = api.post("/v1/identify", files={"photo": ("big.png", big_png(), "image/png")})
        assert slow.status_code == 504 and slow.json()["code"] == "timeout"


def big_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (120, 100, 90)).save(buf, "PNG")
    return buf.getvalue()


def test_docs_and_metrics_can_require_a_key_and_answers_carry_security_headers(
        gallery: Gallery) -> None:
    _, key = keys.create_key(gallery.store, "read")
    settings = ServiceSettings(protect_docs=True, home=gallery.home)
    with TestClient(create_app(settings, gallery)) as api:
        for path in ("/openapi.json", "/metrics", "/docs"):
            refused = api.get(path)
            assert refused.status_code == 401 and refused.json()["code"] == "no_key", path
            assert refused.headers["x-content-type-options"] == "nosniff"
            assert api.get(path, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        page = api.get("/")
        assert page.status_code == 200 and page.headers["x-frame-options"] == "DENY"
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
    with TestClient(create_app(ServiceSettings(home=gallery.home), gallery)) as api:
        assert api.get("/openapi.json").status_code == 200  # open unless asked


def test_the_key_is_checked_before_the_body_is_read(gallery: Gallery) -> None:
    """A 19 MB upload without a key, or with a wrong one, used to be read whole before the 401:
    the answer now comes after the headers, with the body still unsent."""
    import threading

    import uvicorn

    listening = socket.socket()  # bound here and handed over: no other process can take it
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    settings = ServiceSettings(home=gallery.home)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, gallery), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        for auth in (b"", b"Authorization: Bearer fp_not_a_key\r\n"):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(b"POST /v1/identify HTTP/1.1\r\nHost: x\r\n" + auth
                             + b"Content-Type: multipart/form-data; boundary=b\r\n"
                             b"Content-Length: 19000000\r\n\r\n" + b"x" * 1000)
                answer = conn.recv(4096)  # times out if the server waits for the body
            assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_the_identify_queue_is_bounded(gallery: Gallery, lfw_dir: Path) -> None:
    """Decoded photos used to wait in an unbounded queue; past the bound the batcher says
    Busy (the service answers 503 with Retry-After)."""
    batcher = IdentifyBatcher(gallery, max_batch=1, wait_ms=0, max_waiting=2)
    batcher.close()  # stopped: nothing is taken from the queue
    photo = decode(lfw_dir / NAME / f"{NAME}_0001.jpg")
    batcher.submit(photo)
    batcher.submit(photo)
    with pytest.raises(Busy):
        batcher.submit(photo)
    by_size = IdentifyBatcher(gallery, max_waiting=10, max_bytes=2 * photo.nbytes + 1)
    by_size.close()
    by_size.submit(photo)
    by_size.submit(photo)
    with pytest.raises(Busy, match="MB of photos"):
        by_size.submit(photo)


FULL_DISK = """
import json, resource, signal, sys
from pathlib import Path
from index.errors import StorageFull
from index.gallery import Gallery
home, lfw = Path(sys.argv[1]), Path(sys.argv[2])
g = Gallery(home=home)
people = sorted(p for p in lfw.iterdir() if p.is_dir())
g.enroll(people[0].name, next(people[0].glob("*.jpg")))
size = max(f.stat().st_size for f in home.rglob("*") if f.is_file())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 300_000, size + 300_000))
acknowledged = [people[0].name]
for folder in people[1:200]:
    try:
        g.enroll(folder.name, next(folder.glob("*.jpg")), face="largest")
    except StorageFull as exc:
        print(json.dumps({"acknowledged": acknowledged, "error": exc.code}))
        sys.exit(0)
    acknowledged.append(folder.name)
sys.exit(1)
"""


def test_a_full_disk_refuses_the_write_and_keeps_what_was_acknowledged(
        tmp_path: Path, lfw_dir: Path) -> None:
    """The store on a full disk (RLIMIT_FSIZE stands in for it): the enrollment that does not
    fit is refused as `storage_full` (503 over HTTP), every acknowledged one is there after a
    restart, and the file is whole."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path / "home"),
                           str(lfw_dir)], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1], env={"OMP_NUM_THREADS": "1",
                                                              "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] == "storage_full" and len(result["acknowledged"]) >= 3
    g = Gallery(home=tmp_path / "home")
    try:
        assert sorted(p.name for p in g.people()) == sorted(result["acknowledged"])
        assert all(p.faces == 1 for p in g.people())
    finally:
        g.close()
    store = Store(tmp_path / "home" / "gallery.sqlite3")
    try:
        assert store.problems() == []
    finally:
        store.close()
