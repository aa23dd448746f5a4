"""Faces too poor to tell: the quality figure (`faces.quality`) and the floor under which a
face is unrecognisable (`index.quality`), on real LFW photos with the real model."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from faces.detect import pick_face
from index.album.clusters import cluster_unknown
from index.gallery import Gallery
from index.settings import DEFAULTS
from index.store import NewAlbumFace, PhotoRef
from service import keys
from service.settings import ServiceSettings, get_settings

FLOOR = DEFAULTS.quality_floor
PERSON = "Colin_Powell"


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def poor(photo: Path) -> Image.Image:
    """The photo with its face shrunk to about 20 px, enlarged back and blurred."""
    image = Image.open(photo).convert("RGB")
    small = image.resize((48, 48), Image.Resampling.BILINEAR)
    return small.resize(image.size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(1))


def centre_quality(detector, image: Image.Image) -> float:
    pixels = np.asarray(image)
    face = pick_face(detector.detect(pixels), pixels.shape)
    assert face is not None and face.quality is not None
    return face.quality


def test_the_floor_is_set() -> None:
    assert 0.0 < FLOOR < 1.0


def test_a_sharp_face_is_above_the_floor_and_a_tiny_blurred_one_under(detector,
                                                                      lfw_dir: Path) -> None:
    photo = lfw_dir / PERSON / f"{PERSON}_0001.jpg"
    assert centre_quality(detector, Image.open(photo).convert("RGB")) > FLOOR
    assert centre_quality(detector, poor(photo)) < FLOOR


def test_quality_falls_as_the_same_face_blurs(detector, lfw_dir: Path) -> None:
    image = Image.open(lfw_dir / PERSON / f"{PERSON}_0002.jpg").convert("RGB")
    found = [centre_quality(detector, image.filter(ImageFilter.GaussianBlur(s)) if s else image)
             for s in (0, 0.75, 1.5, 3)]
    assert all(a >= b for a, b in itertools.pairwise(found)), found
    assert found[0] > found[2] and found[-1] < FLOOR, found


@dataclass
class World:
    gallery: Gallery
    home: Path
    api: TestClient
    headers: dict[str, str]
    person_id: int
    sharp: bytes
    poor: bytes


@pytest.fixture(scope="module")
def world(tmp_path_factory, detector, lfw_dir: Path) -> Iterator[World]:
    home = tmp_path_factory.mktemp("home")
    settings = ServiceSettings(home=home, album_workers=1)
    gallery = Gallery(settings, home=home, detector=detector)
    person = gallery.enroll(PERSON, lfw_dir / PERSON / f"{PERSON}_0001.jpg").person_id
    key = keys.create_key(gallery.store, "write", "test")[1]
    from service.app import create_app

    with TestClient(create_app(settings, gallery)) as api:
        yield World(gallery, home, api, {"Authorization": f"Bearer {key}"}, person,
                    (lfw_dir / PERSON / f"{PERSON}_0003.jpg").read_bytes(),
                    jpeg(poor(lfw_dir / PERSON / f"{PERSON}_0003.jpg")))
    gallery.close()


def test_identify_answers_a_poor_face_unrecognisable(world: World) -> None:
    def identify(data: bytes) -> dict:
        r = world.api.post("/v1/identify", headers=world.headers,
                           files={"photo": ("p.jpg", data, "image/jpeg")})
        assert r.status_code == 200, r.text
        (face,) = r.json()["faces"]
        return face

    sharp = identify(world.sharp)
    assert sharp["person"]["name"] == PERSON and not sharp["unrecognisable"]
    assert sharp["quality"] >= FLOOR
    unclear = identify(world.poor)
    assert unclear["unrecognisable"] and unclear["quality"] < FLOOR
    assert unclear["person"] is None and unclear["candidates"] == [] and unclear["score"] is None


def test_enrolling_a_poor_face_is_refused(world: World) -> None:
    r = world.api.post(f"/v1/people/{world.person_id}/photos", headers=world.headers,
                       files={"photo": ("p.jpg", world.poor, "image/jpeg")})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "unrecognisable_face" and "quality" in r.json()["detail"]


def test_the_cli_says_unrecognisable_and_refuses_to_enroll(world: World, tmp_path: Path,
                                                           monkeypatch) -> None:
    from service.cli.app import app

    photo = tmp_path / "poor.jpg"
    photo.write_bytes(world.poor)
    monkeypatch.setenv("FACEPAIR_HOME", str(world.home))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        shown = runner.invoke(app, ["identify", str(photo)])
        assert shown.exit_code == 0, shown.output
        assert "unrecognisable (quality 0." in shown.output
        as_json = runner.invoke(app, ["identify", str(photo), "--json"])
        (face,) = json.loads(as_json.output.strip().splitlines()[-1])["photos"][0]["faces"]
        assert face["unrecognisable"] and face["person"] is None
        refused = runner.invoke(app, ["enroll", PERSON, str(photo)])
        assert refused.exit_code != 0
        assert "under the" in refused.output and "needed to recognise it" in refused.output
    finally:
        get_settings.cache_clear()


def test_faces_under_the_floor_are_not_clustered(world: World, tmp_path: Path) -> None:
    store, dim = world.gallery.store, world.gallery.embedder.dim
    root = store.roots.get_or_add("quality-root", str(tmp_path))
    job = store.jobs.add(root, "", xmp=False, owner=None, resumable=True)
    vector = np.ones(dim, dtype=np.float32) / np.sqrt(dim)

    def record(name: str, quality: float) -> None:
        faces = [NewAlbumFace([1.0, 2.0, 50.0, 60.0], [[9.0, 9.0]] * 5, 0.97, b"chip",
                              [[1, 1]] * 5, world.gallery.model, vector, quality=quality)
                 for _ in range(2)]
        store.albums.record(PhotoRef(root, name), 1, 1.0, name[0] * 64, 250, 250,
                            world.gallery.model, job, "", faces)

    record("a.jpg", FLOOR / 2)
    assert cluster_unknown(world.gallery) == 0  # two alike faces, both under the floor
    record("b.jpg", min(1.0, FLOOR + 0.05))
    assert cluster_unknown(world.gallery) == 1
    (cluster,) = store.clusters.all()
    assert cluster.faces == 2 and cluster.paths == ["quality-root:b.jpg"]
