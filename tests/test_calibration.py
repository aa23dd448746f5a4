"""The gallery's own threshold: the nearest faces kept incrementally agree with computing them
from scratch, through enrollments, deletions and merges; intervals are right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.calibration import Nearest, estimate, threshold_for, wilson
from index.search import FaceIndex
from index.store import NewFace, Store

DIM = 16


class Faces:
    """A store and an exact index holding clustered unit vectors (people)."""

    def __init__(self, home: Path, seed: int) -> None:
        self.store = Store(home / "gallery.sqlite3")
        self.index = FaceIndex(DIM)
        self.rng = np.random.default_rng(seed)
        self.centres: dict[int, np.ndarray] = {}
        self.made = 0  # people made so far (ids of deleted people are reused)

    def person(self) -> int:
        self.made += 1
        pid = self.store.people.add(f"p{self.made}")
        self.centres[pid] = self.rng.normal(size=DIM)
        return pid

    def add(self, pid: int) -> int:
        v = self.centres[pid] + self.rng.normal(scale=0.8, size=DIM)
        v = (v / np.linalg.norm(v)).astype(np.float32)
        with self.store.transaction():
            photo = self.store.faces.add_photo(self.rng.bytes(8).hex(), "x", 1, 1)
            fid = self.store.faces.add(NewFace(photo, pid, [0, 0, 1, 1], [[0, 0]] * 5, 1.0,
                                               1.0, b"", [[0, 0]] * 5))
            self.store.embeddings.put("m", [fid], v[None])
        self.index.add(np.array([fid]), v[None])
        return fid

    def current(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        found = self.store.embeddings.of_model("m")
        return found.face_ids, found.person_ids, found.vectors

    def refresh(self) -> dict:
        ids, people, vectors = self.current()
        held = self.index.vectors()
        assert held is not None and sorted(held[0].tolist()) == ids.tolist()
        return Nearest(self.store, "m").refresh(ids, people, vectors)


def from_scratch(ids: np.ndarray, people: np.ndarray, vectors: np.ndarray) -> dict:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    same = people[:, None] == people[None, :]
    out = {}
    for i, f in enumerate(ids.tolist()):
        imp = np.where(same[i], -np.inf, sims[i]).max()
        gen = np.where(same[i], sims[i], -np.inf).max()
        out[f] = (float(imp), None if not np.isfinite(gen) else float(gen))
    return out


def agree(rows: dict, expected: dict) -> None:
    assert rows.keys() == expected.keys()
    for f, (imp, _, gen, _) in rows.items():
        assert imp == pytest.approx(expected[f][0], abs=1e-5)
        if expected[f][1] is None:
            assert gen is None
        else:
            assert gen == pytest.approx(expected[f][1], abs=1e-5)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.lists(st.sampled_from(
    ["add", "add", "add", "person", "delete_face", "delete_person", "merge"]),
    min_size=5, max_size=25))
def test_incremental_rows_match_a_full_computation(tmp_path_factory, seed: int,
                                                   steps: list[str]) -> None:
    faces = Faces(tmp_path_factory.mktemp("g"), seed)
    for _ in range(3):
        pid = faces.person()
        faces.add(pid)
        faces.add(pid)
    faces.refresh()
    for step in steps:
        people = [p.id for p in faces.store.people.all()]
        ids, _, _ = faces.current()
        pick = int(faces.rng.integers(1 << 30))
        if step == "add":
            faces.add(people[pick % len(people)])
        elif step == "person":
            faces.add(faces.person())
        elif step == "delete_face" and len(ids) > 4:
            fid = int(ids[pick % len(ids)])
            faces.store.faces.delete(fid)
            faces.index.remove([fid])
        elif step == "delete_person" and len(people) > 3:
            gone = faces.store.people.delete(people[pick % len(people)])
            faces.index.remove(gone)
        elif step == "merge" and len(people) > 3:
            keep, other = people[pick % len(people)], people[(pick + 1) % len(people)]
            faces.store.people.merge(keep, other)
        if pick % 3 == 0:  # the rows are brought up to date now and then, not after every step
            agree(faces.refresh(), from_scratch(*faces.current()))
    agree(faces.refresh(), from_scratch(*faces.current()))


def test_the_gallery_threshold_is_never_looser_than_the_card() -> None:
    rng = np.random.default_rng(0)
    rows = {i: (float(s), 0, 0.9, 0) for i, s in enumerate(rng.normal(0.5, 0.1, 1000))}
    strict = estimate(rows, 100, 0.01, card_threshold=0.5, manual=None)
    assert strict.source == "gallery" and strict.threshold == threshold_for(
        np.array([r[0] for r in rows.values()]), 0.01)
    assert strict.fpir is not None and strict.fpir.count <= 10
    loose = estimate(rows, 100, 0.01, card_threshold=0.95, manual=None)
    assert loose.source == "card" and loose.threshold == 0.95
    few = estimate(dict(list(rows.items())[:200]), 100, 0.01, card_threshold=0.5, manual=None)
    assert few.source == "card" and few.gallery_threshold is None  # 2 expected: too few
    manual = estimate(rows, 100, 0.01, card_threshold=0.95, manual=0.7)
    assert manual.source == "manual" and manual.threshold == 0.7


def test_wilson_interval() -> None:
    low, high = wilson(10, 1000)  # 1 %: about 0.54 % to 1.83 %
    assert low == pytest.approx(0.00544, abs=1e-4) and high == pytest.approx(0.01831, abs=1e-4)
    assert wilson(0, 100)[0] == 0.0 and wilson(100, 100)[1] == pytest.approx(1.0)


def test_the_gallery_threshold_follows_real_enrollments(tmp_path: Path, lfw_dir: Path,
                                                        monkeypatch) -> None:
    """20 LFW DevTest people, 3 photos each: the estimate in force is the gallery's own
    (FPIR 8 %: 60 faces are enough) or the card's when that is stricter; it equals a full
    computation over the enrolled faces, before and after a deletion; `facepair status`
    reports it."""
    import json
    import os
    import subprocess
    import sys

    from index.gallery import Gallery
    from index.settings import IndexSettings

    names = []
    for line in (lfw_dir.parent / "peopleDevTest.txt").read_text().splitlines()[1:]:
        name, count = line.split("\t")
        if int(count) >= 3:
            names.append(name)
    # every photo enrolled, whatever its quality: the estimate over a known set of faces
    g = Gallery(IndexSettings(fpir=0.08, quality_floor=0.0), home=tmp_path)
    for name in names[:20]:
        for i in (1, 2, 3):
            g.enroll(name, lfw_dir / name / f"{name}_{i:04d}.jpg", face="center")

    def check() -> None:
        found = g.store.embeddings.of_model(g.model)
        ids, people, vectors = found.face_ids, found.person_ids, found.vectors
        impostor = np.array([v for v, _ in from_scratch(ids, people, vectors).values()])
        est = g.estimate()
        assert est.faces == len(ids) and est.gallery_threshold == pytest.approx(
            threshold_for(impostor, 0.08), abs=1e-6)
        assert est.threshold == max(est.card_threshold, est.gallery_threshold)
        assert est.source == ("gallery" if est.gallery_threshold > est.card_threshold
                              else "card")
        assert est.fpir is not None and est.fpir.count == int((impostor >= est.threshold).sum())

    check()
    g.delete_person(g.find_person(names[0]).id)
    check()
    # a request does not wait for a first estimate over BACKGROUND_FROM faces: the card's
    # threshold answers while it is made on a thread of its own
    import index.thresholds

    monkeypatch.setattr(index.thresholds, "BACKGROUND_FROM", 10)
    g.store.embeddings.clear_nearest()
    g.thresholds._estimate = None
    quick = g.estimate(wait=False)
    assert quick.source == "card" and quick.gallery_threshold is None and quick.fpir is None
    assert g.thresholds._estimating is not None
    g.thresholds._estimating.join(timeout=60)
    check()
    g.close()
    env = {**os.environ, "FACEPAIR_HOME": str(tmp_path), "FACEPAIR_FPIR": "0.08"}
    cli = str(Path(sys.executable).parent / "facepair")
    p = subprocess.run([cli, "status", "--json"], capture_output=True, text=True, env=env,
                       timeout=300)
    status = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 0 and status["faces"] == 57 and status["people"] == 19
    identify = status["identify"]
    assert identify["source"] in ("gallery", "card") and identify["gallery_threshold"] > 0
    assert 0 <= identify["fpir"]["low"] <= identify["fpir"]["estimate"] <= identify["fpir"]["high"]
