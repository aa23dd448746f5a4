"""The album's own context (`index.album.context`): a face just under the threshold named by
the library's named faces of that person, on real LFW photos; and the rule's guarantees on any
faces (hypothesis)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.album import ENROLL, lfw
from index.album.context import ContextRule, Faces, supported
from index.album.tagger import AlbumTagger
from index.gallery import Gallery
from index.settings import IndexSettings

PERSON = "Jacques_Chirac"
OTHERS = ["Gerhard_Schroeder"]
IN_ALBUM = range(4, 12)  # photos of PERSON not enrolled
STRANGERS = ["Celine_Dion", "Bill_Frist"]


@pytest.fixture
def library(tmp_path: Path, lfw_dir) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for i in IN_ALBUM:
        shutil.copyfile(lfw(PERSON, i), root / f"chirac {i}.jpg")
    for name in STRANGERS:
        for i in (1, 2):
            shutil.copyfile(lfw(name, i), root / f"{name} {i}.jpg")
    return root


def sidecar(photo: Path) -> str:
    return photo.with_name(photo.name + ".xmp").read_text(encoding="utf-8")


def faces_of(g: Gallery) -> dict[str, tuple[int, int, str | None, float]]:
    """The face nearest each photo's centre: id, person (-1: no one), named by, score."""
    table = g.store.albums.face_table(g.model)
    found: dict[str, tuple[float, tuple[int, int, str | None, float]]] = {}
    for i, photo in enumerate(table.photo_ids.tolist()):
        shown, w, h = table.photos[photo]
        b = table.boxes[i]
        off = ((b[0] + b[2]) / 2 - w / 2) ** 2 + ((b[1] + b[3]) / 2 - h / 2) ** 2
        name = shown.rsplit("/", 1)[-1].split(":")[-1]
        if name not in found or off < found[name][0]:
            found[name] = (off, (int(table.ids[i]), int(table.person_ids[i]),
                                 table.named_by[i], float(table.similarity[i])))
    return {n: v for n, (_, v) in found.items()}


def enrolled(home: Path, settings: IndexSettings, detector) -> Gallery:
    from faces.embed import Embedder

    g = Gallery(settings=settings, home=home, detector=detector, embedder=Embedder())
    for name in [PERSON, *OTHERS]:
        for i in ENROLL:
            g.enroll(name, lfw(name, i), face="center")
    return g


def test_a_face_just_under_the_threshold_is_named_by_the_library(
        tmp_path: Path, library: Path, detector) -> None:
    alone = IndexSettings(context_band=0.0)
    with enrolled(tmp_path / "measured", alone, detector) as g:  # the album's scores, first
        person = g.find_person(PERSON).id
        AlbumTagger(g, workers=1).run(library)
        first = faces_of(g)
    theirs = sorted((v[3], n) for n, v in first.items() if v[1] == person)
    assert len(theirs) >= 5
    # a threshold set by hand that leaves two of the faces named PERSON just under
    threshold = (theirs[1][0] + theirs[2][0]) / 2
    band = threshold - theirs[0][0] + 0.005
    g = enrolled(tmp_path / "home", alone.model_copy(
        update={"context_band": band, "context_link_far": 1e-2, "context_margin": 0.0}),
        detector)  # (every face named over the hand-set threshold supports)
    try:
        g.store.meta.set(f"threshold:{g.model}", repr(threshold), model=g.model)
        assert g.threshold() == pytest.approx(threshold)
        run = AlbumTagger(g, workers=1, xmp=True).run(library)
        now = faces_of(g)
        lifted = {n for n, v in now.items() if v[2] == "context"}
        assert lifted == {theirs[0][1], theirs[1][1]}
        assert run["context"] == {"named": 2, "cleared": 0}
        assert run["named"] == len(theirs) - 2  # the photos alone, before the context
        for name in lifted:
            assert now[name][1] == person
            # written like any face facepair names, into the photo's sidecar
            assert PERSON in sidecar(library / name)
        # each is confidently like at least `support` faces named PERSON, and like no one
        # else's
        table = g.store.albums.face_table(g.model)
        link = g.threshold(far=1e-2)
        by_context = np.array(table.named_by, dtype=object) == "context"
        for name in lifted:
            row = int(np.flatnonzero(table.ids == now[name][0])[0])
            near = (table.vectors @ table.vectors[row] >= link) & ~by_context
            near &= table.photo_ids != table.photo_ids[row]
            assert set(table.person_ids[near].tolist()) - {-1} == {person}
            assert (table.person_ids[near] == person).sum() >= g.settings.context_support
        # PERSON's photos that are like none of the named ones stay unknown, as strangers do
        assert all(v[1] == -1 for n, v in now.items() if n not in lifted and v[3] < threshold)
        # the rule turned off: the library's context names nothing, and what it named before
        # is unknown again (and its sidecar says so)
        g.settings = alone
        again = AlbumTagger(g, workers=1, xmp=True).run(library)
        assert again["unchanged"] == len(first) and again["context"] == {"named": 0,
                                                                           "cleared": 2}
        assert all(faces_of(g)[n][1] == -1 for n in lifted)
        assert all(PERSON not in sidecar(library / n) for n in lifted)
    finally:
        g.close()


@st.composite
def libraries(draw) -> tuple[Faces, float]:
    n = draw(st.integers(2, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    centres = rng.normal(size=(4, 8))
    who = rng.integers(0, 4, n)
    vectors = centres[who] + rng.normal(scale=draw(st.floats(0.05, 1.0)), size=(n, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    named = np.where(rng.random(n) < 0.5, rng.integers(0, 4, n), -1)
    best = np.where(named < 0, rng.integers(-1, 4, n), -1)
    score = rng.uniform(0.3, 0.9, n)
    photos = rng.integers(0, max(1, n // 2), n)
    return Faces(photos, named, best, score, vectors.astype(np.float32)), 0.7


@settings(max_examples=60, deadline=None)
@given(libraries(), st.floats(0.0, 0.3), st.floats(-0.5, 0.99), st.integers(1, 3),
       st.floats(0.0, 0.2))
def test_the_rule_never_names_a_person_twice_in_a_photo_nor_against_a_named_face(
        found: tuple[Faces, float], band: float, link: float, support: int,
        margin: float) -> None:
    faces, threshold = found
    named = supported(faces, threshold, ContextRule(band, lambda n: link, support, margin))
    people_in_photo = {(int(faces.photo_ids[r]), int(faces.named[r]))
                       for r in np.flatnonzero(faces.named >= 0)}
    chosen = set()
    for row, person in named.items():
        assert faces.named[row] < 0 and faces.best[row] == person
        assert faces.score[row] >= threshold - band
        key = (int(faces.photo_ids[row]), person)
        assert key not in people_in_photo and key not in chosen
        chosen.add(key)
        # only names given with `margin` over the threshold support (or the user's: +inf)
        linked = ((faces.vectors @ faces.vectors[row] > link) & (faces.named >= 0)
                  & (faces.score >= threshold + margin)
                  & (faces.photo_ids != faces.photo_ids[row]))
        assert set(faces.named[linked].tolist()) == {person}
        assert linked.sum() >= support
