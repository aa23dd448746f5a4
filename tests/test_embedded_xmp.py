"""Face regions written into a JPEG's own XMP: exiftool reads all three standards back, what
other tools wrote stays, and the image data is byte-identical."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from faces.decode import decode
from index.album.jobs import status as job
from index.album.tagger import AlbumTagger
from index.gallery import Gallery
from index.jpeg_xmp import SOS, _segments, read_packet

PERSON, OTHER = "Bill_Gates", "Halle_Berry"


def image_data(path: Path) -> bytes:
    """From the start of scan to the end: the compressed pixels."""
    data = path.read_bytes()
    marker, start, _ = _segments(data, path)[-1]
    assert marker == SOS
    return data[start:]


def exif(path: Path) -> dict:
    out = subprocess.run(["exiftool", "-j", "-RegionName", "-RegionPersonDisplayName",
                          "-PersonInImage", "-Rating", "-Subject", "-Artist", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


@pytest.fixture
def gallery(tmp_path: Path, detector, lfw_dir: Path):
    from faces.embed import Embedder

    g = Gallery(home=tmp_path / "home", detector=detector, embedder=Embedder())
    for i in (1, 2, 3):
        g.enroll("Bill", lfw_dir / PERSON / f"{PERSON}_{i:04d}.jpg", face="center")
    yield g
    g.close()


def test_regions_go_into_the_jpeg_and_nothing_else_changes(gallery: Gallery, tmp_path: Path,
                                                          lfw_dir: Path) -> None:
    if shutil.which("exiftool") is None:
        pytest.skip("needs exiftool (make system-deps)")
    album = tmp_path / "album"
    album.mkdir()
    photo = album / "bill.jpg"
    shutil.copyfile(lfw_dir / PERSON / f"{PERSON}_0005.jpg", photo)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-Rating=3", "-Subject=holiday",
                    "-Artist=Grandpa", str(photo)], check=True)
    stranger = album / "stranger.jpg"  # no one known: nothing is written into it
    shutil.copyfile(lfw_dir / OTHER / f"{OTHER}_0001.jpg", stranger)
    linked = album / "link.jpg"  # a link is never written through
    linked.symlink_to(lfw_dir / PERSON / f"{PERSON}_0006.jpg")
    pixels, stranger_bytes = image_data(photo), stranger.read_bytes()
    before = decode(photo)

    result = AlbumTagger(gallery, workers=1, xmp=True, embed=True).run(album)
    assert result["named"] == 2
    meta = exif(photo)
    assert (meta["RegionName"], meta["RegionPersonDisplayName"], meta["PersonInImage"]) == (
        "Bill", "Bill", "Bill")
    assert (meta["Rating"], meta["Subject"], meta["Artist"]) == (3, "holiday", "Grandpa")
    assert image_data(photo) == pixels and np.array_equal(decode(photo), before)
    assert not list(album.glob("*.xmp")) and not list(album.glob(".*"))  # no sidecar, no tmp
    assert stranger.read_bytes() == stranger_bytes
    problems = job(gallery, result["job"]).model_dump()["first_problems"]
    assert [(p["path"], p["problem"]) for p in problems] == [
        (f"{album.name}:link.jpg", "photo_left_alone")]

    again = AlbumTagger(gallery, workers=1, xmp=True, embed=True).run(album)
    assert (again["photos"], again["unchanged"]) == (0, 3)  # its own write is no change

    person = gallery.find_person("Bill")
    gallery.update_person(person.id, name="William")  # the regions follow a rename
    meta = exif(photo)
    assert (meta["RegionName"], meta["PersonInImage"], meta["Artist"]) == (
        "William", "William", "Grandpa")
    assert image_data(photo) == pixels
    gallery.delete_person(person.id)  # and a delete takes them out
    meta = exif(photo)
    assert "RegionName" not in meta and "PersonInImage" not in meta and meta["Rating"] == 3
    packet = read_packet(photo) or b""
    assert image_data(photo) == pixels and b"William" not in packet and b"holiday" in packet
