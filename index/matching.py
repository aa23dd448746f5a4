"""Who a face is: the search index over the enrolled faces, who owns each face, the faces the
user said are not someone, and the joint naming of the faces of one photo.

A person's score for a face is the best cosine between the face and that person's enrolled
faces. Within one photo the faces are assigned to people jointly (no person twice),
maximising the summed margin over the threshold.

The store is the truth: the index knows face ids only, and the caches of who owns which face
follow the store's generation. A write that changes who is enrolled holds `Matching.lock`
and then says what it did (`person_added`, `people_changed`, `face_added`, `faces_removed`,
`committed`), so
that this process's index moves with it; writes of other processes are caught up with at the
next search (`sync`).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faces.detect import Face
from index.search import FaceIndex
from index.store import Person, Store

# cosine from which two faces are near-copies: the same photo analysed again gives the same
# vector, a burst or a duplicate photo scores above this too (a face the user said is not
# someone, a face too like one already enrolled)
NEAR_COPY = 0.95


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


class Matching:
    """The FAISS index of one model's enrolled faces and the caches that name its hits.
    Thread-safe."""

    def __init__(self, store: Store, model: str, index: FaceIndex, index_path: Path,
                 ann_min_faces: int) -> None:
        self.store, self.model = store, model
        self.index, self.index_path = index, index_path
        self.ann_min_faces = ann_min_faces
        # held by every write that changes who is enrolled, and while the caches are read
        self.lock = threading.RLock()
        self._face_person: dict[int, int] = {}
        self._people: dict[int, Person] = {}
        self._exclusions: dict[int, np.ndarray] = {}
        self._most_faces = 1  # the most faces one person has (how deep to search)
        self._generation = -1  # the store generation the index and caches reflect

    # -- in step with the store -------------------------------------------------------------

    def load(self, from_file: bool = True) -> None:
        """The index (from its file when that is of the store's generation, else rebuilt from
        the store) and who owns which face."""
        with self.lock:
            generation = self.store.generation()
            if not (from_file and self.index.load(self.index_path, generation)):
                embedded = self.store.embeddings.of_model(self.model)
                self.index.rebuild(embedded.face_ids, embedded.vectors)
                self.index.save(self.index_path, generation)
            self._refresh_people()
            self._generation = generation

    def committed(self) -> None:
        """After one of our writes: still in step with the store, unless another process
        (another service worker, the CLI) wrote since we last looked."""
        before, after = self.store.last_write()
        self._generation = after if before == self._generation else -1

    def sync(self) -> None:
        """Catch up with writes made by other processes (the store is the truth)."""
        if self.store.generation() != self._generation:
            with self.lock:
                if self.store.generation() != self._generation:
                    self.load(from_file=False)

    def people_changed(self) -> None:
        """After our write to people (renamed, merged): who is who, read again."""
        self.committed()
        self._refresh_people()

    def person_added(self, person_id: int) -> None:
        """After our write of a new person (no faces yet): into the caches, without reading
        every face again."""
        self.committed()
        self._people[person_id] = self.store.people.get(person_id)

    def face_added(self, face_id: int, person_id: int, vector: np.ndarray) -> None:
        """After our enrollment of one face: into the index (rebuilt as an IVF index once the
        gallery grows past `ann_min_faces`), and the caches, without re-reading the whole
        store."""
        self.committed()
        self.index.add(np.array([face_id]), vector)
        if self.index.kind == "exact" and len(self.index) >= self.ann_min_faces:
            self.load()
        person = self.store.people.get(person_id)
        self._face_person[face_id] = person_id
        self._people[person_id] = person
        self._most_faces = max(self._most_faces, person.faces)

    def faces_removed(self, face_ids: list[int]) -> None:
        """After our deletion of faces: out of the index, whose file is rewritten at once."""
        self.committed()
        self.index.remove(face_ids)
        self._refresh_people()
        self.save()

    def save(self) -> None:
        """Write the index file (it is rebuilt from the store when this was not done)."""
        self.sync()
        with self.lock:
            self.index.save(self.index_path, self._generation)

    def _refresh_people(self) -> None:
        """Re-read who owns which face (the index knows face ids only)."""
        self._face_person = self.store.faces.people()
        self._people = {p.id: p for p in self.store.people.all()}
        self._exclusions = self.store.embeddings.exclusions(self.model)
        self._most_faces = max((p.faces for p in self._people.values()), default=1)

    # -- what the caches say ----------------------------------------------------------------

    def owners(self) -> dict[int, int]:
        """Who owns each enrolled face: face id → person id."""
        return dict(self._face_person)

    def person_count(self) -> int:
        return len(self._people)

    def embedded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every enrolled face's id, person and unit vector: from the index where it holds its
        vectors, else (an IVF index) from the store."""
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

    # -- exclusions -------------------------------------------------------------------------

    def excluded(self, person_id: int, vector: np.ndarray) -> bool:
        """Whether the user said a face this close to `vector` is not this person."""
        them = self._exclusions.get(person_id)
        return them is not None and float(np.max(them @ vector)) >= NEAR_COPY

    def exclude(self, person_id: int, vector: np.ndarray) -> None:
        """Remember that this face is not this person."""
        self.store.embeddings.exclude(person_id, self.model, vector)
        with self.lock:
            self._exclusions = self.store.embeddings.exclusions(self.model)

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
                if pid is None or pid in best:
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
              top_k: int) -> list[FaceMatch]:
        """Name the faces of one photo: a joint assignment, each person at most once."""
        candidates = self.candidates(vectors, top_k)
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
        return matches
