"""Face detection: MTCNN (faces.mtcnn: facenet-pytorch's networks, our batched cascade) over one
photo or a batch, with boxes, scores and the five landmarks (left eye, right eye, nose tip, left
and right mouth corners, as seen in the photo).
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F

from faces.settings import DEFAULTS, FaceSettings, resolve_device

if TYPE_CHECKING:
    from faces.decode import Reduced

# The second look at a photo without a face: a border of this share of its longer side, and
# faces of at least this share of its shorter side. On the 30 of 3,708 tight LFW DevTest
# headshots (0.9× the face box) where the plain cascade found nothing, repeated edge pixels
# found all 30 at 0.15 (black: 26); the landmarks lay a median 2.6 px from those found in the
# uncut photo. A face that large, in a photo with no other, is kept from a lower detector
# score (`second_look_score`): an ORL portrait turned half away scores 0.74 there.
BORDER_PAD = 0.15
BORDER_MIN_FACE = 0.5
# In a small photo (a thumbnail, a scanned portrait: shorter side under SMALL_PHOTO px) faces
# down to SMALL_PHOTO_FACE of its shorter side are looked for, even under `min_face_size`:
# in ORL's 92×112 portraits the face is 24–40 px wide.
SMALL_PHOTO, SMALL_PHOTO_FACE = 200, 0.2


@dataclass(frozen=True)
class Face:
    """One detected face, in the photo's pixel coordinates."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks: np.ndarray  # (5, 2): left eye, right eye, nose, mouth left, mouth right
    # how well it can be told apart, in [0, 1] (`faces.quality`); None: not measured
    quality: float | None = None

    @property
    def size(self) -> float:
        """The shorter side of the box, in pixels."""
        x1, y1, x2, y2 = self.box
        return min(x2 - x1, y2 - y1)

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2, (y1 + y2) / 2

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 5),
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
            "quality": None if self.quality is None else round(float(self.quality), 4),
        }

    def measured(self, pixels: np.ndarray, landmarks: np.ndarray | None = None,
                 scale: float = 1.0) -> Face:
        """This face with its quality measured in `pixels` (where its landmarks are
        `landmarks`, default its own; `scale`: the photo's size at full size over the size
        of these pixels, for the face's size)."""
        from faces.quality import quality

        points = self.landmarks if landmarks is None else landmarks
        return replace(self, quality=quality(pixels, points, self.size * scale, self.score))


def _pixels(photo: np.ndarray) -> torch.Tensor:
    """An RGB uint8 photo (H×W×3) as a 3×H×W tensor over the same pixels (no copy)."""
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError("photos must be H×W×3 uint8 RGB arrays (use faces.decode)")
    with warnings.catch_warnings():  # a read-only array (a decoded image's view) is only read
        warnings.filterwarnings("ignore", "The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(photo)).permute(2, 0, 1)


def pick_face(
    faces: Sequence[Face], shape: tuple[int, ...], how: Literal["center", "largest"] = "center"
) -> Face | None:
    """The face nearest the photo's centre (LFW's labelled face) or the largest one."""
    if not faces:
        return None
    if how == "largest":
        return max(faces, key=lambda f: f.size)
    cy, cx = shape[0] / 2, shape[1] / 2
    return min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)


class Detector:
    """MTCNN with facepair's settings. Photos of equal size are detected in one batch."""

    def __init__(self, settings: FaceSettings | None = None, device: str | None = None) -> None:
        from faces.mtcnn import Cascade

        self.settings = settings or DEFAULTS
        self.device = resolve_device(device or self.settings.device)
        self._cascade = Cascade(self.device)

    def detect(self, photo: np.ndarray, min_face_size: int | None = None,
               scale: float = 1.0) -> list[Face]:
        """Every face in one RGB uint8 photo (H×W×3), best score first; `scale`: the photo's
        size at full size over this one's, for the size its faces' quality counts and the
        smallest face looked for."""
        return self.detect_batch([photo], min_face_size, scale)[0]

    def detect_reduced(self, reduced: Reduced) -> list[Face]:
        """Every face of a photo decoded at a reduced size (`faces.decode.decode_reduced`), in
        the reduced image's pixels; the smallest face looked for is `min_face_size` pixels of
        the photo at full size. Their quality counts their size at full size."""
        return self.detect(reduced.image, scale=reduced.scale)

    def detect_batch(
        self, photos: Sequence[np.ndarray], min_face_size: int | None = None,
        scale: float = 1.0,
    ) -> list[list[Face]]:
        """Faces for each photo, in order, each with its quality (`faces.quality`), grouped
        by size into batches of `detect_batch_size`. Faces under `min_face_size` pixels
        (default: the setting, counted at full size: / `scale`) are not looked for, but in
        photos under 200 px (`SMALL_PHOTO_FACE`); nor, in a photo so large that the search
        for them would work on more than `detect_max_side` pixels (the pyramid's finest
        level: 12 / the smallest face of the photo's longer side), faces under what that size
        allows. `scale`: as `detect`'s, for every photo.

        A photo where no face is found is looked at once more, shrunk to `detect_max_side`,
        with a border around it (`BORDER_PAD` of its longer side, edge pixels repeated), for a
        face at least `BORDER_MIN_FACE` of its shorter side, kept from a detector score of
        `second_look_score`: a tight headshot, forehead or chin cut by the frame, which PNet's
        window cannot fit inside the photo itself."""
        wanted = min_face_size or max(8, round(self.settings.min_face_size / scale))
        smallest = [min(wanted, max(12, round(SMALL_PHOTO_FACE * min(p.shape[:2]))))
                    if min(p.shape[:2]) < SMALL_PHOTO else wanted for p in photos]
        pixels = [_pixels(photo) for photo in photos]
        found = self._cascade_groups(
            pixels, [max(least, math.ceil(12 * max(p.shape[:2]) / self.settings.detect_max_side))
                     for least, p in zip(smallest, photos, strict=True)])
        results = [self._faces(*faces, 1.0, least)
                   for faces, least in zip(found, smallest, strict=True)]
        empty = [i for i, faces in enumerate(results) if not faces]
        if empty:
            bordered, pads, sizes = [], [], []
            shrunk = {i: self._shrink(pixels[i]) for i in empty}
            for i in empty:
                small, scale = shrunk[i]
                h, w = small.shape[1:]
                pad = round(BORDER_PAD * max(h, w))
                bordered.append(F.pad(small[None], (pad, pad, pad, pad), mode="replicate")[0])
                pads.append(pad)
                sizes.append(max(8, round(smallest[i] * scale),
                                 round(BORDER_MIN_FACE * min(h, w))))
            again = self._cascade_groups(bordered, sizes)
            for i, pad, (boxes, probs, points) in zip(empty, pads, again, strict=True):
                results[i] = self._faces(boxes - pad, probs, points - pad, shrunk[i][1],
                                         smallest[i], self.settings.second_look_score)
        return [[f.measured(photo, scale=scale) for f in faces]
                for photo, faces in zip(photos, results, strict=True)]

    def _cascade_groups(
        self, images: Sequence[torch.Tensor], min_sizes: Sequence[int]
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The cascade over images (3×H×W uint8), batched by size and smallest face."""
        out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [
            (np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2)))] * len(images)
        groups: dict[tuple[tuple[int, ...], int], list[int]] = defaultdict(list)
        for i, (image, size) in enumerate(zip(images, min_sizes, strict=True)):
            groups[(tuple(image.shape[1:]), size)].append(i)
        batch = self.settings.detect_batch_size
        for (_, size), indices in groups.items():
            for start in range(0, len(indices), batch):
                chunk = indices[start : start + batch]
                # pixel by pixel (channels last), the layout torch resamples 8-bit pixels in
                # fastest; a photo alone as it is, uncopied
                stacked = images[chunk[0]][None] if len(chunk) == 1 else torch.stack(
                    [images[i].permute(1, 2, 0) for i in chunk]).permute(0, 3, 1, 2)
                found = self._cascade(stacked, size)
                for i, result in zip(chunk, found, strict=True):
                    out[i] = result
        return out

    def _shrink(self, pixels: torch.Tensor) -> tuple[torch.Tensor, float]:
        """A photo (3×H×W) shrunk to `detect_max_side` where it is larger, and the scale."""
        from faces.mtcnn import shrink

        h, w = pixels.shape[1:]
        scale = min(1.0, self.settings.detect_max_side / max(h, w))
        if scale == 1.0:
            return pixels, 1.0
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        return shrink(pixels[None], size)[0], scale

    def _faces(
        self, boxes: np.ndarray, probs: np.ndarray, points: np.ndarray, scale: float,
        smallest: int, min_score: float | None = None,
    ) -> list[Face]:
        boxes, points = boxes / scale, points / scale
        faces = [
            Face(box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])), score=float(p),
                 landmarks=pts)
            for b, p, pts in zip(boxes, probs, points, strict=True)
        ]
        keep = [
            f for f in faces
            if f.score >= (self.settings.min_face_score if min_score is None else min_score)
            and f.size >= smallest
        ]
        return sorted(keep, key=lambda f: -f.score)
