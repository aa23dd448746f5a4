"""Faces followed across a video's sampled frames: tracks.

A face of one sampled frame continues a track of the frames just before when its box overlaps
the track's last box (`LINK_IOU`) and its embedding is like the track's last one
(`LINK_COSINE`); each face continues at most one track, best pair first. A track missing for
more than `GAP` samples ends: a face that leaves and comes back starts a new one (tracks of one
person are joined by who they are later, `join`). A track keeps its best faces (by quality,
`faces.quality`): `BEST` embeddings, and the pixels of the very best for its chip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from faces.boxes import iou
from faces.detect import Face

LINK_IOU = 0.3
# one face half a second on scores 0.96–0.998 against itself; a cut to another face in the
# same place scores up to 0.6 (LFW photos one after another): a track broken by a turn of the
# head is joined again by who it is (`join`), a track run on into another face is not undone
LINK_COSINE = 0.8
GAP = 2  # samples a track may miss and go on
BEST = 3  # the faces whose embeddings name a track


@dataclass
class Seen:
    """A face in one sampled frame: when, the face (in the video's full-size pixels) and its
    embedding (unit length)."""

    time: float
    face: Face
    vector: np.ndarray


@dataclass
class Track:
    """One face followed across frames: when it was seen, its best faces, and its very best
    (`best`), with whatever the caller kept of it (`keep`: its chip)."""

    times: list[float] = field(default_factory=list)
    last: Seen | None = None
    top: list[Seen] = field(default_factory=list)  # the BEST best, best first
    keep: object = None  # the caller's record of the best face (its chip)
    samples_missed: int = 0

    @property
    def best(self) -> Seen:
        return self.top[0]

    def add(self, seen: Seen) -> bool:
        """Continue the track with a face; whether it is its best face so far."""
        self.times.append(seen.time)
        self.last, self.samples_missed = seen, 0
        self.top.append(seen)
        self.top.sort(key=lambda s: -(s.face.quality or 0.0))
        del self.top[BEST:]
        return self.top[0] is seen

    def vector(self) -> np.ndarray:
        """The track's embedding: the mean of its best faces', unit length."""
        return unit_mean(np.stack([s.vector for s in self.top]))

    def ranges(self, step: float) -> list[tuple[float, float]]:
        """The spans (start, end seconds) it was seen over: samples at most GAP + 1 steps
        apart are one span; a span ends a step after its last sample (the time up to the next
        sample that did not show it)."""
        return spans(self.times, step)


def unit_mean(vectors: np.ndarray) -> np.ndarray:
    """The mean of embeddings (rows), unit length: one embedding for several faces."""
    mean = vectors.mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def spans(times: Sequence[float], step: float) -> list[tuple[float, float]]:
    """Sample times as spans: times at most GAP + 1 steps apart are one; a span ends a
    step after its last sample."""
    found: list[list[float]] = []
    for t in sorted(times):
        if found and t - found[-1][1] <= (GAP + 1) * step + 1e-6:
            found[-1][1] = t
        else:
            found.append([t, t])
    return [(round(a, 3), round(b + step, 3)) for a, b in found]


class Tracker:
    """Tracks built frame by frame (`add`), all of them in `tracks` once done."""

    def __init__(self) -> None:
        self.tracks: list[Track] = []
        self._open: list[Track] = []

    def add(self, seen: Sequence[Seen]) -> list[tuple[Track, bool]]:
        """One sampled frame's faces: each continues an open track or starts one. Returns
        each face's track and whether the face is that track's best so far."""
        pairs = []
        for i, s in enumerate(seen):
            for j, track in enumerate(self._open):
                assert track.last is not None
                overlap = iou(s.face.box, track.last.face.box)
                cosine = float(np.dot(s.vector, track.last.vector))
                if overlap >= LINK_IOU and cosine >= LINK_COSINE:
                    pairs.append((overlap + cosine, i, j))
        pairs.sort(reverse=True)
        taken: dict[int, Track] = {}
        used: set[int] = set()
        for _, i, j in pairs:
            if i not in taken and j not in used:
                taken[i] = self._open[j]
                used.add(j)
        for j, track in enumerate(self._open):
            if j not in used:
                track.samples_missed += 1
        self._open = [t for t in self._open if t.samples_missed <= GAP]
        result = []
        for i, s in enumerate(seen):
            found = taken.get(i)
            if found is None:
                found = Track()
                self.tracks.append(found)
                self._open.append(found)
            result.append((found, found.add(s)))
        return result


def join(vectors: np.ndarray, level: float) -> list[list[int]]:
    """Tracks of one video that are one person: groups of track indices whose embeddings
    reach `level` (cosine) to one another, linked one by one (a track joins a group when it
    reaches any of its tracks)."""
    n = len(vectors)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if n > 1:
        sims = vectors @ vectors.T
        for a in range(n):
            for b in range(a + 1, n):
                if sims[a, b] >= level:
                    parent[root(b)] = root(a)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())
