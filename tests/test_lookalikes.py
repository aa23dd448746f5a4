"""Look-alikes with the real detector and model: one real person enrolled under two names is
the nearest look-alike there can be. The pair is reported (gallery, API, CLI, agreement
report), a new photo of them is left unknown between the two with the margin on and named
with it off, and a third person is in no pair and is named as before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from index.gallery import Gallery
from index.settings import IndexSettings

AMELIE, CARLOS = "Amelie_Mauresmo", "Carlos_Moya"  # LFW DevTest people
ONE, TWO, THIRD = "Amélie", "Amélie (again)", "Carlos"
MARGIN = 0.1


def photo(lfw: Path, name: str, i: int) -> Path:
    return lfw / name / f"{name}_{i:04d}.jpg"


@pytest.fixture(scope="module")
def models(detector):
    from faces.embed import Embedder

    return detector, Embedder()


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, models, lfw_dir: Path) -> Iterator[Gallery]:
    detector, embedder = models
    home = tmp_path_factory.mktemp("lookalikes")
    g = Gallery(IndexSettings(home=home, lookalike_margin=MARGIN), detector=detector,
                embedder=embedder)
    for name, person, shots in ((ONE, AMELIE, (1, 2)), (TWO, AMELIE, (3, 4)),
                                (THIRD, CARLOS, (1, 2))):
        for i in shots:
            g.enroll(name, photo(lfw_dir, person, i), face="center")
    yield g
    g.close()


def central(matches: list) -> Any:
    """The face nearest the centre of an LFW photo (250×250): the person it is of."""
    def off(m: Any) -> float:
        x1, y1, x2, y2 = m.face.box
        return abs((x1 + x2) / 2 - 125) + abs((y1 + y2) / 2 - 125)

    return min(matches, key=off)


def pair_names(pairs: list) -> list[set[str]]:
    return [{p["name"] for p in pair["people"]} for pair in pairs]


def test_one_person_under_two_names_is_a_look_alike_pair(gallery: Gallery) -> None:
    found = gallery.lookalikes()
    assert found.level == pytest.approx(gallery.threshold(), abs=1e-4)
    assert found.margin == MARGIN
    assert pair_names([p.model_dump() for p in found.pairs]) == [{ONE, TWO}]
    (pair,) = found.pairs
    assert pair.score >= found.level
    # the two faces shown are enrolled faces of each of them
    owners = gallery.matching.owners()
    assert [owners[p.face_id] for p in pair.people] == [p.id for p in pair.people]
    assert gallery.lookalikes(level=0.999).pairs == []


def test_the_margin_leaves_a_look_alike_unknown_and_0_names_them(gallery: Gallery,
                                                                 lfw_dir: Path) -> None:
    detector, embedder = gallery.detector, gallery.embedder
    probe = photo(lfw_dir, AMELIE, 5)
    ambiguous = central(gallery.identify(probe))
    assert ambiguous.person is None
    assert {c.person.name for c in ambiguous.candidates[:2]} == {ONE, TWO}
    assert ambiguous.candidates[0].score >= gallery.threshold()  # named, but for the margin
    assert ambiguous.reason in (f"ambiguous: look-alike of {ONE}",
                                f"ambiguous: look-alike of {TWO}")
    assert ambiguous.candidates[0].person.name not in ambiguous.reason
    one = central(gallery.identify(probe, top_k=1))  # the second is kept all the same
    assert one.person is None and len(one.candidates) == 2 and one.reason == ambiguous.reason
    carlos = central(gallery.identify(photo(lfw_dir, CARLOS, 3)))
    assert carlos.person is not None and carlos.person.name == THIRD and carlos.reason is None
    # the same gallery without the margin (the setting at 0) names the face
    with Gallery(gallery.settings.model_copy(update={"lookalike_margin": 0.0}),
                 detector=detector, embedder=embedder) as plain:
        named = central(plain.identify(probe))
        assert named.person is not None and named.person.name in (ONE, TWO)
        assert named.reason is None


def test_in_a_photo_of_several_the_other_faces_count(gallery: Gallery, lfw_dir: Path) -> None:
    """Two photos of the person side by side: either way round scores about the same, so both
    faces are left unknown; beside the third person, the look-alike face alone is."""
    from faces.decode import decode
    from tests.test_gallery import side_by_side

    twice = decode(side_by_side(photo(lfw_dir, AMELIE, 5), photo(lfw_dir, AMELIE, 6)))
    faces, vectors = gallery.faces_in(twice)
    both = gallery.match(faces, vectors)
    assert len(both) == 2 and all(m.person is None and m.reason for m in both)
    beside = decode(side_by_side(photo(lfw_dir, AMELIE, 5), photo(lfw_dir, CARLOS, 3)))
    faces, vectors = gallery.faces_in(beside)
    left, right = sorted(gallery.match(faces, vectors), key=lambda m: m.face.box[0])
    assert left.person is None and left.reason
    assert right.person is not None and right.person.name == THIRD


def test_the_api_and_the_cli_report_the_pair(gallery: Gallery, lfw_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from service.app import create_app
    from service.cli.app import app
    from service.settings import ServiceSettings, get_settings

    settings = ServiceSettings(home=gallery.home, auth=False, lookalike_margin=MARGIN)
    with TestClient(create_app(settings, gallery)) as api:
        found = api.get("/v1/lookalikes")
        assert found.status_code == 200, found.text
        assert pair_names(found.json()["pairs"]) == [{ONE, TWO}]
        bad = api.get("/v1/lookalikes", params={"level": 2})
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        named = api.post("/v1/identify", files={
            "photo": ("a.jpg", photo(lfw_dir, AMELIE, 5).read_bytes(), "image/jpeg")})
        face = min(named.json()["faces"], key=lambda f: abs(sum(f["box"][0::2]) / 2 - 125)
                   + abs(sum(f["box"][1::2]) / 2 - 125))
        assert face["person"] is None and face["reason"].startswith("ambiguous: look-alike")

    monkeypatch.setenv("FACEPAIR_HOME", str(gallery.home))
    monkeypatch.setenv("FACEPAIR_LOOKALIKE_MARGIN", str(MARGIN))
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, ["lookalikes", "--json"])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert pair_names(printed["pairs"]) == [{ONE, TWO}] and printed["margin"] == MARGIN


def test_the_agreement_report_shows_the_pair(gallery: Gallery, tmp_path: Path) -> None:
    from index.agreement import agree, write_agreement

    result = agree(gallery, tmp_path)
    assert pair_names(result["lookalikes"]) == [{ONE, TWO}]
    page = write_agreement(gallery, result, tmp_path / "agree.html").read_text()
    assert "People who look alike" in page and ONE in page and TWO in page
    assert THIRD not in page.split("People who look alike")[1]


def test_a_merge_ends_the_pair(gallery: Gallery, lfw_dir: Path) -> None:
    """(Last: it changes the module's gallery.) The cache follows the change feed."""
    one, two = gallery.find_person(ONE).id, gallery.find_person(TWO).id
    gallery.merge(one, two)
    assert gallery.lookalikes().pairs == []
    # what the feed's changes made of the look-alikes is what the gallery read afresh gives
    followed = gallery.lookalikes(level=-1.0).pairs
    assert [{p.name for p in pair.people} for pair in followed] == [{ONE, THIRD}]
    gallery.reload()
    assert gallery.lookalikes(level=-1.0).pairs == followed
    named = central(gallery.identify(photo(lfw_dir, AMELIE, 5)))
    assert named.person is not None and named.person.name == ONE and named.reason is None
