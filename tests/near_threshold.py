"""Faces just under the identify threshold, put there on purpose.

The int8 kernels of one CPU score a face a little differently from another's (oneDNN's VNNI
kernels and its AVX2 ones, PyTorch's other x86 kernels: `tests/test_quantize.py`), so a test
that needs a face just under the threshold never counts on where the kernels put it. It
measures first: a gallery enrolled and an album tagged as the test's own will be, under the
strictest threshold. From those scores it picks the FPIR setting, and so the thresholds, at
which what it needs holds, and leaves out of its album the photos whose faces would stand in
the way (a face on a threshold's edge, within MARGIN of it, or a stranger's face closer than
the ones it needs), as few as it can. Then it builds its situation with both.

A gallery of a few faces identifies at the model card's threshold at a pair false-accept rate
of FPIR / enrolled faces (`index.gallery`, `index.calibration`): the threshold follows from
the FPIR and the gallery's size, and each test says at which sizes its steps run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index import curation
from index.gallery import NEAR_COPY, Gallery
from index.thresholds import threshold_at

# an FPIR this small puts every threshold at the card's strictest
STRICTEST = 1e-9
# the FPIR settings tried: up to a gallery of a few faces' card range (a pair rate of 1e-2
# at 6 faces), far under where a gallery of a dozen faces would make its own estimate
FPIRS = np.geomspace(1e-7, 0.06, 2000)
# How far every score stays from the thresholds that decide a situation. Measured and used on
# the same machine, by the same code on the same photos, a score comes out the same to about
# 1e-6; the margin covers that many times over.
MARGIN = 0.003

At = Callable[[int], float]  # the identify threshold of a gallery of this many faces


@dataclass(frozen=True, eq=False)
class Scored:
    """An album face as a tagging run left it: the person it is closest to, and how close."""

    face_id: int
    photo: str  # the photo's file name
    person: str
    score: float
    vector: np.ndarray | None  # faces left unknown only


def album_scores(g: Gallery) -> list[Scored]:
    """Every album face of a tagged gallery and its best score, closest first: the faces
    named, and the unknown faces with their best candidate."""
    named = [Scored(f["id"], Path(f["path"]).name, p.name, float(f["similarity"]), None)
             for p in g.people() for f in curation.person_faces(g, p.id)["album"]
             if f["similarity"] is not None]
    _, rows = g.store.clusters.suggestions(-2.0, 2.0, 100_000)  # every band: every unknown face
    unknown = [Scored(r.face_id, Path(r.path).name, r.name, r.similarity, r.vector)
               for r in rows]
    return sorted(named + unknown, key=lambda s: (-s.score, s.face_id))


def on_an_edge(faces: Iterable[Scored], *thresholds: float) -> set[str]:
    """The photos of the faces within MARGIN of one of these thresholds."""
    return {f.photo for f in faces if any(abs(f.score - t) < MARGIN for t in thresholds)}


def without(faces: Iterable[Scored], photos: set[str]) -> list[Scored]:
    return [f for f in faces if f.photo not in photos]


def waiting(faces: Iterable[Scored], threshold: float, named_at: float | None = None
            ) -> list[Scored]:
    """The suggestions at `threshold`, closest first: the faces within the band under it,
    left unknown when the album was tagged (at `named_at`, by default the same)."""
    top = min(threshold, threshold if named_at is None else named_at)
    return [f for f in faces if threshold - curation.SUGGEST_BAND <= f.score < top]


def said_no(no: Scored, others: Iterable[Scored]) -> set[str]:
    """The photos of the faces that "no" to the suggestion `no` would take away with it (its
    person's, a near-copy of it)."""
    assert no.vector is not None
    return {f.photo for f in others if f.person == no.person and f.vector is not None
            and float(f.vector @ no.vector) >= NEAR_COPY}


def pick(card: dict[str, float] | None, plan: Callable[[At], set[str] | None]
         ) -> tuple[float, set[str]]:
    """The FPIR setting at which a test's situation holds leaving fewest photos out, and those
    photos. `plan(at)` is given the identify threshold at each gallery size and returns the
    photos it leaves out, or None where the situation cannot be had there."""
    best: tuple[float, set[str]] | None = None
    for fpir in FPIRS:
        out = plan(lambda faces, f=float(fpir): threshold_at(card, f / faces))
        if out is not None and (best is None or len(out) < len(best[1])):
            best = float(fpir), out
    assert best is not None, "no FPIR setting puts the thresholds where this test needs them"
    return best
