"""The gallery: enroll people from photos, identify every face in a photo, verify two photos.

A person's score for a face is the best cosine between the face and that person's enrolled
faces. The open-set (identify) threshold follows the gallery: once it holds enough faces, the
threshold at which `FACEPAIR_FPIR` of its own enrolled faces, each taken as a stranger to
everyone else, would be named (`index.calibration`), never looser than the model card's;
before that, the card's; `facepair calibrate --apply` sets one by hand. Within one photo the
faces are assigned to people jointly (no person twice), maximising the summed margin over the
threshold.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from faces.align import face_chip, sharpness
from faces.boxes import iou
from faces.decode import decode
from faces.detect import Detector, Face, pick_face
from faces.embed import Embedder, detect_and_embed
from faces.errors import FacepairError, ModelError, NotFound
from index.calibration import Estimate, Nearest, estimate, rates, threshold_for
from index.errors import Refused
from index.names import checked_name
from index.photos import PhotoInput, encode_chip, photo_name, read_photo
from index.results import (
    AtThresholdOut,
    BoxOut,
    CalibrationOut,
    DeletedPersonOut,
    EnrolledFaceOut,
    EnrollmentOut,
    InForceOut,
    Named,
    ReembedOut,
    RemovedFaceOut,
    RemovedPhotoOut,
    StatusOut,
    ThresholdOut,
    VerifyOut,
    VerifySecondOut,
)
from index.search import FaceIndex
from index.settings import DEFAULTS, IndexSettings
from index.sidecars import SidecarProblem, sync_sidecars
from index.store import NewFace, Person, Store

# Faces without nearest faces from which a request does not wait for the estimate
# (`Gallery.estimate(wait=False)`): about a second of products on 2 cores.
BACKGROUND_FROM = 5_000
# cosine from which two faces are near-copies: the same photo analysed again gives the same
# vector, a burst or a duplicate photo scores above this too (a face the user said is not
# someone, a face too like one already enrolled)
NEAR_COPY = 0.95
Progress = Callable[[int, int], None]


def threshold_at(thresholds: dict[str, float] | None, far: float) -> float:
    """A card's calibrated cosine threshold at `far`, log-interpolated between the rates it
    lists (and held at the nearest one outside them)."""
    points = sorted((float(k), float(v)) for k, v in (thresholds or {}).items())
    if not points:
        raise ModelError("the model card has no calibrated thresholds (export the model with "
                         "a view to measure them on)")
    logs = [math.log10(f) for f, _ in points]
    values = [v for _, v in points]
    return float(np.interp(math.log10(far), logs, values))


@dataclass
class Analysed:
    """An enrollment photo's faces, the stored chip of each (chip, its 5 points) and, where
    one is to be recognised among several, their embeddings."""

    sha: str
    source: str
    shape: tuple[int, ...]
    faces: list[Face]
    chips: list[tuple[np.ndarray, np.ndarray]]
    vectors: np.ndarray | None

    def chip_of(self, face: Face) -> tuple[np.ndarray, np.ndarray]:
        return self.chips[next(i for i, f in enumerate(self.faces) if f is face)]


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


class Gallery:
    """Store + FAISS index + detector + embedder. Thread-safe; open one per process."""

    def __init__(self, settings: IndexSettings | None = None, model: str | None = None,
                 home: Path | None = None, detector: Detector | None = None,
                 embedder: Embedder | None = None, progress: Progress | None = None) -> None:
        """Open the gallery in `home` (default: the settings'). A gallery enrolled under
        another model is embedded by this one first (`catch_up_embeddings`, which `progress`
        follows): minutes for a large gallery."""
        self.settings = settings or DEFAULTS
        self.home = Path(home or self.settings.home)
        self.embedder = embedder or Embedder(model or self.settings.model, self.settings.device,
                                             self.settings.models_dir)
        self._detector = detector
        self.model = self.embedder.name
        self.store = Store(self.home / "gallery.sqlite3")
        self.index = FaceIndex(self.embedder.dim, self.settings.ann_min_faces,
                               self.settings.ann_nprobe,
                               use_gpu=self.embedder.device.startswith("cuda"))
        self.index_path = self.home / "index" / f"{self.model}.faiss"
        self._lock = threading.RLock()
        self._face_person: dict[int, int] = {}
        self._people: dict[int, Person] = {}
        self._most_faces = 1  # the most faces one person has (how deep to search)
        self._generation = -1  # the store generation the index and caches reflect
        self._estimate: tuple[tuple[int, int], Estimate, dict] | None = None
        self._estimate_lock = threading.Lock()
        self._estimating: threading.Thread | None = None
        self.catch_up_embeddings(progress)
        self._load_index()

    # -- set-up -----------------------------------------------------------------------------

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            self._detector = Detector(self.settings)
        return self._detector

    def catch_up_embeddings(self, progress: Progress | None = None) -> int:
        """Embed with this model every enrolled face it has not embedded yet (the gallery was
        enrolled under another model: the stored chips make this model's embeddings), so that
        every label carries over to a new model. Minutes for a large gallery after a change of
        model, nothing otherwise; `progress` follows it. Returns how many faces it embedded."""
        missing = self.store.embeddings.missing(self.model)
        return self._embed_stored(missing, progress) if missing else 0

    def _load_index(self, from_file: bool = True) -> None:
        with self._lock:
            generation = self.store.generation()
            if not (from_file and self.index.load(self.index_path, generation)):
                embedded = self.store.embeddings.of_model(self.model)
                self.index.rebuild(embedded.face_ids, embedded.vectors)
                self.index.save(self.index_path, generation)
            self._refresh_people()
            self._generation = generation

    def reload(self) -> None:
        """Read the search index and the people again from the store (after writes made
        around the gallery, as a benchmark's synthetic people are)."""
        self._load_index(from_file=False)

    def _committed(self) -> None:
        """After one of our writes: still in step with the store, unless another process
        (another service worker, the CLI) wrote since we last looked."""
        before, after = self.store.last_write()
        self._generation = after if before == self._generation else -1

    def _sync(self) -> None:
        """Catch up with writes made by other processes (the store is the truth)."""
        if self.store.generation() != self._generation:
            with self._lock:
                if self.store.generation() != self._generation:
                    self._load_index(from_file=False)

    def _refresh_people(self) -> None:
        """Re-read who owns which face (the index knows face ids only)."""
        self._face_person = self.store.faces.people()
        self._people = {p.id: p for p in self.store.people.all()}
        self._exclusions = self.store.embeddings.exclusions(self.model)
        self._most_faces = max((p.faces for p in self._people.values()), default=1)

    def candidates(self, vectors: np.ndarray, top_k: int) -> list[list[Candidate]]:
        """Each face's best people, best first, never one the user said it is not."""
        candidates = self.person_scores(vectors, top_k)
        if not self._exclusions:
            return candidates
        return [[c for c in cs if not self.excluded(c.person.id, v)]
                for cs, v in zip(candidates, vectors, strict=True)]

    def excluded(self, person_id: int, vector: np.ndarray) -> bool:
        """Whether the user said a face this close to `vector` is not this person."""
        them = self._exclusions.get(person_id)
        return them is not None and float(np.max(them @ vector)) >= NEAR_COPY

    def exclude(self, person_id: int, vector: np.ndarray) -> None:
        """Remember that this face is not this person."""
        self.store.embeddings.exclude(person_id, self.model, vector)
        with self._lock:
            self._exclusions = self.store.embeddings.exclusions(self.model)

    def _added(self, face_id: int, person_id: int) -> None:
        """After our own enrollment: the caches, without re-reading the whole store."""
        person = self.store.people.get(person_id)
        self._face_person[face_id] = person_id
        self._people[person_id] = person
        self._most_faces = max(self._most_faces, person.faces)

    def save(self) -> None:
        """Write the index file (it is rebuilt from the store when this was not done)."""
        self._sync()
        with self._lock:
            self.index.save(self.index_path, self._generation)

    def close(self) -> None:
        self.save()
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- thresholds ---------------------------------------------------------------------------

    def threshold(self, far: float | None = None) -> float:
        """The open-set (identify) threshold in force (see `estimate`); `far` asks for the
        card's at that pair false-accept rate instead."""
        if far is not None:
            return threshold_at(self.embedder.card.thresholds, far)
        return self.estimate().threshold

    def card_threshold(self, faces: int | None = None) -> float:
        """The card's identify threshold. A stranger is compared with every enrolled face, so
        the chance that one is named grows with the gallery: at most about (faces × pair
        false-accept rate). The card's threshold at a pair rate of FPIR / faces holds that
        chance at `FACEPAIR_FPIR` for faces like those the card was measured on."""
        faces = max(1, len(self.index) if faces is None else faces)
        return threshold_at(self.embedder.card.thresholds, self.settings.fpir / faces)

    def estimate(self, wait: bool = True) -> Estimate:
        return self._estimated(wait)[0]

    def _estimated(self, wait: bool = True) -> tuple[Estimate, dict]:
        """The threshold in force, where it comes from (the gallery's own estimate, the
        card, or set by hand) and its estimated FPIR and FNIR over the enrolled faces. Kept
        until the gallery changes; the nearest faces behind it are updated incrementally.

        `wait=False` (a request being answered) never waits for a long update: while one
        runs, or when over `BACKGROUND_FROM` faces have no nearest faces yet (the first
        estimate of a large gallery, a minute at 100,000 faces), it is started on a thread
        of its own and the last estimate, or the card's threshold, answers meanwhile.
        `_estimated` also gives the nearest-face rows behind it (`calibrate` reads them)."""
        self._sync()
        key = (self.store.generation(), len(self.index))
        cached = self._estimate
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        if not wait and (self._estimate_lock.locked()
                         or self.store.embeddings.without_nearest(self.model) > BACKGROUND_FROM):
            self._estimate_in_background()
            return (cached[1], cached[2]) if cached is not None else (self._in_force({}), {})
        with self._estimate_lock:
            cached = self._estimate
            if cached is not None and cached[0] == key:
                return cached[1], cached[2]
            rows = self._nearest()
            result = self._in_force(rows)
            self._estimate = (key, result, rows)
        return result, rows

    def _in_force(self, rows: dict) -> Estimate:
        """The estimate from these rows (none: the card's threshold, or the one set by hand)."""
        own = self.store.meta.get(f"threshold:{self.model}")
        return estimate(rows, len(self._people), self.settings.fpir, self.card_threshold(),
                        None if own is None else float(own), len(self.index))

    def _estimate_in_background(self) -> None:
        with self._lock:
            if self._estimating is None or not self._estimating.is_alive():
                self._estimating = threading.Thread(target=self.estimate, daemon=True,
                                                    name="gallery-estimate")
                self._estimating.start()

    def status(self, wait: bool = True) -> StatusOut:
        """The model, the gallery's size and the thresholds in force."""
        in_force = self.estimate(wait)
        counts = self.store.meta.counts()
        return StatusOut(model=self.model, people=counts["people"], faces=counts["faces"],
                         verify_threshold=self.verify_threshold(),
                         identify=ThresholdOut.of(in_force))

    def _nearest(self) -> dict:
        """Every enrolled face's nearest faces (`index.calibration.Nearest`), up to date."""
        with self._lock:
            held = self.index.vectors()
            face_person = dict(self._face_person)
        if held is None:  # an IVF index: the vectors come from the store
            embedded = self.store.embeddings.of_model(self.model)
            ids, people, vectors = embedded.face_ids, embedded.person_ids, embedded.vectors
        else:
            ids, vectors = held
            keep = np.array([f in face_person for f in ids.tolist()], dtype=bool)
            ids, vectors = ids[keep], vectors[keep]
            people = np.array([face_person[f] for f in ids.tolist()], dtype=np.int64)
        return Nearest(self.store, self.model).refresh(ids, people, vectors)

    def verify_threshold(self) -> float:
        """The one-to-one threshold: the card's at `FACEPAIR_FAR` (1e-3)."""
        return threshold_at(self.embedder.card.thresholds, self.settings.far)

    # -- analysis -----------------------------------------------------------------------------

    def faces_in(self, photo: np.ndarray) -> tuple[list[Face], np.ndarray]:
        """Every face of a decoded photo and their embeddings."""
        return detect_and_embed(self.detector, self.embedder, [photo])[0]

    def _choose(self, faces: list[Face], shape: tuple[int, ...], source: str,
                face: Literal["center", "largest"] | None,
                box: Sequence[float] | None) -> Face:
        if not faces:
            raise Refused("no_face", f"{source}: no face found")
        if box is not None:  # the face whose centre lies in the box (best overlap first)
            inside = [f for f in faces
                      if box[0] <= f.center[0] <= box[2] and box[1] <= f.center[1] <= box[3]]
            if not inside:
                raise Refused("no_face_at_box", f"{source}: no face found at box {list(box)}")
            return max(inside, key=lambda f: iou(f.box, box))
        if face is not None:
            chosen = pick_face(faces, shape, face)
            assert chosen is not None
            return chosen
        if len(faces) > 1:
            boxes = ", ".join(str([round(v) for v in f.box]) for f in faces)
            raise Refused("several_faces",
                          f"{source}: {len(faces)} faces ({boxes}); say which one (face=largest, "
                          f"face=center or a box)")
        return faces[0]

    # -- enroll -------------------------------------------------------------------------------

    def create_person(self, name: str, note: str = "") -> Person:
        with self._lock:
            pid = self.store.people.add(checked_name(name), note)
            self._committed()
            self._refresh_people()
        return self.store.people.get(pid)

    def enroll(self, person: str | int, photo: PhotoInput, source: str | None = None,
               face: Literal["center", "largest"] | None = None,
               box: Sequence[float] | None = None, note: str = "") -> EnrolledFaceOut:
        """Enroll one face of a photo for a person (an id, or a name: created when new).
        Returns the stored face; raises `Refused` naming why a photo cannot be used."""
        (result,) = self.enroll_each(person, [photo], [source], face, box, note)
        if isinstance(result, FacepairError):
            raise result
        return result

    def enroll_photos(self, person: str | int, photos: Sequence[PhotoInput],
                      sources: Sequence[str | None] | None = None,
                      face: Literal["center", "largest"] | None = None,
                      box: Sequence[float] | None = None, note: str = "",
                      progress: Progress | None = None) -> list[EnrollmentOut]:
        """Enroll one face of each photo for a person (`enroll_each`); per photo, the face
        enrolled or the error that refused it."""
        sources = list(sources or [None] * len(photos))
        done = self.enroll_each(person, photos, sources, face, box, note, progress)
        return [EnrollmentOut.of(photo_name(photo, source), result)
                for photo, source, result in zip(photos, sources, done, strict=True)]

    def enroll_each(self, person: str | int, photos: Sequence[PhotoInput],
                    sources: Sequence[str | None] | None = None,
                    face: Literal["center", "largest"] | None = None,
                    box: Sequence[float] | None = None, note: str = "",
                    progress: Progress | None = None) -> list[EnrolledFaceOut | FacepairError]:
        """Enroll one face of each photo for a person; per photo, the stored face or the
        error that refused it.

        A photo of one face gives that face; `face` or `box` say which face of a photo of
        several. Without them, a photo of several faces gives the face that matches the
        person (above the verify threshold, and no other face of the photo does): matched
        against the call's photos of one face and the person's enrolled faces."""
        sources = list(sources or [None] * len(photos))
        found: list[tuple[Analysed, None] | tuple[None, FacepairError]] = []
        for i, (photo, source) in enumerate(zip(photos, sources, strict=True)):
            try:
                found.append((self._analyse(photo, source, embed_all=face is None
                                            and box is None), None))
            except FacepairError as exc:
                found.append((None, exc))
            if progress:
                progress(i + 1, 2 * len(photos))
        chosen: list[Face | FacepairError | None] = []
        for analysed, error in found:
            if analysed is None:
                chosen.append(error)
                continue
            try:
                several = (len(analysed.faces) > 1 and face is None and box is None)
                chosen.append(None if several else self._choose(
                    analysed.faces, analysed.shape, analysed.source, face, box))
            except FacepairError as exc:
                chosen.append(exc)
        if any(c is None for c in chosen):
            references = self._references(person, found, chosen)
            threshold = self.verify_threshold()
            for i, ((analysed, _), pick) in enumerate(zip(found, chosen, strict=True)):
                if pick is None and analysed is not None:
                    chosen[i] = self._recognised(analysed, references, threshold)
        results: list[EnrolledFaceOut | FacepairError] = []
        for i, ((analysed, _), pick) in enumerate(zip(found, chosen, strict=True)):
            if analysed is None or not isinstance(pick, Face):
                results.append(pick if isinstance(pick, FacepairError) else
                               Refused("no_face", "no face"))
            else:
                try:
                    results.append(self._enroll_face(person, analysed, pick, note))
                except FacepairError as exc:
                    results.append(exc)
            if progress:
                progress(len(photos) + i + 1, 2 * len(photos))
        return results

    def _analyse(self, photo: PhotoInput, source: str | None, embed_all: bool) -> Analysed:
        """A photo's faces (looked for down to half the enrollable size, so that a too small
        one is named so), the chip of each, and, when its face is to be recognised among
        several, their embeddings. The decoded photo itself is not kept."""
        data, source = read_photo(photo, source)
        image = decode(data, self.settings.max_pixels, name=source)
        smallest = min(self.settings.min_face_size, self.settings.enroll_min_face // 2)
        faces = self.detector.detect(image, smallest)
        chips = [face_chip(image, f.landmarks) for f in faces]
        analysed = Analysed(hashlib.sha256(data).hexdigest(), source, image.shape, faces,
                            chips, None)
        if embed_all and len(faces) > 1:
            analysed.vectors = self._embed_chips(chips)
        return analysed

    def _embed_chips(self, chips: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        return self.embedder.embed_crops(np.concatenate(
            [self.embedder.crops_at(chip, [points]) for chip, points in chips]))

    def _references(self, person: str | int, found: list, chosen: list) -> np.ndarray:
        """Faces known to be the person: the call's photos of one face (or the face named)
        and the person's enrolled faces."""
        chips = [analysed.chip_of(pick) for (analysed, _), pick in zip(found, chosen, strict=True)
                 if analysed is not None and isinstance(pick, Face)]
        vectors = [self._embed_chips(chips)] if chips else []
        known = (self.store.people.get(person) if isinstance(person, int)
                 else self.store.people.by_name(person.strip()))
        if known is not None:
            vectors.append(self._vectors_of(known.id))
        vectors = [v for v in vectors if len(v)]
        return np.concatenate(vectors) if vectors else np.zeros((0, self.embedder.dim),
                                                                np.float32)

    def _recognised(self, analysed: Analysed, references: np.ndarray,
                    threshold: float) -> Face | FacepairError:
        """The one face of a photo of several that matches the references."""
        faces = analysed.faces
        boxes = ", ".join(str([round(v) for v in f.box]) for f in faces)
        if len(references) == 0:
            return Refused("several_faces",
                           f"{analysed.source}: {len(faces)} faces ({boxes}); say which one "
                           "(face=largest, face=center or a box), or enroll it with a photo "
                           "that shows the person alone")
        assert analysed.vectors is not None
        best = (analysed.vectors @ references.T).max(axis=1)
        matching = np.flatnonzero(best >= threshold)
        if len(matching) == 1:
            return faces[int(matching[0])]
        why = ("none of them matches" if not len(matching)
               else f"{len(matching)} of them match")
        return Refused("several_faces",
                       f"{analysed.source}: {len(faces)} faces ({boxes}) and {why} the "
                       "person's other photos; say which one (face=largest, face=center or "
                       "a box)")

    def _enroll_face(self, person: str | int, analysed: Analysed, chosen: Face,
                     note: str) -> EnrolledFaceOut:
        if chosen.size < self.settings.enroll_min_face:
            raise Refused("face_too_small",
                          f"{analysed.source}: the face is {chosen.size:.0f} px, under the "
                          f"{self.settings.enroll_min_face} px needed to enroll")
        chip, chip_points = analysed.chip_of(chosen)
        height, width = analysed.shape[:2]
        return self.enroll_chip(person, encode_chip(chip), chip_points, chosen, analysed.sha,
                                analysed.source, width, height, note)

    def enroll_chip(self, person: str | int, chip: bytes, chip_points: np.ndarray, face: Face,
                    sha: str, source: str, width: int, height: int,
                    note: str = "") -> EnrolledFaceOut:
        """Store one face from its chip (JPEG) for a person; `enroll` and naming a cluster of
        album faces both end here."""
        stored_chip = decode(chip, name="chip")
        chip_points = np.asarray(chip_points).round(3)  # as stored
        # embedded from the stored chip and points, as `reembed` will: the same model gives the
        # same vector (an int8 model turns a 0.001 px shift of a point into a 1e-3 difference)
        vector = self.embedder.embed_crops(self.embedder.crops_at(stored_chip, [chip_points]))
        with self._lock:
            store = self.store
            with store.transaction(gallery=True):
                if isinstance(person, int):
                    pid = store.people.get(person).id
                else:
                    found = store.people.by_name(person.strip())
                    pid = found.id if found else store.people.add(checked_name(person), note)
                # the photo's row first: the faces read next are those of every writer that
                # got there before (the row is held until this write ends)
                photo_id = store.faces.add_photo(sha, source, width, height)
                for other in store.faces.in_photo(photo_id, for_update=True):
                    if iou(other.box, face.box) > 0.5:
                        who = store.people.get(other.person_id).name
                        raise Refused("duplicate_photo",
                                      f"{source}: this face is already enrolled (as {who}, "
                                      f"face {other.id})")
                face_id = store.faces.add(NewFace(
                    photo_id, pid, [round(float(v), 2) for v in face.box],
                    [[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks],
                    float(face.score), sharpness(stored_chip), chip, chip_points.tolist()))
                store.embeddings.put(self.model, [face_id], vector)
            self._committed()
            self.index.add(np.array([face_id]), vector)
            if self.index.kind == "exact" and len(self.index) >= self.settings.ann_min_faces:
                self._load_index()
            self._added(face_id, pid)
        return EnrolledFaceOut.of(self.store.faces.get(face_id), self.store.people.get(pid))

    # -- identify -----------------------------------------------------------------------------

    def person_scores(self, vectors: np.ndarray, top_k: int) -> list[list[Candidate]]:
        """For each query vector, its `top_k` people by best face cosine, best first."""
        if len(vectors) == 0:
            return []
        self._sync()
        with self._lock:
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

    def match(self, faces: list[Face], vectors: np.ndarray, threshold: float | None = None,
              top_k: int | None = None) -> list[FaceMatch]:
        """Name the faces of one photo: a joint assignment, each person at most once."""
        thr = self.threshold() if threshold is None else threshold
        candidates = self.candidates(vectors, top_k or self.settings.top_k)
        matches = [FaceMatch(f, None, c[0].score if c else -math.inf, c)
                   for f, c in zip(faces, candidates, strict=True)]
        people = sorted({c.person.id for cs in candidates for c in cs if c.score >= thr})
        if not people:
            return matches
        column = {p: j for j, p in enumerate(people)}
        margin = np.full((len(faces), len(people)), -1.0)
        for i, cs in enumerate(candidates):
            for c in cs:
                if c.score >= thr:
                    margin[i, column[c.person.id]] = c.score - thr + 1e-6
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

    def identify(self, photo: PhotoInput, threshold: float | None = None,
                 top_k: int | None = None, source: str | None = None) -> list[FaceMatch]:
        data, source = read_photo(photo, source)
        faces, vectors = self.faces_in(decode(data, self.settings.max_pixels, name=source))
        return self.match(faces, vectors, threshold, top_k)

    # -- verify -------------------------------------------------------------------------------

    def _one_face(self, photo: PhotoInput, face: Literal["center", "largest"]) -> tuple[
            Face, np.ndarray]:
        data, source = read_photo(photo)
        image = decode(data, self.settings.max_pixels, name=source)
        chosen = pick_face(self.detector.detect(image), image.shape, face)
        if chosen is None:
            raise Refused("no_face", f"{source}: no face found")
        return chosen, self.embedder.embed_faces(image, [chosen])[0]

    def verify(self, a: PhotoInput, b: PhotoInput | int, threshold: float | None = None,
               face: Literal["center", "largest"] = "largest") -> VerifyOut:
        """Same person or not: two photos (their largest faces), or a photo and a person id."""
        thr = self.verify_threshold() if threshold is None else threshold
        face_a, va = self._one_face(a, face)
        if isinstance(b, int):
            person = self.store.people.get(b)
            vectors = self._vectors_of(person.id)
            if len(vectors) == 0:
                raise Refused("no_faces_enrolled", f"{person.name} has no enrolled faces")
            score = float((vectors @ va).max())
            second = VerifySecondOut(person=Named(id=person.id, name=person.name))
        else:
            face_b, vb = self._one_face(b, face)
            score = float(va @ vb)
            second = VerifySecondOut(box=list(face_b.box))
        return VerifyOut(threshold=thr, a=BoxOut(box=list(face_a.box)), b=second, score=score,
                         same=score >= thr)

    def _vectors_of(self, person_id: int) -> np.ndarray:
        return self.store.embeddings.of_model(self.model, person_id).vectors

    # -- manage -------------------------------------------------------------------------------

    def people(self) -> list[Person]:
        return self.store.people.all()

    def find_person(self, key: str | int) -> Person:
        """A person by id, or by exact name."""
        if isinstance(key, int) or str(key).isdigit():
            return self.store.people.get(int(key))
        found = self.store.people.by_name(str(key))
        if found is None:
            raise NotFound(f"no person named {key!r}")
        return found

    def person_id_for(self, name: str) -> int:
        """The id of the person of this name, made where there is none yet (a name in a
        user's face tag); raises `Refused` for a name facepair cannot store."""
        name = checked_name(name)
        found = self.store.people.by_name(name)
        if found is not None:
            return found.id
        with self._lock:
            person_id = self.store.people.get_or_add(name)
            self._committed()
            self._refresh_people()
        return person_id

    def update_person(self, person_id: int, name: str | None = None,
                      note: str | None = None) -> Person:
        """Rename (or annotate) someone; the sidecars that name them follow."""
        with self._lock:
            before = self.store.people.get(person_id).name
            person = self.store.people.update(
                person_id, None if name is None else checked_name(name), note)
            self._committed()
            self._refresh_people()
        if person.name != before:
            sync_sidecars(self.store, self.store.albums.paths_of(person_id))
        return person

    def merge(self, keep: int, other: int) -> Person:
        """`other`'s faces become `keep`'s; the sidecars that named `other` follow."""
        tagged = self.store.albums.paths_of(other)
        with self._lock:
            person = self.store.people.merge(keep, other)
            self._committed()
            self._refresh_people()
            self.save()
        sync_sidecars(self.store, tagged)
        return person

    def delete_person(self, person_id: int) -> DeletedPersonOut:
        """Hard delete: rows, chips, embeddings and index entries; the index file is rewritten
        at once, and facepair's regions of the person leave the sidecars it wrote, so nothing
        of the person is left in any file facepair writes."""
        self.store.people.get(person_id)
        tagged = self.store.albums.paths_of(person_id)
        with self._lock:
            face_ids = self.store.people.delete(person_id)
            self._committed()
            self.index.remove(face_ids)
            self._refresh_people()
            self.save()
        changed, _ = sync_sidecars(self.store, tagged)
        return DeletedPersonOut(deleted_person=person_id, deleted_faces=len(face_ids),
                                sidecars_scrubbed=changed)

    def sync_sidecars(self, paths: list[Path], create: bool = False, embed: bool = False
                      ) -> tuple[int, list[SidecarProblem]]:
        """Make facepair's regions in these photos' XMP say what the store says
        (`index.sidecars`)."""
        return sync_sidecars(self.store, paths, create, embed)

    def remove_photo(self, person_id: int, photo_id: int) -> RemovedPhotoOut:
        """Remove a person's face(s) in one enrolled photo (and the photo, when no one else
        was enrolled from it)."""
        with self._lock:
            face_ids = self.store.faces.delete_in_photo(person_id, photo_id)
            self._committed()
            self.index.remove(face_ids)
            self._refresh_people()
            self.save()
        return RemovedPhotoOut(deleted_photo=photo_id, deleted_faces=face_ids)

    def remove_face(self, face_id: int) -> RemovedFaceOut:
        with self._lock:
            self.store.faces.delete(face_id)
            self._committed()
            self.index.remove([face_id])
            self._refresh_people()
            self.save()
        return RemovedFaceOut(deleted_face=face_id)

    # -- calibrate ----------------------------------------------------------------------------

    def calibrate(self, target_fpir: float = 0.01, apply: bool = False) -> CalibrationOut:
        """How often a stranger would be named, estimated from the enrolled people themselves
        (`index.calibration`): at the threshold in force, the card's, and the threshold that
        names `target_fpir` of them; `apply` sets the last by hand (it then stays in force
        until `reset_threshold`)."""
        in_force, rows = self._estimated()
        if not rows:
            raise Refused("too_few_people", "calibration needs at least two enrolled people")
        impostor = np.array([r[0] for r in rows.values()])
        suggested = max(threshold_for(impostor, target_fpir), -1.0)
        people = len({self._face_person.get(f) for f in rows} - {None})

        def at(t: float) -> dict:
            fpir, fnir = rates(rows, t)
            return {"threshold": t, "fpir": fpir.value, "fnir": fnir.value if fnir.of else None}

        current = InForceOut(**at(in_force.threshold), source=in_force.source)
        card, best = AtThresholdOut(**at(self.card_threshold())), AtThresholdOut(**at(suggested))
        rough = {}  # no warning: the field is left unset
        if len(rows) * target_fpir < 10:
            rough["warning"] = (f"only {len(rows)} enrolled faces: fewer than 10 false "
                                f"identifications expected at {target_fpir:g}, so the "
                                "suggested threshold is a rough estimate")
        if apply:
            with self._lock:
                self.store.meta.set(f"threshold:{self.model}", repr(suggested))
                self._committed()
        return CalibrationOut(
            model=self.model, people=people, faces=len(rows),
            probes_with_genuine=sum(r[2] is not None for r in rows.values()),
            current=current, card=card, target_fpir=target_fpir, suggested=best,
            applied=apply, **rough)

    def reset_threshold(self) -> None:
        """Back to the model card's threshold at the target false-accept rate."""
        with self._lock:
            self.store.meta.delete(f"threshold:{self.model}")
            self._committed()

    # -- re-embed -----------------------------------------------------------------------------

    def _embed_stored(self, face_ids: list[int], progress: Progress | None = None,
                      batch: int = 64) -> int:
        done = 0
        for start in range(0, len(face_ids), batch):
            chunk = list(self.store.faces.chips(face_ids[start : start + batch]))
            crops = np.stack([
                self.embedder.crops_at(decode(c.jpeg), [np.asarray(c.landmarks)])[0]
                for c in chunk
            ])
            vectors = self.embedder.embed_crops(crops)
            with self._lock:
                self.store.embeddings.put(self.model, [c.face_id for c in chunk], vectors)
            done += len(chunk)
            if progress:
                progress(done, len(face_ids))
        return done

    def reembed(self, progress: Progress | None = None) -> ReembedOut:
        """Re-embed every stored face chip with the current model; labels stay as they are.
        Embeddings of other models are dropped, and the index is rebuilt."""
        ids = self.store.faces.ids()
        done = self._embed_stored(ids, progress)
        dropped = self.store.embeddings.drop_other_models(self.model)
        self._load_index(from_file=False)
        return ReembedOut(model=self.model, faces=done, dropped_other_models=dropped)
