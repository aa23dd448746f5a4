"""Faces in videos: clips made from real LFW photos (an enrolled person's photos that were not
enrolled, a stranger's between them), tagged by a real run of the album tagger."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.album import lfw
from bench.video import H264, HEVC, encoder, make_clip
from faces.xmp_vocabulary import NS
from index.album.tagger import AlbumTagger
from index.gallery import Gallery
from index.settings import IndexSettings

PERSON, OTHER, STRANGER = "Jacques_Chirac", "Alvaro_Uribe", "Celine_Dion"
SECONDS_EACH = 2.5
STEP = 1.0 / IndexSettings().video_rate


def clip_photos() -> list[Path]:
    """Two of the person's photos, the stranger's, the person's third."""
    return [lfw(PERSON, 4), lfw(PERSON, 5), lfw(STRANGER, 1), lfw(PERSON, 7)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory, lfw_dir) -> tuple[Path, dict[str, list[tuple[float, float]]]]:
    """An album of an H.264 clip, an HEVC one where the wheel has an encoder, a photo, a
    truncated clip, a file of a codec the decoder lacks and a renamed text file."""
    root = tmp_path_factory.mktemp("videos") / "album"
    root.mkdir()
    h264 = encoder(H264)
    assert h264 is not None, "the PyAV wheel has no H.264 encoder"
    shots = {"h264.mp4": make_clip(root / "h264.mp4", clip_photos(), h264, (400, 300), 10,
                                   SECONDS_EACH)}
    hevc = encoder(HEVC)
    if hevc is not None:
        shots["hevc.mov"] = make_clip(root / "hevc.mov", clip_photos(), hevc, (400, 300), 10,
                                      SECONDS_EACH)
    shutil.copy(lfw(OTHER, 4), root / "photo.jpg")
    data = (root / "h264.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    stsd = data.find(b"stsd")
    at = data.find(b"avc1", stsd)
    (root / "unknown-codec.mp4").write_bytes(data[:at] + b"zzzz" + data[at + 4 :])
    (root / "notes.m4v").write_text("a text file named as a video\n" * 20)
    return root, shots


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, detector):
    from faces.embed import Embedder

    home = tmp_path_factory.mktemp("home")
    g = Gallery(home=home, detector=detector, embedder=Embedder())
    for name in (PERSON, OTHER):
        for i in (1, 2, 3):
            g.enroll(name, lfw(name, i), face="center")
    yield g
    g.close()


def covers(spans: list[list[float]] | list[tuple[float, float]], start: float, end: float
           ) -> bool:
    """Whether the spans cover [start, end] within a sample step at either end."""
    return any(a <= start + STEP + 1e-6 and b >= end - STEP - 1e-6 for a, b in spans)


def overlaps(spans, start: float, end: float) -> bool:
    """Whether the spans reach into [start, end] by more than a sample step."""
    return any(min(b, end) - max(a, start) > STEP + 1e-6 for a, b in spans)


def test_videos_are_tagged_with_who_appears_and_when(gallery: Gallery, clips) -> None:
    root, shots = clips
    if "hevc.mov" not in shots:
        print("no HEVC encoder in the PyAV wheel: the HEVC clip is left out")
    run = AlbumTagger(gallery, workers=1, xmp=True).run(root)
    assert run["videos"] == len(shots) and run["photos"] == len(shots) + 1
    assert run["failed"] == 3
    problems = {p.path.rsplit("/", 1)[-1].rsplit(":", 1)[-1]: p.detail
                for p in gallery.store.jobs.problems(run["job"])[1]}
    assert "truncated" in problems["truncated.mp4"], problems
    assert "decoder lacks" in problems["unknown-codec.mp4"], problems
    assert "not a video" in problems["notes.m4v"], problems

    _, photos, faces = gallery.store.albums.photos_under(gallery.roots.parts(root), 100, 0)
    by_name = {p.path: p for p in photos}
    assert by_name["photo.jpg"].duration is None
    for name, spans in shots.items():
        video = by_name[name]
        assert video.duration == pytest.approx(4 * SECONDS_EACH, abs=0.2)
        tracks = [f for f in faces if f.photo_id == video.id]
        person = [f for f in tracks if f.name == PERSON]
        assert len(person) == 1, [(f.name, f.times) for f in tracks]
        for i in (0, 1, 3):
            assert covers(person[0].times, *spans[i]), (person[0].times, spans)
        assert not overlaps(person[0].times, *spans[2]), (person[0].times, spans)
        stranger = [f for f in tracks if overlaps(f.times, *spans[2])]
        assert stranger and all(f.person_id is None for f in stranger)
        sidecar = (root / f"{name}.xmp").read_text()
        assert PERSON in sidecar and "PersonInImage" in sidecar
        assert NS["mwg-rs"] not in sidecar

    again = AlbumTagger(gallery, workers=1, xmp=True).run(root)
    assert again["unchanged"] == len(shots) + 1 and again["videos"] == 0


def test_a_video_over_the_length_limit_is_refused_unread(tmp_path: Path, gallery: Gallery,
                                                         clips) -> None:
    root, _ = clips
    album = tmp_path / "long"
    album.mkdir()
    shutil.copy(root / "h264.mp4", album / "long.mp4")
    shutil.copy(lfw(OTHER, 5), album / "photo.jpg")
    settings = gallery.settings
    gallery.settings = settings.model_copy(update={"video_max_seconds": 3.0})
    try:
        run = AlbumTagger(gallery, workers=1).run(album)
    finally:
        gallery.settings = settings
    assert run["photos"] == 1 and run["failed"] == 1 and run["videos"] == 0
    problem, = gallery.store.jobs.problems(run["job"])[1]
    assert "over the limit of 0:03" in problem.detail


def test_the_api_lists_a_video_with_its_times_and_answers_a_frame(gallery: Gallery,
                                                                  clips) -> None:
    """(After the tag run above, in this module's gallery.)"""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.settings import ServiceSettings

    root, shots = clips
    person = gallery.find_person(PERSON)
    settings = ServiceSettings(home=gallery.home, auth=False, album_roots=[root])
    with TestClient(create_app(settings, gallery)) as api:
        listing = api.get("/v1/albums/photos", params={"root": str(root)})
        assert listing.status_code == 200, listing.text
        by_name = {p["path"].rsplit(":", 1)[-1]: p for p in listing.json()["photos"]}
        video = by_name["h264.mp4"]
        assert video["duration"] == pytest.approx(4 * SECONDS_EACH, abs=0.2)
        assert by_name["photo.jpg"]["duration"] is None
        assert all(f["times"] is None for f in by_name["photo.jpg"]["faces"])
        named = [f for f in video["faces"] if f["person"] and f["person"]["id"] == person.id]
        assert len(named) == 1 and covers(named[0]["times"], *shots["h264.mp4"][0])

        image = api.get(f"/v1/albums/photos/{video['id']}/image")
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert image.content[:3] == b"\xff\xd8\xff"

        people = api.get(f"/v1/albums/photos/{video['id']}/people")
        assert people.status_code == 200, people.text
        listed = people.json()["people"]
        assert listed[0]["person"]["name"] == PERSON
        assert covers(listed[0]["times"], *shots["h264.mp4"][0])
        assert any(p["person"] is None and overlaps(p["times"], *shots["h264.mp4"][2])
                   for p in listed)
        photo = api.get(f"/v1/albums/photos/{by_name['photo.jpg']['id']}/people")
        assert photo.status_code == 422 and photo.json()["code"] == "not_a_video"

        theirs = api.get("/v1/photos", params={"person": person.id}).json()["photos"]
        assert {p["path"].rsplit(":", 1)[-1] for p in theirs} >= set(shots)
        assert all(p["duration"] for p in theirs)
