"""Recognition of the faces in a photo: who each one is (identify: one face against the whole
gallery, `index.matching`), and whether two faces are one person (verify: against another
photo's face, or a person's enrolled faces)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from faces.decode import decode
from faces.detect import Detector, Face, pick_face
from faces.embed import Embedder, detect_and_embed
from index.errors import Refused
from index.matching import FaceMatch, Matching
from index.photos import PhotoInput, read_photo
from index.quality import unrecognisable
from index.results import BoxOut, Named, VerifyOut, VerifySecondOut
from index.settings import IndexSettings
from index.store import Store
from index.thresholds import Thresholds


class Recognition:
    """Identify and verify against one model's gallery. Thread-safe."""

    def __init__(self, store: Store, model: str, settings: IndexSettings, embedder: Embedder,
                 detector: Callable[[], Detector], matching: Matching,
                 thresholds: Thresholds) -> None:
        self.store, self.model, self.settings = store, model, settings
        self.embedder = embedder
        self.detector = detector  # made on first use
        self.matching, self.thresholds = matching, thresholds

    def faces_in(self, photo: np.ndarray) -> tuple[list[Face], np.ndarray]:
        """Every face of a decoded photo and their embeddings."""
        return detect_and_embed(self.detector(), self.embedder, [photo])[0]

    def match(self, faces: list[Face], vectors: np.ndarray, threshold: float | None = None,
              top_k: int | None = None) -> list[FaceMatch]:
        """Name the faces of one photo (`Matching.match`) at the threshold in force, or the
        one given, with the margin between look-alikes of the settings. A face under the
        quality floor is unrecognisable: no one, no candidates, and it takes no part in the
        photo's joint naming."""
        thr = self.thresholds.threshold() if threshold is None else threshold
        margin = self.settings.lookalike_margin
        # look-alikes are people whose faces reach the threshold in force, whatever `threshold`
        # (with a caller's threshold, the last estimate: never a wait for a new one)
        level = (thr if threshold is None or margin <= 0
                 else self.thresholds.estimate(wait=False).threshold)
        told = [i for i, f in enumerate(faces) if not unrecognisable(f, self.settings)]
        named = iter(self.matching.match([faces[i] for i in told], vectors[told], thr,
                                         top_k or self.settings.top_k, margin, level))
        kept = set(told)
        return [next(named) if i in kept else FaceMatch(f, None, -math.inf, [], None, True)
                for i, f in enumerate(faces)]

    def identify(self, photo: PhotoInput, threshold: float | None = None,
                 top_k: int | None = None, source: str | None = None) -> list[FaceMatch]:
        data, source = read_photo(photo, source)
        faces, vectors = self.faces_in(decode(data, self.settings.max_pixels, name=source))
        return self.match(faces, vectors, threshold, top_k)

    def _one_face(self, photo: PhotoInput, face: Literal["center", "largest"]) -> tuple[
            Face, np.ndarray]:
        data, source = read_photo(photo)
        image = decode(data, self.settings.max_pixels, name=source)
        chosen = pick_face(self.detector().detect(image), image.shape, face)
        if chosen is None:
            raise Refused("no_face", f"{source}: no face found")
        return chosen, self.embedder.embed_faces(image, [chosen])[0]

    def verify(self, a: PhotoInput, b: PhotoInput | int, threshold: float | None = None,
               face: Literal["center", "largest"] = "largest") -> VerifyOut:
        """Same person or not: two photos (their largest faces), or a photo and a person id."""
        thr = self.thresholds.verify_threshold() if threshold is None else threshold
        face_a, va = self._one_face(a, face)
        if isinstance(b, int):
            person = self.store.people.get(b)
            vectors = self.store.embeddings.of_model(self.model, person.id).vectors
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
