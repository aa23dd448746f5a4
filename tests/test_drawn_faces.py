"""Faces drawn by hand on a tagged album photo, on a real photo with the real model: one LFW
face at its size and another shrunk beside it, tagged by a gallery that looks for faces of 80
px and more (FACEPAIR_MIN_FACE_SIZE), so that the detector reports the large face only. The
small face is the one drawn."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faces.decode import decode
from faces.detect import Detector, pick_face
from index import curation
from index.album.tagger import AlbumTagger
from index.errors import FaceExists, Refused
from index.gallery import Gallery
from index.settings import IndexSettings

BIG, SMALL = "Jacques_Chirac", "Gerhard_Schroeder"
SHRINK, AT = 0.5, (260, 60)  # the small face's photo: its scale and top left in the canvas


def lfw(root: Path, name: str, i: int) -> Path:
    return root / name / f"{name}_{i:04d}.jpg"


def jpeg(pixels: np.ndarray, quality: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture
def party(tmp_path: Path, lfw_dir: Path, detector):
    """A gallery that knows Ann (three photos of SMALL), the tagged album of one photo, the
    photo's pixels and where the small face lies in it (as the detector finds it alone)."""
    from faces.embed import Embedder

    small = np.asarray(Image.fromarray(decode(lfw(lfw_dir, SMALL, 4))).resize((125, 125)))
    canvas = np.full((250, 400, 3), 128, dtype=np.uint8)
    canvas[:, :250] = decode(lfw(lfw_dir, BIG, 4))
    canvas[AT[1]:AT[1] + 125, AT[0]:AT[0] + 125] = small
    face = pick_face(detector.detect(small), small.shape)
    assert face is not None
    box = [face.box[0] + AT[0], face.box[1] + AT[1], face.box[2] + AT[0], face.box[3] + AT[1]]
    album = tmp_path / "album"
    album.mkdir()
    (album / "party.jpg").write_bytes(jpeg(canvas, 95))
    settings = IndexSettings(home=tmp_path / "home", min_face_size=80)
    g = Gallery(settings, detector=Detector(settings), embedder=Embedder())
    for i in (1, 2, 3):
        g.enroll("Ann", lfw(lfw_dir, SMALL, i), face="center")
    AlbumTagger(g, workers=1, xmp=True).run(album)
    yield g, album, canvas, box
    g.close()


def photo_of(g: Gallery) -> dict:
    (photo,) = curation.album_photos(g, g.roots.listing()[0]["name"] + ":", 10, 0)["photos"]
    return photo


def test_a_drawn_face_is_named_enrolled_written_and_kept(party) -> None:
    g, album, canvas, box = party
    photo = photo_of(g)
    assert len(photo["faces"]) == 1  # the small face is under the 80 px looked for
    # the user's box is looser than the detector's: 10 % more on every side
    w, h = box[2] - box[0], box[3] - box[1]
    drawn = [box[0] - 0.1 * w, box[1] - 0.1 * h, box[2] + 0.1 * w, box[3] + 0.1 * h]
    ann = g.find_person("Ann").id
    enrolled = g.store.embeddings.of_model(g.model, ann).vectors
    added = curation.draw_face(g, photo["id"], drawn, "Ann")
    assert added["landmarks"] == "found" and not added["unrecognisable"]
    assert added["person"]["name"] == "Ann" and added["named_by"] == "answer"
    assert added["enrolled"] and len(g.store.faces.of_person(added["person"]["id"])) == 4
    # aligned well: it is as like her other faces as the threshold asks of a found face
    assert float(np.max(enrolled @ g.store.albums.face(added["id"]).vector)) > g.threshold()
    sidecar = album / "party.jpg.xmp"
    assert "Ann" in sidecar.read_text()

    # over a face the photo has, found or drawn: refused
    for taken in (photo["faces"][0]["box"], drawn):
        with pytest.raises(FaceExists):
            curation.draw_face(g, photo["id"], taken, None)
    with pytest.raises(Refused, match="not inside"):
        curation.draw_face(g, photo["id"], [300, 100, 420, 200], None)
    with pytest.raises(Refused) as bad:
        curation.draw_face(g, photo["id"], [10, 10, 12, 40], None)
    assert bad.value.code == "bad_box"

    # the photo changes (saved again): tagged again, the drawn face stays as drawn
    (album / "party.jpg").write_bytes(jpeg(canvas, 90))
    run = AlbumTagger(g, workers=1, xmp=True).run(album)
    assert run["photos"] == 1 and run["faces"] == 1
    again = photo_of(g)
    kept = [f for f in again["faces"] if f["drawn"]]
    assert [(f["id"], f["person"]["name"], f["named_by"]) for f in kept] == [
        (added["id"], "Ann", "answer")]
    assert len(again["faces"]) == 2 and "Ann" in sidecar.read_text()


def test_a_box_without_a_face_is_kept_unknown_and_unrecognisable(party) -> None:
    """A box over the gray canvas: no landmarks found, aligned from the box alone; the user
    drew it, so it stays, but it is neither enrolled nor named."""
    g, _, _, _ = party
    photo = photo_of(g)
    added = curation.draw_face(g, photo["id"], [330, 190, 390, 245], None)
    assert added["landmarks"] == "box" and added["unrecognisable"]
    assert added["person"] is None and not added["enrolled"]
    assert added["quality"] == 0.0 and g.store.albums.face(added["id"]).quality == 0.0
