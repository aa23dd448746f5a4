"""How well a face can be told apart from others: one figure in [0, 1] from four things the
pipeline already has — the face's size in the photo, the detail in it (blur), its pose (from
the five landmarks) and the detector's score.

Each part is a ramp from 0 (hopeless) to 1 (no hindrance), between two points:

- **size**: the shorter side of the face box, `SIZE` px (log scale): a face under 20 px holds
  too few pixels for a model that reads 112.
- **detail**: the face aligned to a `DETAIL_CROP`-px grey crop (the model's template, eyes
  about 20 px apart): the share of its brightness variance left in the finest octave (the
  crop less its Gaussian blur at sigma 1), `DETAIL` (log scale). A face shot small and
  enlarged, out of focus or moving has lost that share; a dim face has not (it is a ratio).
- **pose**: where the nose lies between the eyes along the line through them, 0 midway and 1
  at an eye (`POSE`): a face turned towards profile.
- **detector**: the detector's score, `DETECTOR`.

The figure is their weighted geometric mean (`WEIGHTS`): any part at 0 makes it 0, and a face
poor in two ways scores lower than one poor in either. The points and weights are set on
LFW DevTrain people (`bench.quality`), never on DevTest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from faces.align import EYE_WEIGHTED, similarity_transform, template

DETAIL_CROP = 64
SIZE = (20.0, 64.0)  # px
DETAIL = (0.004, 0.03)  # share of the crop's variance in its finest octave
POSE = (1.3, 0.6)  # the nose's offset from midway between the eyes (0: frontal, 1: at an eye)
DETECTOR = (0.70, 0.97)
WEIGHTS = {"size": 0.25, "detail": 0.45, "pose": 0.1, "detector": 0.1}


@dataclass(frozen=True)
class Parts:
    """The four parts of a face's quality, each in [0, 1], and the raw measures."""

    size: float
    detail: float
    pose: float
    detector: float
    fine_share: float  # the detail measure
    nose_offset: float  # the pose measure

    @property
    def quality(self) -> float:
        total = 0.0
        for name, weight in WEIGHTS.items():
            value = getattr(self, name)
            if value <= 0.0:
                return 0.0
            total += weight * math.log(value)
        return math.exp(total / sum(WEIGHTS.values()))


def ramp(value: float, low: float, high: float) -> float:
    """0 at `low`, 1 at `high` (either way round), straight between, clipped."""
    if not math.isfinite(value):
        return 0.0
    return float(min(1.0, max(0.0, (value - low) / (high - low))))


def log_ramp(value: float, low: float, high: float) -> float:
    return ramp(math.log(max(value, 1e-12)), math.log(low), math.log(high))


def fine_share(pixels: np.ndarray, landmarks: np.ndarray) -> float:
    """The share of the aligned face's variance in its finest octave (see the module)."""
    matrix = similarity_transform(landmarks, template(DETAIL_CROP), EYE_WEIGHTED)
    crop = cv2.warpAffine(pixels, matrix, (DETAIL_CROP, DETAIL_CROP), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32) if crop.ndim == 3 \
        else crop.astype(np.float32)
    inner = slice(DETAIL_CROP // 8, DETAIL_CROP - DETAIL_CROP // 8)
    fine = grey - cv2.GaussianBlur(grey, (0, 0), 1.0)
    spread = float(grey[inner, inner].var())
    if spread < 1.0:  # a flat patch: nothing to tell a face by
        return 0.0
    return float((fine[inner, inner] ** 2).mean()) / spread


def nose_offset(landmarks: np.ndarray) -> float:
    """Where the nose projects onto the line through the eyes: 0 midway, 1 at an eye."""
    points = np.asarray(landmarks, dtype=np.float64)
    left, right, nose = points[0], points[1], points[2]
    across = right - left
    length = float(across @ across)
    if length <= 0.0:
        return math.inf
    t = float((nose - left) @ across) / length
    return abs(t - 0.5) * 2.0


def parts(pixels: np.ndarray, landmarks: np.ndarray, size: float, score: float) -> Parts:
    """The parts of the quality of a face with these landmarks in these pixels; `size`: the
    shorter side of its box in the photo at full size."""
    share = fine_share(pixels, landmarks)
    offset = nose_offset(landmarks)
    return Parts(size=log_ramp(size, *SIZE), detail=log_ramp(share, *DETAIL),
                 pose=ramp(offset, *POSE), detector=ramp(score, *DETECTOR),
                 fine_share=share, nose_offset=offset)


def quality(pixels: np.ndarray, landmarks: np.ndarray, size: float, score: float) -> float:
    """A face's quality in [0, 1] (`parts`)."""
    return parts(pixels, landmarks, size, score).quality
