"""Collections: galleries of their own on one server. The store keeps each in tables of its
own (a SQLite file, a PostgreSQL schema) and the default one's store keeps the registry."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from faces.errors import FacepairError
from index import collections
from index.gallery import Gallery
from index.store import NewAlbumFace, PhotoRef, Store, collection_name
from service import keys
from service.app import create_app
from service.keys import HEADER
from service.settings import ServiceSettings


def test_a_collections_tables_are_its_own_on_both_backends(store_location: str) -> None:
    """Each collection has its own people and ids; the default one keeps the registry and the
    keys; a deleted collection's tables and keys are gone, and made anew it starts empty."""
    registry = Store(store_location)
    registry.collections.add("smith-family")
    assert [c.name for c in registry.collections.all()] == ["smith_family"]
    smiths = Store(store_location, "smith-family")
    assert smiths.people.add("Ann") == 1 and registry.people.add("Bob") == 1
    assert [p.name for p in smiths.people.all()] == ["Ann"]
    assert [p.name for p in registry.people.all()] == ["Bob"]
    with smiths.db.reading() as conn:  # raw SQL of the store sees the collection's tables
        assert smiths.db.ids_given(conn)["people"] == 1
    # each collection's change feed is its own, and so is its notification channel
    head = registry.changes.head()
    smiths.people.add("Cy")
    assert registry.changes.head() == head and smiths.changes.head() > head
    assert registry.db.sqlite or smiths.db.channel != registry.db.channel
    key = registry.keys.add("phone", "read", "a" * 64, collection="smith_family")
    assert registry.keys.grant_of("a" * 64) == (key, "read", "smith_family")
    assert smiths.keys.all() == []
    smiths.close()
    with pytest.raises(FacepairError) as taken:
        registry.collections.add("smith_family")
    assert taken.value.code == "conflict"
    assert registry.collections.remove("smith_family") == 1  # its key revoked with it
    assert registry.keys.all() == [] and registry.collections.all() == []
    with pytest.raises(FacepairError) as gone:
        registry.collections.get("smith_family")
    assert gone.value.code == "no_collection"
    registry.collections.add("smith_family")
    again = Store(store_location, "smith_family")
    assert again.people.all() == [] and again.meta.counts()["people"] == 0
    again.close()
    assert [p.name for p in registry.people.all()] == ["Bob"]
    registry.close()


def test_collection_names_follow_the_rules(tmp_path: Path) -> None:
    assert collection_name("my-family") == "my_family" == collection_name("my_family")
    for bad in ("", "A", "-x", "x y", "x" * 41, "../x", "é", "x;drop"):
        with pytest.raises(FacepairError) as refused:
            collection_name(bad)
        assert refused.value.code == "invalid_collection"
    registry = Store(tmp_path / "gallery.sqlite3")
    with pytest.raises(FacepairError) as kept:
        registry.collections.remove("default")
    assert kept.value.code == "default_collection"
    registry.collections.add("x1")
    Store(tmp_path / "gallery.sqlite3", "x1").close()
    assert (tmp_path / "collections" / "x1" / "gallery.sqlite3").is_file()
    registry.collections.remove("x1")
    assert not (tmp_path / "collections" / "x1").exists()
    registry.close()


# -- the service: a key of one collection never reaches another's ------------------------------

ALICE, NOTE, FILLER = "Alice-of-A", "a note only A keeps", "Filler-of-A"
MARKERS = (ALICE, NOTE, FILLER, "upload:Amelie", "a-only")


@dataclass
class World:
    """A service with collections a (people, an enrolled face, album photos, a cluster, a
    suggestion, an album job) and b (one person), and keys of each scope."""

    api: TestClient
    gallery: Gallery
    albums: Path
    photo: bytes  # the enrolled face's photo
    ids: dict[str, int]
    keys: dict[str, str]  # "a-write", "b-read", "b-write", "b-admin", "every"

    def as_(self, who: str, collection: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return headers | ({HEADER: collection} if collection else {})


def every_route(routes: list) -> Iterator[Any]:
    """The app's routes, those of the routers it includes too."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from every_route(inner.routes) if inner is not None else [route]


def _album_of_a(store: Store, albums: Path, photo: Path, dim: int, alice: int) -> dict:
    """A's tagged album: a photo with two faces nobody is enrolled as, grouped, one suggested
    as Alice; and the album job that tagged it."""
    (albums / "empty").mkdir()
    copy = albums / "a-only.jpg"
    shutil.copy(photo, copy)
    root = store.roots.get_or_add("a-only-root", str(albums))
    job = store.jobs.add(root, "a-only-folder", xmp=False, owner=None, resumable=True)
    vector = np.ones(dim, dtype=np.float32) / np.sqrt(dim)
    faces = [NewAlbumFace([1.0, 2.0, 50.0, 60.0], [[9.0, 9.0]] * 5, 0.97, b"A-chip",
                          [[1, 1]] * 5, "m", vector, similarity=0.8, candidate_id=alice)
             for _ in range(2)]
    store.albums.record(PhotoRef(root, copy.name), copy.stat().st_size, copy.stat().st_mtime,
                        "c" * 64, 250, 250, "m", job, "", faces)
    store.jobs.end(job, "done")
    _, photos, listed = store.albums.photos_under([(root, "")], 10, 0)
    store.clusters.replace([(1, f.id) for f in listed])
    return {"job_id": job, "album_photo": photos[0].id, "album_face": listed[0].id, "cluster": 1,
            "root": root}


@pytest.fixture(scope="module")
def world(tmp_path_factory, detector, lfw_dir: Path) -> Iterator[World]:
    home, albums = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("albums")
    gallery = Gallery(home=home, detector=detector)
    for name in ("a", "b"):
        gallery.store.collections.add(name)
    keys_of = {"a-write": ("write", "a"), "b-read": ("read", "b"), "b-write": ("write", "b"),
               "b-admin": ("admin", "b"), "every": ("admin", None)}
    made = {who: keys.create_key(gallery.store, scope, who, where)[1]
            for who, (scope, where) in keys_of.items()}
    settings = ServiceSettings(home=home, album_roots=[albums], album_workers=1)
    photo = lfw_dir / "Amelie_Mauresmo" / "Amelie_Mauresmo_0001.jpg"
    with TestClient(create_app(settings, gallery)) as api:
        world = World(api, gallery, albums, photo.read_bytes(), {}, made)
        a = world.as_("a-write")
        for name in (FILLER + "1", FILLER + "2"):
            assert api.post("/v1/people", json={"name": name}, headers=a).status_code == 201
        alice = api.post("/v1/people", json={"name": ALICE, "note": NOTE}, headers=a).json()
        enrolled = api.post(f"/v1/people/{alice['id']}/photos", headers=a,
                            files={"photo": ("Amelie.jpg", world.photo, "image/jpeg")})
        assert enrolled.status_code == 201, enrolled.text
        b = api.post("/v1/people", json={"name": "Bea-of-B"}, headers=world.as_("b-write"))
        assert b.status_code == 201 and b.json()["id"] == 1
        store = api.app.state.galleries.get("a").store
        world.ids = {"person_id": alice["id"], "other": 1, "face_id": enrolled.json()["id"],
                     "photo_id": enrolled.json()["photo_id"],
                     **_album_of_a(store, albums, photo, gallery.embedder.dim, alice["id"])}
        yield world
    gallery.close()


def _snapshot(world: World) -> tuple:
    """What collection a holds, and the collections there are."""
    store = world.api.app.state.galleries.get("a").store
    people = [p.to_dict() for p in store.people.all()]
    faces = [f.id for p in store.people.all() for f in store.faces.of_person(p.id)]
    count, _, listed = store.albums.photos_under([(world.ids["root"], "")], 100, 0)
    return (people, faces, count, [f.id for f in listed], [repr(c)
            for c in store.clusters.all()], store.jobs.get(world.ids["job_id"]),
            store.meta.counts(), [c.name for c in world.gallery.store.collections.all()])


BODIES: dict[str, Callable[[World], dict]] = {
    "PersonIn": lambda w: {"name": "Zed"},
    "PersonPatch": lambda w: {"name": "Zed-renamed", "note": "b"},
    "MergeIn": lambda w: {"other": w.ids["other"]},
    "NotThisIn": lambda w: {"face_id": w.ids["face_id"], "kind": "enrolled"},
    "ThisIsIn": lambda w: {"person_id": w.ids["other"]},
    "DifferentIn": lambda w: {"people": [w.ids["person_id"], w.ids["other"]]},
    "AlbumJobIn": lambda w: {"path": str(w.albums / "empty")},
    "ClusterNameIn": lambda w: {"name": "Zed"},
    "AnswerIn": lambda w: {"answer": "yes"},
    "CollectionIn": lambda w: {"name": "zz"},
    "DrawnFaceIn": lambda w: {"box": [10, 10, 60, 60]},
}
FORMS: dict[str, Callable[[World], Any]] = {  # form fields and files, by name
    "photo": lambda w: ("Amelie.jpg", w.photo, "image/jpeg"),
    "photos": lambda w: ("Amelie.jpg", w.photo, "image/jpeg"),
    "a": lambda w: ("Amelie.jpg", w.photo, "image/jpeg"),
    "person_id": lambda w: str(w.ids["person_id"]),
}
QUERIES: dict[str, Callable[[World], str]] = {"root": lambda w: str(w.albums),
                                              "path": lambda w: str(w.albums),
                                              "person": lambda w: str(w.ids["person_id"])}
OPTIONAL = {"b", "face", "box", "threshold", "top_k", "limit", "offset", "level", "open_only"}


def _request(world: World, route: Any) -> dict[str, Any]:
    """A request of this route aimed at collection a's ids, with the body it needs (a route
    with a field of a new name fails here until the field is given a value above)."""
    album = "album" in route.path
    values = {**world.ids, "name": "a"}
    if album:
        values |= {"photo_id": world.ids["album_photo"], "face_id": world.ids["album_face"]}
    url = route.path
    for param in route.param_convertors:
        assert param in values, f"{route.path}: give {param!r} one of a's ids"
        url = url.replace("{" + param + "}", str(values[param]))
    request: dict[str, Any] = {"url": url}
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return request
    for query in dependant.query_params:
        if query.name in QUERIES:
            request.setdefault("params", {})[query.name] = QUERIES[query.name](world)
        else:
            assert query.name in OPTIONAL, f"{route.path}: give query {query.name!r} a value"
    for field in dependant.body_params:
        kind = type(field.field_info).__name__
        if kind in ("File", "Form"):
            if field.name in OPTIONAL:
                continue
            assert field.name in FORMS, f"{route.path}: give form field {field.name!r} a value"
            part = "files" if kind == "File" else "data"
            request.setdefault(part, {})[field.name] = FORMS[field.name](world)
        else:
            model = getattr(field.field_info.annotation, "__name__", str(field.field_info))
            assert model in BODIES, f"{route.path}: give a body of {model} a value"
            request["json"] = BODIES[model](world)
    return request


def _leaks(response: Any, world: World) -> list[str]:
    found = [m for m in MARKERS if m.encode() in response.content]
    if response.status_code < 300 and (b"A-chip" in response.content
                                       or world.photo[:4096] in response.content):
        found.append("a's image bytes")
    return found


@pytest.mark.parametrize("who", ["b-read", "b-write", "b-admin"])
def test_a_key_of_one_collection_never_reaches_anothers_on_any_route(world: World,
                                                                     who: str) -> None:
    """Every route of the app, asked by a key of collection b (each scope) for collection a's
    ids: nothing of a comes back (404, a refusal, or b's own), a's sizes are not told, and a
    is unchanged; asking for a by name is refused alike for a and for no collection at all."""
    api, before = world.api, _snapshot(world)
    routes = [r for r in every_route(api.app.routes) if isinstance(getattr(r, "path", None), str)]
    assert len(routes) > 30
    for route in routes:
        request = _request(world, route)
        for method in sorted(route.methods - {"HEAD"}):
            r = api.request(method, **request, headers=world.as_(who))
            where = f"{who} {method} {route.path}: {r.status_code} {r.text[:200]}"
            assert r.status_code < 500 and not _leaks(r, world), where
            if route.path.startswith("/v1/collections"):
                assert r.status_code == 403 and r.json()["code"] == "scope", where
            if route.path.startswith("/v1/"):
                for other in ("a", "zz"):  # a collection there, one never made: alike
                    asked = api.request(method, **request, headers=world.as_(who, other))
                    assert asked.status_code == 403, where
                    assert asked.json()["code"] == "collection_not_allowed", where
    assert _snapshot(world) == before
    status = api.get("/v1/status", headers=world.as_(who)).json()
    people = api.get("/v1/people", headers=world.as_(who)).json()["people"]
    assert status["collection"] == "b" and status["people"] == len(people)
    assert ALICE not in {p["name"] for p in people} and status["faces"] == 0
    assert api.get("/v1/clusters", headers=world.as_(who)).json()["clusters"] == []
    assert api.get("/v1/suggestions", headers=world.as_(who)).json()["waiting"] == 0
    found = api.post("/v1/identify", headers=world.as_(who),
                     files={"photo": ("x.jpg", world.photo, "image/jpeg")}).json()
    assert len(found["faces"]) == 1 and found["faces"][0]["person"] is None


def test_what_a_sees_is_there_and_an_admin_key_of_every_collection_chooses(world: World
                                                                           ) -> None:
    """The checks above are not vacuous: a's key, and a key of every collection naming a,
    see a's people, face, album and suggestion; without a header, that key works in
    default."""
    api = world.api
    for headers in (world.as_("a-write"), world.as_("every", "a")):
        assert api.get("/v1/collection", headers=headers).json()["name"] == "a"
        people = api.get("/v1/people", headers=headers).json()["people"]
        assert ALICE in {p["name"] for p in people}
        chip = api.get(f"/v1/faces/{world.ids['face_id']}/chip", headers=headers)
        assert chip.status_code == 200
        assert api.get("/v1/suggestions", headers=headers).json()["waiting"] >= 1
        found = api.post("/v1/identify", headers=headers,
                         files={"photo": ("x.jpg", world.photo, "image/jpeg")}).json()
        assert found["faces"][0]["person"]["name"] == ALICE
    default = api.get("/v1/collection", headers=world.as_("every")).json()
    assert default == {"name": "default", "scope": "admin", "every_collection": True}
    assert api.get("/v1/people", headers=world.as_("every")).json()["people"] == []
    missing = api.get("/v1/people", headers=world.as_("every", "nope"))
    assert missing.status_code == 404 and missing.json()["code"] == "no_collection"
    bad = api.get("/v1/people", headers=world.as_("every", "Nope!"))
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_collection"


def test_an_admin_key_of_every_collection_manages_them(world: World) -> None:
    api, every = world.api, world.as_("every")
    listed = api.get("/v1/collections", headers=every).json()["collections"]
    assert [(c["name"], c["people"]) for c in listed][:2] == [("default", 0), ("a", 3)]
    made = api.post("/v1/collections", json={"name": "c-1"}, headers=every)
    assert made.status_code == 201 and made.json()["name"] == "c_1"
    again = api.post("/v1/collections", json={"name": "c_1"}, headers=every)
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    _, key = keys.create_key(world.gallery.store, "write", "c", "c_1")
    mine = {"Authorization": f"Bearer {key}"}
    assert api.post("/v1/people", json={"name": "Cy"}, headers=mine).status_code == 201
    refused = api.delete("/v1/collections/default", headers=every)
    assert refused.status_code == 422 and refused.json()["code"] == "default_collection"
    gone = api.delete("/v1/collections/c_1", headers=every)
    assert gone.json() == {"deleted_collection": "c_1", "revoked_keys": 1}
    assert api.get("/v1/people", headers=mine).json()["code"] == "bad_key"
    assert api.get("/v1/people", headers=every | {HEADER: "c_1"}).status_code == 404
    assert api.delete("/v1/collections/c_1", headers=every).status_code == 404
    made = api.post("/v1/collections", json={"name": "c_1"}, headers=every)
    assert made.json()["people"] == 0  # made anew: nothing of the deleted one
    in_c = every | {HEADER: "c_1"}
    assert api.post("/v1/people", json={"name": "Cy"}, headers=in_c).status_code == 201
    # deleted and made again by another process (the CLI): the service follows
    registry, home = world.gallery.store, world.gallery.home
    collections.delete(registry, world.gallery.settings, home, "c_1")
    assert api.get("/v1/people", headers=in_c).json()["code"] == "no_collection"
    collections.create(registry, world.gallery.settings.store_location(home), "c_1")
    assert api.get("/v1/people", headers=in_c).json()["people"] == []


def test_without_keys_the_header_chooses_the_collection(world: World) -> None:
    settings = ServiceSettings(auth=False, home=world.gallery.home)
    with TestClient(create_app(settings, world.gallery)) as api:
        assert api.get("/v1/collection").json() == {"name": "default", "scope": None,
                                                    "every_collection": True}
        named = {p["name"] for p in api.get("/v1/people", headers={HEADER: "a"}).json()[
            "people"]}
        assert ALICE in named
        assert api.get("/v1/people", headers={HEADER: "nope"}).status_code == 404


@pytest.fixture
def served(world: World) -> Iterator[str]:
    """The app over the world's galleries, served on a port of its own (for a browser)."""
    import socket
    import threading

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = ServiceSettings(home=world.gallery.home, album_roots=[world.albums])
    server = uvicorn.Server(uvicorn.Config(create_app(settings, world.gallery), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def test_the_web_app_shows_its_collection_and_an_admin_key_of_every_one_chooses(
        world: World, served: str, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.test_service import chromium

    found = chromium()
    if found is None:
        pytest.skip("needs chromium and chromedriver (apt: chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(found[1]), options=options)
    wait = WebDriverWait(d, 60)

    def find(css: str):
        return d.find_element(By.CSS_SELECTOR, css)

    def use(key: str) -> None:
        find("#key").clear()
        find("#key").send_keys(key)
        find("#key-form button").click()

    try:
        d.get(served + "/")
        use(world.keys["b-write"])
        wait.until(lambda _: find("#collection").text == "Collection: b")
        wait.until(lambda _: "Bea-of-B" in find("#view").text)
        assert ALICE not in find("#view").text and not find("#choose").is_displayed()
        use(world.keys["every"])
        wait.until(lambda _: find("#choose").is_displayed())
        choices = Select(find("#collections"))
        assert [o.get_attribute("value") for o in choices.options][:3] == ["default", "a", "b"]
        assert choices.first_selected_option.get_attribute("value") == "default"
        choices.select_by_value("a")
        wait.until(lambda _: ALICE in find("#view").text)
        assert d.execute_script("return sessionStorage.getItem('facepair-collection')") == "a"
    finally:
        d.quit()


def test_the_command_line_works_in_the_collection_it_is_given(tmp_path: Path,
                                                               lfw_dir: Path) -> None:
    """`--collection` (or FACEPAIR_COLLECTION) for every command; `collections list | create |
    delete`; keys made for a collection; a collection not there, or a bad name, is an error
    message, never a traceback."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "FACEPAIR_HOME": str(tmp_path / "home")}
    env.pop("FACEPAIR_COLLECTION", None)

    def cli(*args: str, code: int = 0, **more: str) -> dict:
        done = subprocess.run([str(Path(sys.executable).parent / "facepair"), *args, "--json"],
                              capture_output=True, text=True, env=env | more, timeout=300)
        assert done.returncode == code, (args, done.stdout[-800:], done.stderr[-800:])
        assert "Traceback" not in done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert cli("collections", "create", "smith-family")["collection"]["name"] == "smith_family"
    one = str(lfw_dir / "Amelie_Mauresmo" / "Amelie_Mauresmo_0001.jpg")
    cli("--collection", "smith_family", "enroll", "Ann", one)
    assert [p["name"] for p in cli("people", "list", FACEPAIR_COLLECTION="smith-family")[
        "people"]] == ["Ann"]
    assert cli("people", "list")["people"] == []
    listed = cli("collections", "list")["collections"]
    assert [(c["name"], c["people"], c["faces"]) for c in listed] == [
        ("default", 0, 0), ("smith_family", 1, 1)]
    key = cli("keys", "create", "--scope", "write", "--collection", "smith_family")
    admin = cli("keys", "create", "--scope", "admin")
    assert (key["collection"], admin["collection"]) == ("smith_family", None)
    assert cli("--collection", "nope", "status", code=2)["error"]["code"] == "no_collection"
    assert cli("keys", "create", "--scope", "read", "--collection", "nope", code=2)[
        "error"]["code"] == "no_collection"
    assert cli("collections", "delete", "default", code=2)["error"]["code"] == (
        "default_collection")
    bad = subprocess.run([str(Path(sys.executable).parent / "facepair"), "--collection", "No!",
                          "people", "list"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "not a collection name" in bad.stderr
    assert "Traceback" not in bad.stderr
    gone = cli("collections", "delete", "smith-family")
    assert gone == {"deleted_collection": "smith_family", "revoked_keys": 1}
    assert [k["id"] for k in cli("keys", "list")["keys"]] == [admin["id"]]
    assert not (tmp_path / "home" / "collections" / "smith_family").exists()


def test_a_collections_waiting_album_job_goes_on_when_the_service_starts(world: World) -> None:
    registry, home = world.gallery.store, world.gallery.home
    collections.create(registry, world.gallery.settings.store_location(home), "r")
    store = Store(world.gallery.settings.store_location(home), "r")
    root = store.roots.get_or_add("r-root", str(world.albums))
    job = store.jobs.add(root, "empty", xmp=False, owner=None, resumable=True)
    settings = ServiceSettings(home=home, album_roots=[world.albums], album_workers=1)
    with TestClient(create_app(settings, world.gallery)):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # nobody asked for r: it was opened for its job
            state = store.jobs.get(job)
            if state is not None and state.status == "done":
                break
            time.sleep(0.2)
    store.close()
    assert state is not None and state.status == "done"
