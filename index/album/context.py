"""The context stage: what the library knows names faces that alone fall just under the
threshold.

A face the gallery leaves unnamed is linked to the library's named faces (named by the
gallery with a score at least `FACEPAIR_CONTEXT_MARGIN` over the threshold, or by the user:
their own tags and answers) that are confidently like it: cosine at least `link(n)`
for a person named n times in the library (the model card's one-to-one threshold at a pair
rate of `FACEPAIR_CONTEXT_LINK_FAR` / n), never a face of its own photo (one person is never
twice in one photo). When at least `support` of those faces name one person P, none names
anyone else, and the face's own score for P (its best cosine with P's enrolled faces) is
within `band` under the threshold, the face is named P, unless P is named already in its
photo or the user said it is not P. A face whose linked faces
disagree stays unnamed: a group is never merged across two names.

Only the gallery's and the user's names support a face, never another face named this way, so
a name does not drift along a chain of look-alikes. The stage runs over the whole library of
the model at the end of every `tag` run (faces it named before are weighed again: one whose
support is gone becomes unknown again). The rule's figures, and how it was chosen on people no
model of facepair's trained on, are in docs/unseen-conditions.md (`bench.open_set_library`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from index.gallery import Gallery
from index.store.records import BY_USER, AlbumFaceTable, PhotoRef
from index.thresholds import threshold_at


@dataclass(frozen=True)
class ContextRule:
    """`band`: how far under the threshold (cosine) a face's score may be; `link(n)`: the
    cosine of a confident link to a face of a person the library has `n` named faces of;
    `support`: how many named faces it takes; `margin`: how far over the threshold a face
    the gallery named must have scored to support another (one the user named always
    does)."""

    band: float
    link: Callable[[int], float]
    support: int = 1
    margin: float = 0.0


def card_links(card: dict[str, float] | None, far: float) -> Callable[[int], float]:
    """Links at the card's one-to-one threshold at a pair rate of `far` / n: a face is
    compared with each of a person's n named faces, so the chance that a stranger links to
    one of them grows with n (as `Thresholds.card_threshold` holds identify's)."""
    return lambda n: threshold_at(card, far / max(1, n))


@dataclass(frozen=True)
class Faces:
    """The library's faces as the context stage weighs them: each face's photo, the person
    the gallery or the user named it (-1: no one), its best person (-1: none) and that
    person's score (+inf: named by the user), and its unit vector."""

    photo_ids: np.ndarray
    named: np.ndarray
    best: np.ndarray
    score: np.ndarray
    vectors: np.ndarray

    @classmethod
    def of(cls, table: AlbumFaceTable) -> Faces:
        """From the store's table: a face named by context before counts as unnamed, with
        its person as its best."""
        by_context = np.array([b == "context" for b in table.named_by], dtype=bool)
        by_user = np.array([b in BY_USER for b in table.named_by], dtype=bool)
        named = np.where(by_context, -1, table.person_ids)
        best = np.where(by_context, table.person_ids, table.candidate_ids)
        score = np.where(by_user & (named >= 0), np.inf, table.similarity)
        return cls(table.photo_ids, named, best, score, table.vectors)


Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def supported(faces: Faces, threshold: float, rule: ContextRule,
              score: Scorer | None = None) -> dict[int, int]:
    """The faces the context names at `threshold`: row → person. `score(rows, people)` is
    each row's score for a person (the best cosine with their enrolled faces; -inf for one the
    user said it is not); without it, only a face's best person is weighed."""
    low = threshold - rule.band
    near = np.flatnonzero((faces.named < 0) & (faces.score >= low))
    holders = np.flatnonzero((faces.named >= 0) & (faces.score >= threshold + rule.margin))
    if len(near) == 0 or len(holders) == 0 or rule.band <= 0:
        return {}
    import faiss

    owners, counts = np.unique(faces.named[holders], return_counts=True)
    links = dict(zip(owners.tolist(), (rule.link(int(n)) for n in counts.tolist()),
                     strict=True))
    link = np.array([links[p] for p in faces.named[holders].tolist()])  # per named face
    index = faiss.IndexFlatIP(faces.vectors.shape[1])
    index.add(np.ascontiguousarray(faces.vectors[holders], dtype=np.float32))
    limits, cosines, found = index.range_search(
        np.ascontiguousarray(faces.vectors[near], dtype=np.float32), min(links.values()))
    rows, people = [], []
    for i, row in enumerate(near.tolist()):
        hits = found[limits[i]:limits[i + 1]]
        linked = holders[hits[cosines[limits[i]:limits[i + 1]] >= link[hits]]]
        linked = linked[faces.photo_ids[linked] != faces.photo_ids[row]]
        agree = np.unique(faces.named[linked])
        if len(agree) == 1 and len(linked) >= rule.support:
            rows.append(row)
            people.append(int(agree[0]))
    if not rows:
        return {}
    at = np.array(rows)
    own = (np.where(faces.best[at] == people, faces.score[at], -np.inf) if score is None
           else score(at, np.array(people)))
    # one person once a photo: never where the gallery or the user named them already, and
    # of two faces of one photo proposed for the same person, the closer
    taken = {(int(faces.photo_ids[r]), int(faces.named[r]))
             for r in np.flatnonzero(faces.named >= 0).tolist()}
    chosen: dict[tuple[int, int], tuple[int, float]] = {}
    for row, person, s in zip(rows, people, own.tolist(), strict=True):
        key = (int(faces.photo_ids[row]), person)
        if s < low or key in taken:
            continue
        if key not in chosen or s > chosen[key][1]:
            chosen[key] = (row, s)
    return {row: person for (_, person), (row, _) in chosen.items()}


def enrolled_score(gallery: Gallery, vectors: np.ndarray) -> Scorer:
    """A `Scorer` over the gallery: a face's best cosine with a person's enrolled faces, -inf
    for a person the user said the face is not."""
    theirs: dict[int, np.ndarray] = {}

    def score(rows: np.ndarray, people: np.ndarray) -> np.ndarray:
        out = np.full(len(rows), -np.inf)
        for i, (row, person) in enumerate(zip(rows.tolist(), people.tolist(), strict=True)):
            if person not in theirs:
                theirs[person] = gallery.store.embeddings.of_model(gallery.model,
                                                                   person).vectors
            v = vectors[row]
            if len(theirs[person]) and not gallery.excluded(person, v):
                out[i] = float(np.max(theirs[person] @ v))
        return out

    return score


class ContextRun(TypedDict):
    """What the context stage did over the library: faces it named, and faces it had named
    that lost their support (unknown again)."""

    named: int
    cleared: int


def name_by_context(gallery: Gallery) -> tuple[ContextRun, list[PhotoRef]]:
    """The context stage over the library of the gallery's model, at the threshold in force
    and the settings' rule (`context_band` 0: none); what it did, and the photos whose names
    changed."""
    settings = gallery.settings
    table = gallery.store.albums.face_table(gallery.model)
    named: dict[int, int] = {}
    if settings.context_band > 0 and len(table.ids):
        rule = ContextRule(settings.context_band,
                           card_links(gallery.thresholds.card, settings.context_link_far),
                           settings.context_support, settings.context_margin)
        named = supported(Faces.of(table), gallery.threshold(), rule,
                          enrolled_score(gallery, table.vectors))
    before = {int(table.ids[i]): int(table.person_ids[i])
              for i, b in enumerate(table.named_by) if b == "context"}
    now = {int(table.ids[row]): person for row, person in named.items()}
    cleared = [f for f, p in before.items() if now.get(f) != p]
    changed = [(f, p) for f, p in now.items() if before.get(f) != p]
    refs = gallery.store.albums.name_by_context(changed, cleared)
    return ContextRun(named=len(now), cleared=len(cleared)), refs
