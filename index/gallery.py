"""The gallery: enroll people from photos, identify every face in a photo, verify two photos.

A person's score for a face is the best cosine between the face and that person's enrolled
faces. The open-set (identify) threshold follows the gallery: once it holds enough faces, the
threshold at which `FACEPAIR_FPIR` of its own enrolled faces, each taken as a stranger to
everyone else, would be named (`index.calibration`), never looser than the model card's;
before that, the card's; `facepair calibrate --apply` sets one by hand. Within one photo the
faces are assigned to people jointly (no person twice), maximising the summed margin over the
threshold.

`Gallery` is the one object the CLI, the service and the album code hold; it owns the store,
the model and the detector, and hands each question to the part whose job it is:

    matching     the search index, who owns which face, exclusions, joint naming
    thresholds   the thresholds in force: the estimate, the card's, calibration
    enrollment   which face of a photo is enrolled, the checks, embedding stored faces
    recognition  identify and verify a photo
    management   people: find, create, rename, merge, delete, remove or move faces
    sync_sidecars (`index.sidecars`): the XMP in the user's photos, from the store

What they answer is defined once, in `index.results`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from faces.detect import Detector, Face
from faces.embed import Embedder
from index.calibration import Estimate
from index.enrollment import Enrollment, FaceChoice, Progress
from index.matching import NEAR_COPY, Candidate, FaceMatch, Matching
from index.people import PeopleManagement
from index.photos import PhotoInput, encode_chip
from index.recognition import Recognition
from index.results import (
    CalibrationOut,
    DeletedPersonOut,
    EnrolledFaceOut,
    EnrollmentOut,
    LookAlikesOut,
    ReembedOut,
    RemovedFaceOut,
    RemovedPhotoOut,
    StatusOut,
    VerifyOut,
)
from index.roots import Roots
from index.search import FaceIndex
from index.settings import DEFAULTS, IndexSettings
from index.sidecars import SidecarProblem, sync_sidecars
from index.store import Person, PhotoRef, Store, registered
from index.thresholds import Thresholds

# what the album code imports from here: the near-copy cosine, a named face, the chip format
__all__ = ["NEAR_COPY", "FaceMatch", "Gallery", "encode_chip"]


class Gallery:
    """Store + FAISS index + detector + embedder. Thread-safe; open one per process."""

    def __init__(self, settings: IndexSettings | None = None, model: str | None = None,
                 home: Path | None = None, detector: Detector | None = None,
                 embedder: Embedder | None = None, progress: Progress | None = None) -> None:
        """Open the gallery in `home` (default: the settings'), of the settings' collection
        (`NoCollection` where it was never made). A gallery enrolled under another model is
        embedded by this one first (`catch_up_embeddings`, which `progress` follows): minutes
        for a large gallery."""
        self.settings = settings or DEFAULTS
        self.home = Path(home or self.settings.home)
        location = self.settings.store_location(self.home)
        registered(location, self.settings.collection)
        self.embedder = embedder or Embedder(model or self.settings.model, self.settings.device,
                                             self.settings.models_dir)
        self._detector = detector
        self.model = self.embedder.name
        self.store = Store(location, self.settings.collection)
        self.collection = self.store.collection
        # this host's folders of the collection's roots (`roots.json`) are the collection's own
        self.roots = Roots(self.store, self.settings, self.settings.collection_home(self.home))
        self.index = FaceIndex(self.embedder.dim, self.settings.ann_min_faces,
                               self.settings.ann_nprobe,
                               use_gpu=self.embedder.device.startswith("cuda"),
                               ivf_min_faces=self.settings.ivf_min_faces,
                               ef_search=self.settings.ann_ef_search)
        self.index_path = (self.settings.collection_home(self.home) / "index"
                           / f"{self.model}.faiss")
        self.matching = Matching(self.store, self.model, self.index, self.index_path)
        self.thresholds = Thresholds(self.store, self.model, self.settings,
                                     self.embedder.card.thresholds, self.matching)
        parts = (self.store, self.model, self.settings, self.embedder, lambda: self.detector,
                 self.matching, self.thresholds)
        self.enrollment = Enrollment(*parts)
        self.recognition = Recognition(*parts)
        self.management = PeopleManagement(self.store, self.matching, self.roots)
        self._following: threading.Event | None = None
        self.catch_up_embeddings(progress)
        self.matching.load()

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
        return self.enrollment.embed_stored(missing, progress) if missing else 0

    def reload(self) -> None:
        """Read the search index and the people again from the store (after writes made
        around the gallery, as a benchmark's synthetic people are)."""
        self.matching.load(from_file=False)

    def save(self) -> None:
        """Write the index file (it is rebuilt from the store when this was not done)."""
        self.matching.save()

    def follow(self) -> None:
        """Apply other processes' writes to this one's index as they come, on a thread of its
        own (a long-lived process: the service), not at the next search."""
        if self._following is None:
            self._following = threading.Event()
            threading.Thread(target=self.matching.follow, args=(self._following,),
                             daemon=True, name="change-feed").start()

    def close(self, save: bool = True) -> None:
        """Stop following the change feed and close the store, the index file written first
        (`save`: not for a collection being deleted)."""
        if self._following is not None:
            self._following.set()
        if save:
            self.save()
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- thresholds (`index.thresholds`) ----------------------------------------------------

    def threshold(self, far: float | None = None) -> float:
        return self.thresholds.threshold(far)

    def verify_threshold(self) -> float:
        return self.thresholds.verify_threshold()

    def estimate(self, wait: bool = True) -> Estimate:
        return self.thresholds.estimate(wait)

    def status(self, wait: bool = True) -> StatusOut:
        return self.thresholds.status(wait)

    def calibrate(self, target_fpir: float = 0.01, apply: bool = False) -> CalibrationOut:
        return self.thresholds.calibrate(target_fpir, apply)

    def reset_threshold(self) -> None:
        self.thresholds.reset_threshold()

    # -- enroll (`index.enrollment`) --------------------------------------------------------

    def enroll(self, person: str | int, photo: PhotoInput, source: str | None = None,
               face: FaceChoice | None = None, box: Sequence[float] | None = None,
               note: str = "") -> EnrolledFaceOut:
        return self.enrollment.enroll(person, photo, source, face, box, note)

    def enroll_photos(self, person: str | int, photos: Sequence[PhotoInput],
                      sources: Sequence[str | None] | None = None,
                      face: FaceChoice | None = None, box: Sequence[float] | None = None,
                      note: str = "", progress: Progress | None = None
                      ) -> list[EnrollmentOut]:
        return self.enrollment.enroll_photos(person, photos, sources, face, box, note, progress)

    def enroll_chip(self, person: str | int, chip: bytes, chip_points: np.ndarray, face: Face,
                    sha: str, source: str, width: int, height: int,
                    note: str = "") -> EnrolledFaceOut:
        return self.enrollment.enroll_chip(person, chip, chip_points, face, sha, source,
                                           width, height, note)

    def reembed(self, progress: Progress | None = None) -> ReembedOut:
        return self.enrollment.reembed(progress)

    # -- identify and verify (`index.recognition`, `index.matching`) ------------------------

    def faces_in(self, photo: np.ndarray) -> tuple[list[Face], np.ndarray]:
        return self.recognition.faces_in(photo)

    def identify(self, photo: PhotoInput, threshold: float | None = None,
                 top_k: int | None = None, source: str | None = None) -> list[FaceMatch]:
        return self.recognition.identify(photo, threshold, top_k, source)

    def match(self, faces: list[Face], vectors: np.ndarray, threshold: float | None = None,
              top_k: int | None = None) -> list[FaceMatch]:
        return self.recognition.match(faces, vectors, threshold, top_k)

    def verify(self, a: PhotoInput, b: PhotoInput | int, threshold: float | None = None,
               face: Literal["center", "largest"] = "largest") -> VerifyOut:
        return self.recognition.verify(a, b, threshold, face)

    def person_scores(self, vectors: np.ndarray, top_k: int) -> list[list[Candidate]]:
        return self.matching.person_scores(vectors, top_k)

    def candidates(self, vectors: np.ndarray, top_k: int) -> list[list[Candidate]]:
        return self.matching.candidates(vectors, top_k)

    def lookalikes(self, level: float | None = None, wait: bool = True,
                   open_only: bool = False) -> LookAlikesOut:
        """Enrolled people whose faces reach `level` against each other (default: the
        identify threshold in force; `wait=False`, a request: the last estimate, never a
        wait for a new one), nearest first (`index.lookalikes`), each saying whether a user
        said they are different people (`open_only`: such pairs left out)."""
        level = self.estimate(wait).threshold if level is None else level
        with self.matching.lock:
            pairs = self.matching.near_people().pairs(level)
        different = self.store.different.pairs() if pairs else set()
        if open_only:
            pairs = [pair for pair in pairs if (pair.a, pair.b) not in different]
        people = {p.id: p for p in self.store.people.some(
            sorted({p for pair in pairs for p in (pair.a, pair.b)}))}
        return LookAlikesOut.of(pairs, people, level, self.settings.lookalike_margin,
                                different)

    def excluded(self, person_id: int, vector: np.ndarray) -> bool:
        return self.matching.excluded(person_id, vector)

    def exclude(self, person_id: int, vector: np.ndarray) -> None:
        self.matching.exclude(person_id, vector)

    # -- people (`index.people`) -------------------------------------------------------------

    def people(self) -> list[Person]:
        return self.management.all()

    def find_person(self, key: str | int) -> Person:
        return self.management.find(key)

    def person_id_for(self, name: str) -> int:
        return self.management.id_for(name)

    def create_person(self, name: str, note: str = "") -> Person:
        return self.management.create(name, note)

    def update_person(self, person_id: int, name: str | None = None,
                      note: str | None = None) -> Person:
        return self.management.update(person_id, name, note)

    def merge(self, keep: int, other: int) -> Person:
        return self.management.merge(keep, other)

    def delete_person(self, person_id: int) -> DeletedPersonOut:
        return self.management.delete(person_id)

    def remove_photo(self, person_id: int, photo_id: int) -> RemovedPhotoOut:
        return self.management.remove_photo(person_id, photo_id)

    def remove_face(self, face_id: int) -> RemovedFaceOut:
        return self.management.remove_face(face_id)

    def move_face(self, face_id: int, person_id: int) -> None:
        self.management.move_face(face_id, person_id)

    # -- the user's photos (`index.sidecars`) ------------------------------------------------

    def sync_sidecars(self, photos: list[PhotoRef], create: bool = False, embed: bool = False
                      ) -> tuple[int, list[SidecarProblem]]:
        """`index.sidecars.sync_sidecars` over this gallery's store and roots."""
        return sync_sidecars(self.store, self.roots, photos, create, embed)
