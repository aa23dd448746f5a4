"""Enrollment: which face of a photo becomes one of a person's enrolled faces, the checks
before it is stored (big enough, not under the quality floor, not enrolled already), and how
a stored face is embedded.

Every enrolled face is kept as its chip (the face aligned, with a margin, as JPEG) and its
five points in the chip; its embedding is made from the stored chip, so any later model, or
the same one after `reembed`, embeds exactly what was stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from faces.align import face_chip, sharpness
from faces.boxes import iou
from faces.decode import decode
from faces.detect import Detector, Face, pick_face
from faces.embed import Embedder
from faces.errors import FacepairError
from index.errors import Refused
from index.matching import Matching
from index.names import checked_name
from index.photos import PhotoInput, encode_chip, photo_name, read_photo
from index.quality import refuse_unrecognisable
from index.results import EnrolledFaceOut, EnrollmentOut, ReembedOut
from index.settings import IndexSettings
from index.store import NewFace, Store
from index.thresholds import Thresholds

FaceChoice = Literal["center", "largest"]
Progress = Callable[[int, int], None]  # (done, total)


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


def choose(faces: list[Face], shape: tuple[int, ...], source: str, face: FaceChoice | None,
           box: Sequence[float] | None) -> Face:
    """The face the caller named (`box`: the face whose centre lies in it, best overlap
    first; `face`: the largest or most central), or a photo's only face."""
    if not faces:
        raise Refused("no_face", f"{source}: no face found")
    if box is not None:
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


class Enrollment:
    """Enrolls faces into one model's gallery. Thread-safe."""

    def __init__(self, store: Store, model: str, settings: IndexSettings, embedder: Embedder,
                 detector: Callable[[], Detector], matching: Matching,
                 thresholds: Thresholds) -> None:
        self.store, self.model, self.settings = store, model, settings
        self.embedder = embedder
        self.detector = detector  # made on first use
        self.matching, self.thresholds = matching, thresholds

    def enroll(self, person: str | int, photo: PhotoInput, source: str | None = None,
               face: FaceChoice | None = None, box: Sequence[float] | None = None,
               note: str = "") -> EnrolledFaceOut:
        """Enroll one face of a photo for a person (an id, or a name: created when new).
        Returns the stored face; raises `Refused` naming why a photo cannot be used."""
        (result,) = self.enroll_each(person, [photo], [source], face, box, note)
        if isinstance(result, FacepairError):
            raise result
        return result

    def enroll_photos(self, person: str | int, photos: Sequence[PhotoInput],
                      sources: Sequence[str | None] | None = None,
                      face: FaceChoice | None = None, box: Sequence[float] | None = None,
                      note: str = "", progress: Progress | None = None
                      ) -> list[EnrollmentOut]:
        """Enroll one face of each photo for a person (`enroll_each`); per photo, the face
        enrolled or the error that refused it."""
        sources = list(sources or [None] * len(photos))
        done = self.enroll_each(person, photos, sources, face, box, note, progress)
        return [EnrollmentOut.of(photo_name(photo, source), result)
                for photo, source, result in zip(photos, sources, done, strict=True)]

    def enroll_each(self, person: str | int, photos: Sequence[PhotoInput],
                    sources: Sequence[str | None] | None = None,
                    face: FaceChoice | None = None, box: Sequence[float] | None = None,
                    note: str = "", progress: Progress | None = None
                    ) -> list[EnrolledFaceOut | FacepairError]:
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
                chosen.append(None if several else choose(
                    analysed.faces, analysed.shape, analysed.source, face, box))
            except FacepairError as exc:
                chosen.append(exc)
        if any(c is None for c in chosen):
            references = self._references(person, found, chosen)
            threshold = self.thresholds.verify_threshold()
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
        faces = self.detector().detect(image, smallest)
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
            vectors.append(self.store.embeddings.of_model(self.model, known.id).vectors)
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
        album faces both end here. A face under the quality floor is refused."""
        refuse_unrecognisable(face, source, self.settings)
        stored_chip = decode(chip, name="chip")
        chip_points = np.asarray(chip_points).round(3)  # as stored
        # embedded from the stored chip and points, as `reembed` will: the same model gives the
        # same vector (an int8 model turns a 0.001 px shift of a point into a 1e-3 difference)
        vector = self.embedder.embed_crops(self.embedder.crops_at(stored_chip, [chip_points]))
        with self.matching.lock:
            store = self.store
            with store.transaction():
                if isinstance(person, int):
                    pid = store.people.get(person).id
                else:
                    pid = store.people.get_or_add(checked_name(person), note)
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
            self.matching.sync()
        return EnrolledFaceOut.of(self.store.faces.get(face_id), self.store.people.get(pid))

    # -- embedding the stored faces ---------------------------------------------------------

    def embed_stored(self, face_ids: list[int], progress: Progress | None = None,
                     batch: int = 64) -> int:
        """Embed these stored faces' chips with the current model (their vectors replace any
        it made before); returns how many."""
        done = 0
        for start in range(0, len(face_ids), batch):
            chunk = list(self.store.faces.chips(face_ids[start : start + batch]))
            crops = np.stack([
                self.embedder.crops_at(decode(c.jpeg), [np.asarray(c.landmarks)])[0]
                for c in chunk
            ])
            vectors = self.embedder.embed_crops(crops)
            with self.matching.lock:
                self.store.embeddings.put(self.model, [c.face_id for c in chunk], vectors)
            done += len(chunk)
            if progress:
                progress(done, len(face_ids))
        return done

    def reembed(self, progress: Progress | None = None) -> ReembedOut:
        """Re-embed every stored face chip with the current model; labels stay as they are.
        Embeddings of other models are dropped, and the index is rebuilt."""
        done = self.embed_stored(self.store.faces.ids(), progress)
        dropped = self.store.embeddings.drop_other_models(self.model)
        self.matching.load(from_file=False)
        return ReembedOut(model=self.model, faces=done, dropped_other_models=dropped)
