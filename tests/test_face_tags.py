"""Face tags from other tools: read from every layout they are written in (digiKam, Lightroom,
exiftool, Windows Photo Gallery; sidecars and embedded packets; EXIF orientations), imported
into a gallery without touching a byte of the library, and winning over facepair's names."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.tagged_album import PEOPLE, STRANGER, build, display_name, exiftool
from faces.boxes import iou
from faces.decode import decode
from faces.detect import pick_face
from faces.tags import read_tags

FACEPAIR = str(Path(sys.executable).parent / "facepair")


@pytest.fixture(scope="module")
def library(tmp_path_factory, lfw_dir, detector):
    if shutil.which("exiftool") is None:
        pytest.skip("needs exiftool (make system-deps)")
    root = tmp_path_factory.mktemp("tagged") / "photos"
    return root, build(root, detector)


def hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_layout_gives_the_name_and_the_face_as_shown(library) -> None:
    root, truth = library
    layouts = set()
    for rel, (face,) in truth.items():
        tags = read_tags(root / rel)
        assert tags.problems == [] and [f.names for f in tags.faces] == [[face.name]], rel
        # the region was drawn 1.25 times the face's box: an IoU of 1 / 1.25² = 0.64
        assert iou(tags.faces[0].box, face.box) > 0.6, (rel, face.layout, tags.faces[0].box)
        layouts.add(face.layout)
    assert layouts == {"digikam", "lightroom", "exiftool", "windows", "rotated",
                       "rotated-stored"}
    conflict = read_tags(root / "odd" / "conflict.jpg")
    assert [f.names for f in conflict.faces] == [[display_name(PEOPLE[0]),
                                                  display_name(PEOPLE[1])]]
    assert conflict.conflicts == conflict.faces
    assert read_tags(root / "untagged" / f"{STRANGER}_0001.jpg").faces == []


@pytest.mark.parametrize("suffix", [".tif", ".png", ".heic", ".webp"])
def test_tags_embedded_in_other_formats_are_read(tmp_path: Path, face_photo: Path,
                                                 suffix: str) -> None:
    if shutil.which("exiftool") is None:
        pytest.skip("needs exiftool (make system-deps)")
    path = tmp_path / f"photo{suffix}"
    Image.open(face_photo).save(path)
    exiftool("-RegionInfo={AppliedToDimensions={W=250,H=250,Unit=pixel},RegionList=[{Area={"
             "X=0.5,Y=0.45,W=0.4,H=0.5,Unit=normalized},Name=Ann,Type=Face}]}", str(path))
    (face,) = read_tags(path).faces
    assert face.names == ["Ann"] and iou(face.box, (75, 50, 175, 175)) > 0.99


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_region_lands_on_the_face_whatever_the_orientation(tmp_path: Path,
                                                             orientation: int) -> None:
    """A white square in a stored 300×200 photo, tagged relative to the photo as shown
    (every orientation) and relative to the stored image (where the orientation swaps width
    and height, which `AppliedToDimensions` then tells): the box read is where the square
    is once the photo is decoded upright."""
    if shutil.which("exiftool") is None:
        pytest.skip("needs exiftool (make system-deps)")
    stored = np.zeros((200, 300, 3), dtype=np.uint8)
    stored[40:100, 180:240] = 255
    path = tmp_path / "square.jpg"
    Image.fromarray(stored).save(path, quality=95)
    exiftool(f"-Orientation#={orientation}", str(path))
    shown = decode(path)
    ys, xs = np.nonzero(shown[..., 0] > 128)
    where = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    height, width = shown.shape[:2]
    frames = [((where[0] + where[2]) / 2 / width, (where[1] + where[3]) / 2 / height,
               (where[2] - where[0]) / width, (where[3] - where[1]) / height, width, height)]
    if orientation >= 5:  # relative to the stored image, which AppliedToDimensions tells
        frames.append((210 / 300, 70 / 200, 60 / 300, 60 / 200, 300, 200))
    for x, y, w, h, aw, ah in frames:
        exiftool("-XMP:all=", str(path))
        exiftool(f"-RegionInfo={{AppliedToDimensions={{W={aw},H={ah},Unit=pixel}},"
                 f"RegionList=[{{Area={{X={x},Y={y},W={w},H={h},Unit=normalized}},"
                 f"Name=Square,Type=Face}}]}}", str(path))
        (face,) = read_tags(path).faces
        assert iou(face.box, where) > 0.9, (orientation, aw, ah, face.box, where)


@pytest.fixture
def cli(tmp_path: Path):
    env = {**os.environ, "FACEPAIR_HOME": str(tmp_path / "home"), "FACEPAIR_ALBUM_WORKERS": "1"}

    def run(*args: str, code: int = 0) -> dict:
        done = subprocess.run([FACEPAIR, *args], capture_output=True, text=True, env=env,
                              timeout=600)
        assert done.returncode == code, (args, done.stdout[-800:], done.stderr[-800:])
        assert "Traceback" not in done.stderr
        lines = done.stdout.strip().splitlines()
        return json.loads(lines[-1]) if "--json" in args and lines else {}

    return run


def test_import_tags_makes_a_gallery_and_never_touches_the_library(library, cli, lfw_dir: Path,
                                                                    tmp_path: Path) -> None:
    root, truth = library
    before = hashes(root)
    preview = cli("import-tags", str(root), "--dry-run", "--json")
    assert preview["dry_run"] and preview["matched"] == len(truth)
    assert cli("people", "list", "--json")["people"] == []  # a dry run writes nothing

    report = cli("import-tags", str(root), "--per-person", "3", "--json")
    names = report["names"]
    assert {n for n, v in names.items() if v["matched"]} == {display_name(p) for p in PEOPLE}
    for person in PEOPLE:
        tagged = sum(f.name == display_name(person) for faces in truth.values() for f in faces)
        assert names[display_name(person)]["matched"] == tagged
        assert names[display_name(person)]["enrolled"] == 3  # the cap
    assert [w["path"].endswith("wall.jpg") for w in report["without_face"]] == [True]
    assert [c["names"] for c in report["conflicts"]] == [[display_name(PEOPLE[0]),
                                                         display_name(PEOPLE[1])]]
    people = {p["name"]: p["faces"] for p in cli("people", "list", "--json")["people"]}
    assert people == {display_name(p): 3 for p in PEOPLE}  # no one made from "Nobody Here"
    assert hashes(root) == before  # not a byte of the library changed

    again = cli("import-tags", str(root), "--json")  # only what changed is read
    assert (again["photos"], again["unchanged"]) == (0, report["photos"])

    # how well facepair agrees with the tags: each face with its own photo held out
    page = tmp_path / "agree.html"
    agreed = cli("agree", str(root), "--report", str(page), "--json")
    assert agreed["tagged"] == report["matched"]
    assert agreed["right"] + agreed["wrong"] + agreed["unknown"] == agreed["tagged"]
    assert agreed["right"] >= 0.8 * agreed["tagged"], agreed
    assert "How well facepair agrees" in page.read_text()

    # the gallery it made names new photos of the same people
    person = PEOPLE[2]
    found = cli("identify", str(lfw_dir / person / f"{person}_0009.jpg"), "--json")
    named = [f["person"]["name"] for f in found["photos"][0]["faces"] if f["person"]]
    assert named == [display_name(person)]


def test_the_users_tag_wins_when_an_album_is_tagged(library, tmp_path: Path, detector,
                                                    lfw_dir: Path) -> None:
    """A photo of one person that the user tagged as someone else: the face is recorded as
    the user says, the disagreement is reported, and no sidecar of facepair's contradicts
    the tag."""
    from faces.embed import Embedder
    from index.album.jobs import status as job
    from index.album.tagger import AlbumTagger
    from index.gallery import Gallery

    album = tmp_path / "album"
    album.mkdir()
    person, other = PEOPLE[1], PEOPLE[3]
    photo = album / "party.jpg"
    shutil.copyfile(lfw_dir / person / f"{person}_0011.jpg", photo)
    box = pick_face(detector.detect(decode(photo)), (250, 250)).box
    exiftool(f"-RegionInfo={{AppliedToDimensions={{W=250,H=250,Unit=pixel}},RegionList=["
             f"{{Area={{X={(box[0] + box[2]) / 500},Y={(box[1] + box[3]) / 500},"
             f"W={(box[2] - box[0]) / 250},H={(box[3] - box[1]) / 250},Unit=normalized}},"
             f"Name={display_name(other)},Type=Face}}]}}", str(photo))
    before = hashes(album)
    with Gallery(home=tmp_path / "home", detector=detector, embedder=Embedder()) as g:
        for i in (7, 8, 9):
            g.enroll(display_name(person), lfw_dir / person / f"{person}_{i:04d}.jpg",
                     face="center")
        tagger = AlbumTagger(g, workers=1, xmp=True)
        result = tagger.run(album)
        assert (result["photos"], result["named"]) == (1, 1)
        assert [r.name for r in g.store.albums.report()] == [display_name(other)]
        problems = job(g, result["job"]).model_dump()["first_problems"]
        assert [p["problem"] for p in problems] == ["name_differs"]
    assert hashes(album) == before  # no sidecar written: the only face is the user's


def test_a_tagged_library_is_a_training_source(library, tmp_path: Path) -> None:
    """`prepare --from-tags`: each named face a labelled crop of its person; a face two tags
    name differently, and a region without a face, give no crop."""
    import csv

    root, truth = library
    done = subprocess.run([FACEPAIR, "prepare", str(root), str(tmp_path / "prep"),
                           "--from-tags", "--json"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    rows = list(csv.DictReader((tmp_path / "prep" / "manifest.csv").open()))
    ok = sorted((Path(r["path"]).relative_to(root).as_posix(), r["person"]) for r in rows
                if r["status"] == "ok")
    assert ok == sorted((rel, faces[0].name) for rel, faces in truth.items())
    assert report["ok"] == len(truth) and report["no_face"] == 1  # the region on the wall
    crops = np.load(tmp_path / "prep" / "crops.npy")
    assert crops.shape == (len(rows), 112, 112, 3) and crops[[int(r["index"]) for r in rows
                                                              if r["status"] == "ok"]].any()
