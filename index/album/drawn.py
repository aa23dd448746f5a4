"""A face drawn by hand: a box a user draws around a face in a tagged photo where the detector
found none, aligned and embedded as a found face is.

Its five landmarks come from the detector run again over the box's part of the photo (the box
grown by AROUND times its size on every side), looking for faces down to SMALLEST of the box's
shorter side: of the faces found there whose centre lies in the box, the one that overlaps it
most. Where there is none, the face is aligned from the box alone: the five points placed in
it where the detector places them in a box of its own (IN_BOX). Its quality (`faces.quality`)
counts the detector's score of the face found there; a face aligned from the box alone has
none (the detector found no face there), so its quality is 0: it is kept, as the user drew and
named it, with its chip and vector, but it is unrecognisable (never enrolled, matched, suggested
or grouped), for its landmarks are a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faces.align import face_chip
from faces.boxes import iou
from faces.decode import decode_regions
from faces.detect import Face
from faces.quality import quality
from index.gallery import Gallery, encode_chip

AROUND = 0.5
SMALLEST = 0.4
# The detector's five points in its own box, as shares of its width and height: the median
# over 300 LFW photos, made symmetric (left eye, right eye, nose, mouth left, mouth right).
IN_BOX = np.array([[0.27, 0.39], [0.73, 0.39], [0.50, 0.59], [0.29, 0.75], [0.71, 0.75]])


@dataclass(frozen=True)
class DrawnFace:
    """A drawn face aligned and embedded: its box, landmarks and quality (`face`), its chip
    (JPEG) and the chip's landmarks, its vector, and whether its landmarks were found by the
    detector (else placed in the box)."""

    face: Face
    chip: bytes
    chip_landmarks: list[list[float]]
    vector: np.ndarray
    found: bool


def grown(box: Sequence[float], share: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    grow = share * max(x2 - x1, y2 - y1)
    return x1 - grow, y1 - grow, x2 + grow, y2 + grow


def landmarks_in(gallery: Gallery, pixels: np.ndarray, box: Sequence[float]
                 ) -> tuple[np.ndarray, float] | None:
    """The landmarks (in `pixels`) and detector score of the face the detector finds in
    `box` (in `pixels`' coordinates), or None."""
    side = min(box[2] - box[0], box[3] - box[1])
    found = gallery.detector.detect(pixels, max(8, round(SMALLEST * side)))
    inside = [f for f in found
              if box[0] <= f.center[0] <= box[2] and box[1] <= f.center[1] <= box[3]]
    if not inside:
        return None
    best = max(inside, key=lambda f: iou(f.box, box))
    return np.asarray(best.landmarks, dtype=np.float64), float(best.score)


def drawn_face(gallery: Gallery, path: Path, box: Sequence[float]) -> DrawnFace:
    """A face drawn at `box` (pixels of the photo at `path` as shown, at full size), aligned,
    measured and embedded."""
    ((pixels, corner),) = decode_regions(path, [grown(box, AROUND)],
                                         gallery.settings.max_pixels, name=path.name)
    offset = np.asarray(corner, dtype=np.float64)
    local = [box[0] - offset[0], box[1] - offset[1], box[2] - offset[0], box[3] - offset[1]]
    seen = landmarks_in(gallery, pixels, local)
    if seen is None:
        width, height = local[2] - local[0], local[3] - local[1]
        points = IN_BOX * [width, height] + [local[0], local[1]]
        score = 0.0
    else:
        points, score = seen
    size = min(box[2] - box[0], box[3] - box[1])
    chip, chip_points = face_chip(pixels, points)
    vector = gallery.embedder.embed_crops(gallery.embedder.crops_at(pixels, [points]))[0]
    face = Face(box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])), score=score,
                landmarks=points + offset, quality=quality(pixels, points, size, score))
    return DrawnFace(face, encode_chip(chip), chip_points.round(3).tolist(), vector,
                     seen is not None)
