"""The gallery's own estimate of how often a stranger is named, and the threshold it asks for.

A model card's thresholds were measured on the people it was judged on; on photos unlike
theirs (other cameras, other faces, older photos) the same threshold can name several times
more strangers than it promises. The enrolled faces are a sample of the photos a gallery
really holds, so each enrolled face serves as a stranger to everyone else: its best score
against any other person's face (its *impostor* score) is what a stranger like it would
score. The share of enrolled faces whose impostor score reaches a threshold estimates the
false-positive identification rate (FPIR) there; the best score against the other faces of
its own person (its *genuine* score) estimates the misses (FNIR).

The two nearest faces of every enrolled face are kept in the store (table `nearest`, per
model) and brought up to date incrementally: a new face is compared with every enrolled face
once (one row of products), which also raises the score of any face it is nearer to than
their own nearest; rows whose nearest face was deleted, or that moved to another person by a
merge, are computed again (the store drops them). A gallery of 100,000 faces thus
pays one row per enrolled face, never again the 100,000² products of its first estimate
(`bench.calibration`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from index.store import Store

Row = tuple[float, int, float | None, int | None]  # impostor, its face, genuine, its face

# An estimate of FPIR p from n faces is trusted once n·p ≥ this (about this many enrolled
# faces above the threshold; fewer make the quantile a guess).
MIN_EXPECTED = 3
# Rows recomputed together (each against every face: BLOCK × faces scores at a time).
BLOCK = 256


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95 % by default) of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """A proportion measured on the gallery's own faces (given out with its 95 % interval,
    `wilson`, as `index.results.Rate`)."""

    count: int
    of: int

    @property
    def value(self) -> float:
        return self.count / self.of if self.of else 0.0


@dataclass(frozen=True)
class Estimate:
    """The identify threshold in force, where it comes from, and what it is expected to do."""

    threshold: float
    source: Literal["gallery", "card", "manual"]
    target_fpir: float
    card_threshold: float
    gallery_threshold: float | None  # None: too few faces (or people) for an estimate
    faces: int
    people: int
    fpir: Rate | None  # at `threshold`, over the enrolled faces as strangers
    fnir: Rate | None  # at `threshold`, over faces whose person has another face


def threshold_for(impostor: np.ndarray, fpir: float) -> float:
    """The lowest threshold at which at most `fpir` of these impostor scores reach it."""
    ordered = np.sort(impostor)[::-1]
    allowed = math.floor(fpir * len(ordered))
    if allowed >= len(ordered):
        return float(ordered[-1])
    return float(np.nextafter(np.float32(ordered[allowed]), np.float32(2)))


def rates(rows: dict[int, Row], threshold: float) -> tuple[Rate, Rate]:
    """FPIR and FNIR at a threshold. A face counts as found when its genuine score reaches
    the threshold and beats its impostor score (rank 1)."""
    impostor = np.array([r[0] for r in rows.values()])
    genuine = np.array([-np.inf if r[2] is None else r[2] for r in rows.values()])
    has = np.isfinite(genuine)
    found = has & (genuine >= threshold) & (genuine > impostor)
    return (Rate(int((impostor >= threshold).sum()), len(impostor)),
            Rate(int(has.sum() - found.sum()), int(has.sum())))


class Nearest:
    """The nearest other-person face and nearest same-person face of every enrolled face,
    kept in the store for one model."""

    def __init__(self, store: Store, model: str) -> None:
        self.store, self.model = store, model

    def refresh(self, ids: np.ndarray, people: np.ndarray,
                vectors: np.ndarray) -> dict[int, Row]:
        """Bring the rows up to date with the faces enrolled now (`ids`, their `people` and
        unit `vectors`) and return them."""
        if len(np.unique(people)) < 2:
            return {}
        rows: dict[int, tuple[float, int, float | None, int | None]] = dict(
            self.store.embeddings.nearest(self.model))
        order = np.argsort(ids)
        ids, people = ids[order], people[order]
        vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
        person = dict(zip(ids.tolist(), people.tolist(), strict=True))
        stale = np.array([self._stale(rows.get(f), f, person) for f in ids.tolist()], bool)
        # the settled faces' scores, raised where a recomputed face turns out nearer
        known = np.full((2, len(ids)), -np.inf, dtype=np.float32)
        for k in np.flatnonzero(~stale).tolist():
            imp, _, gen, _ = rows[int(ids[k])]
            known[0, k], known[1, k] = imp, -np.inf if gen is None else gen
        settled = ~stale
        for block in np.array_split(np.flatnonzero(stale), max(1, -(-stale.sum() // BLOCK))):
            if not len(block):
                continue
            scores = vectors[block] @ vectors.T  # every face, exactly
            scores[np.arange(len(block)), block] = -np.inf  # not against itself
            same = people[block][:, None] == people[None, :]
            fresh, raised = [], []
            best = []
            for at, mask in enumerate((~same, same)):
                masked = np.where(mask, scores, -np.inf)
                j = masked.argmax(axis=1)
                top = masked[np.arange(len(block)), j]
                best.append((top, j))
                # settled faces this block is nearer to than their own nearest
                hit = masked > np.where(settled, known[at], np.inf)[None, :]
                for col in np.flatnonzero(hit.any(axis=0)).tolist():
                    i = int(masked[:, col].argmax())
                    known[at, col] = masked[i, col]
                    raised.append((int(ids[col]), ("impostor", "genuine")[at],
                                   float(masked[i, col]), int(ids[block[i]])))
            (imp, imp_j), (gen, gen_j) = best
            for i, k in enumerate(block.tolist()):
                has_gen = bool(np.isfinite(gen[i]))
                row = (float(imp[i]), int(ids[imp_j[i]]),
                       float(gen[i]) if has_gen else None,
                       int(ids[gen_j[i]]) if has_gen else None)
                rows[int(ids[k])] = row
                fresh.append((int(ids[k]), *row))
            self.store.embeddings.put_nearest(self.model, fresh, raised)
            for f, kind, score, face in raised:
                imp_s, imp_f, gen_s, gen_f = rows[f]
                rows[f] = ((score, face, gen_s, gen_f) if kind == "impostor"
                           else (imp_s, imp_f, score, face))
        return {f: rows[f] for f in ids.tolist()}

    @staticmethod
    def _stale(row: Row | None, face: int, person: dict[int, int]) -> bool:
        """A face with no row, or whose nearest faces are gone or changed sides."""
        if row is None:
            return True
        _, imp_face, _, gen_face = row
        mine = person[face]
        return (person.get(imp_face, mine) == mine
                or (gen_face is not None and person.get(gen_face) != mine))


def estimate(rows: dict[int, Row], people: int, target_fpir: float, card_threshold: float,
             manual: float | None, faces: int | None = None) -> Estimate:
    """The threshold in force: a manual one where set; else the gallery's own where it has
    enough faces for the estimate, never looser than the card's; else the card's. `faces`:
    the enrolled faces (default: those with rows; none have rows with a single person)."""
    faces = len(rows) if faces is None else faces
    gallery = None
    if people >= 2 and len(rows) * target_fpir >= MIN_EXPECTED:
        gallery = threshold_for(np.array([r[0] for r in rows.values()]), target_fpir)
    if manual is not None:
        threshold, source = manual, "manual"
    elif gallery is not None and gallery > card_threshold:
        threshold, source = gallery, "gallery"
    else:
        threshold, source = card_threshold, "card"
    fpir, fnir = rates(rows, threshold) if rows else (None, None)
    return Estimate(threshold, source, target_fpir, card_threshold,  # type: ignore[arg-type]
                    gallery, faces, people, fpir, fnir)
