"""Look-alikes: enrolled people whose faces are near each other (siblings, a parent and a child,
twins, one person enrolled twice), and the margin identify asks for between them.

Two people look alike when the best cosine between a face of one and a face of the other
reaches the look-alike level: the identify threshold in force, the level from which a face of
one, as it was enrolled, would be named as the other. The pair is shown with those two faces.

Each person's nearest other people come from searching the index with each of their faces
(its nearest `most faces + NEIGHBOURS` faces), never from comparing every face with every
other one: a gallery of N faces costs N searches the first time it is asked, and after that
only the people a change of the feed touched are searched again (`Matching` forgets them as
it applies the change, the way its own caches follow the feed).

The margin: when a face's best person and its second-best are look-alikes and the best leads
by less than `FACEPAIR_LOOKALIKE_MARGIN`, the face is not named (`too_close`); it is answered
unknown, with both people among its candidates and the reason. In a photo of several faces,
named jointly, a face's look-alike named as another face of the photo settles it, unless the
two names swapped score within the margin of them as named (twins side by side): then both
faces are left unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

# faces of other people searched per face, besides as many as one person has: a person's
# nearest look-alikes are among them unless over this many faces of others are nearer still
NEIGHBOURS = 16

Search = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # vectors → scores, face ids


@dataclass(frozen=True)
class LookAlike:
    """Two people (`a` < `b`, ids) and the nearest pair of their faces (a's, b's)."""

    a: int
    b: int
    score: float
    faces: tuple[int, int]


def too_close(best: tuple[int, float], second: tuple[int, float] | None,
              pair_score: Callable[[int, int], float | None], level: float,
              margin: float) -> bool:
    """Whether a face whose best person is `best` (id, score) and second-best `second` may not
    be named as `best`: the two look alike (their faces' best cosine reaches `level`) and the
    best leads by less than `margin` (0: never)."""
    if margin <= 0 or second is None or best[1] - second[1] >= margin:
        return False
    return alike(pair_score, best[0], second[0], level)


def alike(pair_score: Callable[[int, int], float | None], a: int, b: int, level: float) -> bool:
    """Whether a's and b's faces reach `level` against each other."""
    score = pair_score(a, b)
    return score is not None and score >= level


def reason(other: str) -> str:
    """What an answer says of a face left unknown between look-alikes."""
    return f"ambiguous: look-alike of {other}"


class NearPeople:
    """Each enrolled person's nearest other people, by the best cosine between their faces;
    kept up to date by forgetting the people a change touched. Not thread-safe: its owner
    (`Matching`) holds its lock around it."""

    def __init__(self) -> None:
        self._near: dict[int, dict[int, LookAlike]] = {}
        self._stale: set[int] | None = None  # None: everyone

    def forget(self, people: Iterable[int] | None = None) -> None:
        """These people's faces changed (None: anyone's may have)."""
        if people is None:
            self._stale = None
        elif self._stale is not None:
            self._stale.update(people)

    @property
    def stale(self) -> set[int] | None:
        """The people to search again before answering (None: everyone; empty: none)."""
        return None if self._stale is None else set(self._stale)

    def refresh(self, person_ids: np.ndarray, face_ids: np.ndarray, vectors: np.ndarray,
                search: Search, owners: Mapping[int, int]) -> None:
        """Search again with these faces: every enrolled face when everyone is stale, else the
        faces the stale people have now (`owners`: every enrolled face's person)."""
        if self._stale is None:
            self._near = {}
        else:
            for p in self._stale:
                for q in self._near.pop(p, {}):
                    self._near.get(q, {}).pop(p, None)
        if len(vectors):
            scores, found = search(np.ascontiguousarray(vectors, dtype=np.float32))
            for p, own, row_scores, row_ids in zip(person_ids.tolist(), face_ids.tolist(),
                                                   scores, found, strict=True):
                for s, other in zip(row_scores.tolist(), row_ids.tolist(), strict=True):
                    q = owners.get(other, -1)
                    if q < 0 or q == p:
                        continue
                    known = self._near.get(p, {}).get(q)
                    if known is None or s > known.score:
                        pair = (LookAlike(p, q, s, (own, other)) if p < q
                                else LookAlike(q, p, s, (other, own)))
                        self._near.setdefault(p, {})[q] = pair
                        self._near.setdefault(q, {})[p] = pair
        self._stale = set()

    def score(self, a: int, b: int) -> float | None:
        """The best cosine between a's and b's faces, where they are near (else None)."""
        pair = self._near.get(a, {}).get(b)
        return None if pair is None else pair.score

    def pairs(self, level: float) -> list[LookAlike]:
        """Every pair of people whose faces reach `level`, nearest first."""
        found = {(pair.a, pair.b): pair for near in self._near.values()
                 for pair in near.values() if pair.score >= level}
        return sorted(found.values(), key=lambda pair: (-pair.score, pair.a, pair.b))
