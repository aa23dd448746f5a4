"""Correcting names by hand, on LFW photos with the real model: "this is …" moves an album face
or an enrolled face to another person (or to a new one), and the person it was is told it is
not them; look-alikes said to be different people stay so across a reopened gallery, go with
a deleted person, and a pair of one person enrolled twice is merged. Ann and Bob are enrolled
from three photos each, and an album of their other photos is tagged, XMP sidecars written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from index import curation
from index.album.sidecars import write_xmp
from index.album.tagger import AlbumTagger
from index.errors import Conflict
from index.gallery import Gallery
from index.settings import IndexSettings

ANN, BOB = "Gerhard_Schroeder", "Jacques_Chirac"
PROBLEM = "application/problem+json"


def lfw(root: Path, name: str, i: int) -> Path:
    return root / name / f"{name}_{i:04d}.jpg"


@pytest.fixture(scope="module")
def tagged(tmp_path_factory, lfw_dir: Path, detector) -> Iterator[tuple[Gallery, Path]]:
    from faces.embed import Embedder

    root = tmp_path_factory.mktemp("corrections")
    album = root / "album"
    album.mkdir()
    for name, numbers in ((ANN, range(4, 8)), (BOB, range(4, 10))):
        for i in numbers:
            shutil.copy(lfw(lfw_dir, name, i), album / f"{name}_{i}.jpg")
    g = Gallery(IndexSettings(home=root / "home", context_band=0.0), detector=detector,
                embedder=Embedder())
    for name, person in (("Ann", ANN), ("Bob", BOB)):
        for i in (1, 2, 3):
            g.enroll(name, lfw(lfw_dir, person, i), face="center")
    AlbumTagger(g, workers=1).run(album)
    write_xmp(g, g.store.albums.paths_of(g.find_person("Bob").id))
    yield g, album
    g.close()


def candidates_of(g: Gallery, vector: np.ndarray) -> set[str]:
    (found,) = g.candidates(vector[None, :], top_k=10)
    return {c.person.name for c in found}


def bobs_alone(g: Gallery) -> list[dict]:
    """Bob's album faces named by the gallery, each the one face of its photo."""
    bob = g.find_person("Bob").id
    faces = curation.person_faces(g, bob)["album"]
    return [f for f in faces if f["named_by"] is None and len(
        g.store.albums.regions(g.store.albums.face(f["id"]).ref)[2]) == 1]


def test_an_album_face_moved_to_someone_else_and_to_someone_new(tagged) -> None:
    g, album = tagged
    ann, bob = g.find_person("Ann"), g.find_person("Bob")
    first, second = bobs_alone(g)[:2]
    photo = g.roots.file(g.store.albums.face(first["id"]).ref)
    assert photo is not None
    sidecar = photo.with_name(photo.name + ".xmp")
    assert "Bob" in sidecar.read_text()

    moved = curation.this_is(g, first["id"], "album", name="Ann")
    assert (moved["person"]["id"], moved["previous"]["id"]) == (ann.id, bob.id)
    face = g.store.albums.face(first["id"])
    assert (face.person_id, face.named_by) == (ann.id, "answer")
    assert moved["enrolled"] == (g.store.people.get(ann.id).faces == ann.faces + 1)
    # facepair's region of Bob left the sidecar, and the user's answer is written there
    assert "Bob" not in sidecar.read_text() and "Ann" in sidecar.read_text()
    assert "Bob" not in candidates_of(g, face.vector)  # never named Bob again
    with pytest.raises(Conflict, match="Ann's already"):
        curation.this_is(g, first["id"], "album", person_id=ann.id)

    new = curation.this_is(g, second["id"], "album", name="Bob Doppelgänger")
    assert new["person"]["name"] == "Bob Doppelgänger" and new["previous"]["name"] == "Bob"
    assert new["enrolled"] and new["person"]["faces"] == 1  # room: nobody enrolled yet

    # the photo analysed again (it changed) is not named Bob
    photo = g.roots.file(g.store.albums.face(second["id"]).ref)
    assert photo is not None
    photo.write_bytes(photo.read_bytes() + b"\0")
    AlbumTagger(g, workers=1).run(album)
    assert second["path"] not in {f["path"] for f in curation.person_faces(g, bob.id)["album"]}


def test_an_enrolled_face_moved(tagged) -> None:
    g, _ = tagged
    bob = g.find_person("Bob")
    face_id = curation.person_faces(g, bob.id)["enrolled"][-1]["id"]
    chip = g.store.faces.chip(face_id)
    embedded = g.store.embeddings.of_model(g.model, bob.id)
    vector = embedded.vectors[list(embedded.face_ids).index(face_id)]

    moved = curation.this_is(g, face_id, "enrolled", name="Carl")
    assert moved["enrolled"] and moved["previous"]["id"] == bob.id
    carl = g.find_person("Carl")
    assert carl.faces == 1 and g.store.people.get(bob.id).faces == bob.faces - 1
    assert g.store.faces.get(face_id).person_id == carl.id
    assert g.store.faces.chip(face_id) == chip  # its chip kept
    assert g.matching.owners()[face_id] == carl.id
    assert "Bob" not in candidates_of(g, vector) and "Carl" in candidates_of(g, vector)


def test_the_api_and_the_cli(tagged, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from service.app import create_app
    from service.cli.app import app
    from service.settings import ServiceSettings, get_settings

    g, _ = tagged
    ann, bob = g.find_person("Ann"), g.find_person("Bob")
    album_face = bobs_alone(g)[0]["id"]
    enrolled = curation.person_faces(g, ann.id)["enrolled"][0]["id"]
    with TestClient(create_app(ServiceSettings(home=g.home, auth=False), g)) as api:
        def refused(path: str, body: dict, status: int, code: str | None = None) -> None:
            r = api.post(path, json=body)
            assert r.status_code == status, r.text
            assert r.headers["content-type"].startswith(PROBLEM)
            assert code is None or r.json()["code"] == code

        for kind in ("album-faces", "faces"):
            refused(f"/v1/{kind}/999999/person", {"name": "Ann"}, 404)
            refused(f"/v1/{kind}/1/person", {"name": "   "}, 422, "empty_name")
            refused(f"/v1/{kind}/1/person", {"name": "x" * 201}, 422, "name_too_long")
            refused(f"/v1/{kind}/1/person", {}, 422)
            refused(f"/v1/{kind}/1/person", {"name": "Ann", "person_id": ann.id}, 422)
        refused(f"/v1/faces/{enrolled}/person", {"person_id": ann.id}, 409, "conflict")
        refused(f"/v1/faces/{enrolled}/person", {"person_id": 999999}, 404)
        r = api.post(f"/v1/album-faces/{album_face}/person", json={"person_id": ann.id})
        assert r.status_code == 200, r.text
        assert r.json()["person"]["id"] == ann.id and r.json()["previous"]["id"] == bob.id
        assert r.json()["kind"] == "album"
        refused("/v1/lookalikes/different", {"people": [ann.id, ann.id]}, 422, "same_person")
        refused("/v1/lookalikes/different", {"people": [ann.id, 999999]}, 404)
        refused("/v1/lookalikes/different", {"people": [ann.id]}, 422)

    monkeypatch.setenv("FACEPAIR_HOME", str(g.home))
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, ["people", "move-face", str(enrolled), "Dora", "--json"])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed["person"]["name"] == "Dora" and printed["previous"]["id"] == ann.id
    g.matching.sync()
    assert g.store.faces.get(enrolled).person_id == g.find_person("Dora").id


def test_different_people_remembered_and_merged(tagged, lfw_dir: Path) -> None:
    """(Last: it deletes and merges the module's people.) One person under two more names."""
    from service.app import create_app
    from service.settings import ServiceSettings

    g, _ = tagged
    for name, numbers in (("Bob again", range(10, 14)), ("Bob twice", range(14, 18))):
        done = g.enroll_photos(name, [lfw(lfw_dir, BOB, i) for i in numbers], face="center")
        assert any(r.enrolled for r in done)  # (some are under the quality floor)
    bob, again, twice = (g.find_person(n) for n in ("Bob", "Bob again", "Bob twice"))

    def pair_of(found: dict, a: int, b: int) -> dict | None:
        return next((p for p in found["pairs"]
                     if {q["id"] for q in p["people"]} == {a, b}), None)

    with TestClient(create_app(ServiceSettings(home=g.home, auth=False), g)) as api:
        listed = api.get("/v1/lookalikes").json()
        pair = pair_of(listed, again.id, twice.id)
        assert pair is not None and pair["different"] is False
        r = api.post("/v1/lookalikes/different", json={"people": [twice.id, again.id]})
        assert r.status_code == 200, r.text
        assert r.json()["different"] is True
        marked = pair_of(api.get("/v1/lookalikes").json(), again.id, twice.id)
        assert marked is not None and marked["different"] is True
        assert pair_of(api.get("/v1/lookalikes", params={"open": "true"}).json(),
                       again.id, twice.id) is None
        # the pair still alike: identify's margin between them is the same
        assert api.get("/v1/lookalikes").json()["margin"] == listed["margin"]

        with Gallery(g.settings, detector=g.detector, embedder=g.embedder) as reopened:
            assert reopened.store.different.pairs() == {tuple(sorted((again.id, twice.id)))}
        g.delete_person(twice.id)
        assert g.store.different.pairs() == set()

        # merge from a pair: the one with more faces kept
        merged = pair_of(listed, bob.id, again.id)
        assert merged is not None
        keep, other = sorted(merged["people"], key=lambda p: -p["faces"])
        r = api.post(f"/v1/people/{keep['id']}/merge", json={"other": other["id"]})
        assert r.status_code == 200, r.text
        assert r.json()["faces"] == keep["faces"] + other["faces"]
        assert pair_of(api.get("/v1/lookalikes").json(), bob.id, again.id) is None


def test_the_store_remembers_different_people_on_each_backend(store_location: str) -> None:
    from faces.errors import NotFound
    from index.store import Store

    store = Store(store_location)
    a, b, c = (store.people.add(n) for n in ("A", "B", "C"))
    store.different.mark(b, a)
    store.different.mark(a, b)  # again: no change
    store.different.mark(c, a)
    assert store.different.pairs() == {(a, b), (a, c)}
    with pytest.raises(NotFound):
        store.different.mark(a, 10**9)
    store.people.delete(b)
    store.people.merge(a, c)  # the pair of the two merged goes with the one merged away
    assert store.different.pairs() == set()
    store.close()
