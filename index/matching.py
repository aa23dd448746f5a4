"""Who a face is: the search index over the enrolled faces, who owns each face, the faces the
user said are not someone, and the joint naming of the faces of one photo.

A person's score for a face is the best cosine between the face and that person's enrolled
faces. Within one photo the faces are assigned to people jointly (no person twice),
maximising the summed margin over the threshold.

The store is the truth: the index knows face ids only, and the caches of who owns which face
follow the store's change feed (`index.store.changes`). Every write, this process's or
another's on any host, is applied as a delta: the faces it touched leave the index and come
back with their vectors and owners as the store has them now, the people it touched are read
again, and nothing else is. A search first applies what it has not seen (`sync`); a
`follow` thread applies changes as they come, so that searches rarely have any left. The
index is built again, off the request path, when the gallery's size asks for another kind, an
IVF index's gallery has grown or shrunk by `RETRAIN_GROWTH` since its lists were trained, or
removed faces fill over `TOMBSTONE_SHARE` of an HNSW graph.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faces.detect import Face
from index.lookalikes import NEIGHBOURS, NearPeople, alike, reason
from index.search import KINDS, TOMBSTONE_SHARE, FaceIndex
from index.store import Change, Embedded, Person, Store

log = logging.getLogger("facepair.matching")

# cosine from which two faces are near-copies: the same photo analysed again gives the same
# vector, a burst or a duplicate photo scores above this too (a face the user said is not
# someone, a face too like one already enrolled)
NEAR_COPY = 0.95
# an IVF index is trained again when the gallery has grown or shrunk by this factor since its
# lists were trained: up to twice its size, a grown index answers as fast and as well as a
# fresh one; at four times it misses more (bench.index_drift, docs/benchmarks.md)
RETRAIN_GROWTH = 2.0
BUILD_INLINE_BELOW = 50_000  # faces: a build this small (under a second) is done at once


@dataclass
class Candidate:
    person: Person
    score: float


@dataclass
class FaceMatch:
    face: Face
    person: Person | None
    score: float
    candidates: list[Candidate] = field(default_factory=list)
    reason: str | None = None  # why a face its best person reaches is left unknown
    unrecognisable: bool = False  # its quality is under the floor: named as no one


class Matching:
    """The FAISS index of one model's enrolled faces and the caches that name its hits.
    Thread-safe."""

    def __init__(self, store: Store, model: str, index: FaceIndex, index_path: Path) -> None:
        self.store, self.model = store, model
        self.index, self.index_path = index, index_path
        # held by every write that changes who is enrolled, and while the caches change
        self.lock = threading.RLock()
        self._face_person: dict[int, int] = {}  # every face in the index → its person
        self._people: dict[int, Person] = {}
        self._exclusions: dict[int, np.ndarray] = {}
        self._most_faces = 1  # the most faces one person has (how deep to search)
        self._seen = -1  # the last change of the feed the index and caches reflect
        self._trained = 0  # faces in the index when it was last built
        self._retraining: threading.Thread | None = None
        self._near = NearPeople()  # look-alikes (`index.lookalikes`), forgotten as the feed goes

    # -- in step with the store -------------------------------------------------------------

    @property
    def seen(self) -> int:
        return self._seen

    def load(self, from_file: bool = True) -> None:
        """The index and caches, read whole: from the index file of the newest change this
        process saved (and the changes since), else built from the store."""
        with self.lock:
            head = self.store.changes.head()
            saved = self.index.newest_saved(self.index_path, head) if from_file else None
            if saved is not None and self.index.load(self.index_path, saved):
                owners = self.store.faces.people()
                self._face_person = {f: owners.get(f, -1) for f in self.index.ids().tolist()}
                self._seen, self._trained = saved, len(self.index)
            else:
                self._use(*self._from_store())
            self._people = {p.id: p for p in self.store.people.all()}
            self._exclusions = self.store.embeddings.exclusions(self.model)
            self._most_faces = max((p.faces for p in self._people.values()), default=1)
            self._near.forget()
            self.sync()

    def sync(self) -> None:
        """Apply the changes of the feed this process has not seen yet, its own writes'
        included (a write calls this when it has committed)."""
        if self.store.changes.head() == self._seen:
            return
        with self.lock:
            if self.store.changes.head() < self._seen:  # another store under the same name
                self.load(from_file=False)
                return
            removed = False
            while batch := self.store.changes.since(self._seen):
                if any(c.kind == "reset" for c in batch):
                    self.load(from_file=False)
                    return
                removed |= self._apply(batch)
                self._seen = batch[-1].id
            if removed:  # no vector of a deleted face is left in the file
                self.index.save(self.index_path, self._seen)
        if self._retrain_due():
            self._retrain()

    def _apply(self, batch: list[Change]) -> bool:
        """Bring the index and caches up to date with these changes; whether any face left
        the index."""
        faces = {c.face_id for c in batch if c.kind == "face" and c.face_id is not None
                 and c.model in (None, self.model)}
        people = {c.person_id for c in batch if c.kind == "person" and c.person_id is not None}
        held = [f for f in faces if f in self._face_person]
        people.update(self._face_person.pop(f) for f in held)
        self.index.remove(held)
        if faces:
            found = self.store.embeddings.of_model(self.model, face_ids=sorted(faces))
            self.index.add(found.face_ids, found.vectors)
            self._face_person.update(zip(found.face_ids.tolist(), found.person_ids.tolist(),
                                         strict=True))
            people.update(found.person_ids.tolist())
        people.discard(-1)
        if people:
            now = {p.id: p for p in self.store.people.some(sorted(people))}
            for pid in people:
                if pid in now:
                    self._people[pid] = now[pid]
                    self._most_faces = max(self._most_faces, now[pid].faces)
                else:
                    self._people.pop(pid, None)
        self._near.forget(people)
        if any(c.kind == "exclusion" and c.model == self.model for c in batch):
            self._exclusions = self.store.embeddings.exclusions(self.model)
        return bool(held)

    # -- building the index again -----------------------------------------------------------

    def _retrain_due(self) -> bool:
        """Whether the index is not the kind its size asks for (a step down only under half
        the threshold: no flapping), its IVF lists were trained on a gallery of under half,
        or over twice, today's size, or removed faces fill over `TOMBSTONE_SHARE` of its
        HNSW graph."""
        n, now = len(self.index), KINDS.index(self.index.kind)
        if KINDS.index(self.index.kind_for(n)) > now:
            return True
        if KINDS.index(self.index.kind_for(2 * n)) < now:
            return True
        kind = self.index.kind
        if kind == "hnsw":
            return self.index.tombstone_share > TOMBSTONE_SHARE
        if kind == "ivf":
            return not self._trained / RETRAIN_GROWTH <= n <= self._trained * RETRAIN_GROWTH
        return False

    def _retrain(self) -> None:
        """Build the index again from the store: at once for a small gallery, else on a
        thread of its own while the old index, kept up to date, answers."""
        if len(self.index) < BUILD_INLINE_BELOW:
            self.load(from_file=False)
            return
        with self.lock:
            if self._retraining is None or not self._retraining.is_alive():
                self._retraining = threading.Thread(target=self._rebuild, daemon=True,
                                                    name="index-retrain")
                self._retraining.start()

    def _rebuild(self) -> None:
        built = self._from_store()  # (the slow part, while the old index answers)
        with self.lock:
            self._use(*built)
            self.sync()

    def _from_store(self) -> tuple[int, Embedded, Any]:
        """The feed's newest change, every vector of the model, and an index built of them."""
        head = self.store.changes.head()
        embedded = self.store.embeddings.of_model(self.model)
        return head, embedded, self.index.build(embedded.face_ids, embedded.vectors)

    def _use(self, head: int, embedded: Embedded, built: Any) -> None:
        """Search an index `_from_store` built (holding the lock), and save it."""
        self.index.use(built)
        self._face_person = dict(zip(embedded.face_ids.tolist(),
                                     embedded.person_ids.tolist(), strict=True))
        self._seen, self._trained = head, len(embedded.face_ids)
        self._near.forget()
        self.index.save(self.index_path, head)

    def save(self) -> None:
        """Write the index file of the last change applied."""
        self.sync()
        with self.lock:
            self.index.save(self.index_path, self._seen)

    def follow(self, stop: threading.Event, timeout: float = 5.0) -> None:
        """Apply the feed's changes as they come until `stop` is set (a thread of a long-lived
        process): woken by PostgreSQL's notifications, polling SQLite; a store that cannot be
        reached is tried again every second (one line in the log for each outage)."""
        away = False
        while not stop.is_set():
            try:
                if self.store.changes.wait(self._seen, timeout) != self._seen:
                    self.sync()
                if away:
                    log.info("the change feed is read again")
                away = False
            except Exception as exc:
                if stop.is_set():  # the store was closed under it
                    return
                if not away:
                    log.warning("the change feed cannot be read (%s); trying again every "
                                "second", type(exc).__name__)
                away = True
                stop.wait(1.0)

    # -- what the caches say ----------------------------------------------------------------

    def owners(self) -> dict[int, int]:
        """Who owns each enrolled face: face id → person id."""
        return dict(self._face_person)

    def person_count(self) -> int:
        return len(self._people)

    def embedded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every enrolled face's id, person and unit vector: from the index where it holds its
        vectors, else (an HNSW or IVF index) from the store."""
        with self.lock:
            held = self.index.vectors()
            face_person = dict(self._face_person)
        if held is None:
            embedded = self.store.embeddings.of_model(self.model)
            return embedded.face_ids, embedded.person_ids, embedded.vectors
        ids, vectors = held
        keep = np.array([f in face_person for f in ids.tolist()], dtype=bool)
        ids, vectors = ids[keep], vectors[keep]
        people = np.array([face_person[f] for f in ids.tolist()], dtype=np.int64)
        return ids, people, vectors

    def near_people(self) -> NearPeople:
        """Who looks like whom (`index.lookalikes`), brought up to date with the feed: the
        people a change touched are searched again, everyone after a reload."""
        self.sync()
        with self.lock:
            stale = self._near.stale
            if stale is not None and not stale:
                return self._near
            if stale is None:
                faces, people, vectors = self.embedded()
            else:
                found = self.store.embeddings.of_model(self.model, face_ids=sorted(
                    f for f, p in self._face_person.items() if p in stale))
                faces, people, vectors = found.face_ids, found.person_ids, found.vectors
            k = min(len(self.index), self._most_faces + NEIGHBOURS)
            self._near.refresh(people, faces, vectors, lambda v: self.index.search(v, k),
                               self._face_person)
            return self._near

    # -- exclusions -------------------------------------------------------------------------

    def excluded(self, person_id: int, vector: np.ndarray) -> bool:
        """Whether the user said a face this close to `vector` is not this person."""
        them = self._exclusions.get(person_id)
        return them is not None and float(np.max(them @ vector)) >= NEAR_COPY

    def exclude(self, person_id: int, vector: np.ndarray) -> None:
        """Remember that this face is not this person."""
        self.store.embeddings.exclude(person_id, self.model, vector)
        self.sync()

    # -- naming -----------------------------------------------------------------------------

    def person_scores(self, vectors: np.ndarray, top_k: int) -> list[list[Candidate]]:
        """For each query vector, its `top_k` people by best face cosine, best first."""
        if len(vectors) == 0:
            return []
        self.sync()
        with self.lock:
            k = min(len(self.index), top_k * max(1, self._most_faces))
            scores, ids = self.index.search(vectors, k)
            face_person, people = self._face_person, self._people
        result: list[list[Candidate]] = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            best: dict[int, float] = {}
            for s, fid in zip(row_scores.tolist(), row_ids.tolist(), strict=True):
                pid = face_person.get(fid)
                if pid is None or pid < 0 or pid in best:
                    continue  # removed meanwhile, or a lower-scoring face of someone seen
                best[pid] = s
                if len(best) == top_k:
                    break
            result.append([Candidate(people[p], s) for p, s in best.items() if p in people])
        return result

    def candidates(self, vectors: np.ndarray, top_k: int) -> list[list[Candidate]]:
        """Each face's best people, best first, never one the user said it is not."""
        candidates = self.person_scores(vectors, top_k)
        if not self._exclusions:
            return candidates
        return [[c for c in cs if not self.excluded(c.person.id, v)]
                for cs, v in zip(candidates, vectors, strict=True)]

    def match(self, faces: list[Face], vectors: np.ndarray, threshold: float,
              top_k: int, lookalike_margin: float = 0.0, level: float | None = None
              ) -> list[FaceMatch]:
        """Name the faces of one photo: a joint assignment, each person at most once. A face
        named as someone whose look-alike (their faces reach `level`, default `threshold`) is
        its next best person, less than `lookalike_margin` behind and not named in the photo,
        is left unknown (`index.lookalikes`)."""
        found = self.candidates(vectors, max(top_k, 2) if lookalike_margin > 0 else top_k)
        candidates = [c[:top_k] for c in found]
        matches = [FaceMatch(f, None, c[0].score if c else -math.inf, c)
                   for f, c in zip(faces, candidates, strict=True)]
        people = sorted({c.person.id for cs in candidates for c in cs if c.score >= threshold})
        if not people:
            return matches
        column = {p: j for j, p in enumerate(people)}
        margin = np.full((len(faces), len(people)), -1.0)
        for i, cs in enumerate(candidates):
            for c in cs:
                if c.score >= threshold:
                    margin[i, column[c.person.id]] = c.score - threshold + 1e-6
        wanted = margin.argmax(axis=1)
        rows = np.flatnonzero(margin.max(axis=1) > 0)
        cols = wanted[rows]
        if len(set(cols.tolist())) < len(cols):  # two faces want the same person
            from scipy.optimize import linear_sum_assignment  # half a second of imports

            # maximise the summed margin; a pair under the threshold is never chosen
            rows, cols = linear_sum_assignment(-np.where(margin > 0, margin, 0.0))
        # else each face taking its best is already the assignment of the largest sum
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            if margin[i, j] > 0:
                chosen = next(c for c in candidates[i] if c.person.id == people[j])
                matches[i].person, matches[i].score = chosen.person, chosen.score
        if lookalike_margin > 0:
            self._ambiguous(matches, found, lookalike_margin,
                            threshold if level is None else level)
        return matches

    def _ambiguous(self, matches: list[FaceMatch], found: list[list[Candidate]],
                   margin: float, level: float) -> None:
        """Leave unknown, with the reason and both people among its candidates, each face
        named as someone whose look-alike, its next best person, is less than `margin` behind:
        where the look-alike is named as another face of the photo, when the two names
        swapped score less than `margin` below them as named."""
        face_of = {m.person.id: i for i, m in enumerate(matches) if m.person is not None}
        scores = [{c.person.id: c.score for c in cs} for cs in found]
        close = []
        for i, (m, cs) in enumerate(zip(matches, found, strict=True)):
            if m.person is None:
                continue
            rival = next((c for c in cs if c.person.id != m.person.id), None)
            if rival is None or m.score - rival.score >= margin:
                continue
            j = face_of.get(rival.person.id)
            if j is not None:  # as named, against the two names swapped
                swapped = rival.score + scores[j].get(m.person.id, -math.inf)
                if m.score + matches[j].score - swapped >= margin:
                    continue
            close.append((i, m.person, rival))
        if not close:
            return
        with self.lock:
            near = self.near_people()  # searched only when a face needs it
            lost = [(i, named, rival) for i, named, rival in close
                    if alike(near.score, named.id, rival.person.id, level)]
        for i, named, rival in lost:
            m, cs = matches[i], found[i]
            kept = m.candidates + [c for c in cs if c not in m.candidates
                                   and c.person.id in (named.id, rival.person.id)]
            m.person, m.score, m.candidates = None, cs[0].score, kept
            m.reason = reason(rival.person.name)
