"""Face detection: MTCNN (faces.mtcnn: facenet-pytorch's networks, our batched cascade) over one
photo or a batch, with boxes, scores and the five landmarks (left eye, right eye, nose tip, left
and right mouth corners, as seen in the photo).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from faces.settings import Settings, get_settings, resolve_device


@dataclass(frozen=True)
class Face:
    """One detected face, in the photo's pixel coordinates."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks: np.ndarray  # (5, 2): left eye, right eye, nose, mouth left, mouth right

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
        }


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

    def __init__(self, settings: Settings | None = None, device: str | None = None) -> None:
        from faces.mtcnn import Cascade

        self.settings = settings or get_settings()
        self.device = resolve_device(device or self.settings.device)
        self._cascade = Cascade(self.device)

    def detect(self, photo: np.ndarray, min_face_size: int | None = None) -> list[Face]:
        """Every face in one RGB uint8 photo (H×W×3), best score first."""
        return self.detect_batch([photo], min_face_size)[0]

    def detect_batch(
        self, photos: Sequence[np.ndarray], min_face_size: int | None = None
    ) -> list[list[Face]]:
        """Faces for each photo, in order. Photos are shrunk to `detect_max_side` for detection
        and grouped by size into batches of `detect_batch_size`. Faces under `min_face_size`
        pixels (default: the setting) are not looked for."""
        smallest = min_face_size or self.settings.min_face_size
        results: list[list[Face]] = [[] for _ in photos]
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        scaled: list[np.ndarray] = []
        scales: list[float] = []
        for i, photo in enumerate(photos):
            small, scale = self._shrink(photo)
            scaled.append(small)
            scales.append(scale)
            groups[small.shape[:2]].append(i)
        batch = self.settings.detect_batch_size
        for indices in groups.values():
            for start in range(0, len(indices), batch):
                chunk = indices[start : start + batch]
                stacked = np.stack([scaled[i] for i in chunk])
                shrunk = min(scales[i] for i in chunk)
                found = self._cascade(stacked, max(8, round(smallest * shrunk)))
                for i, (b, p, pts) in zip(chunk, found, strict=True):
                    results[i] = self._faces(b, p, pts, scales[i], smallest)
        return results

    def _shrink(self, photo: np.ndarray) -> tuple[np.ndarray, float]:
        if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
            raise ValueError("photos must be H×W×3 uint8 RGB arrays (use faces.decode)")
        h, w = photo.shape[:2]
        scale = min(1.0, self.settings.detect_max_side / max(h, w))
        if scale == 1.0:
            return np.ascontiguousarray(photo), 1.0
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return cv2.resize(photo, size, interpolation=cv2.INTER_AREA), scale

    def _faces(
        self, boxes: np.ndarray, probs: np.ndarray, points: np.ndarray, scale: float,
        smallest: int,
    ) -> list[Face]:
        boxes, points = boxes / scale, points / scale
        faces = [
            Face(box=tuple(float(v) for v in b), score=float(p), landmarks=pts)
            for b, p, pts in zip(boxes, probs, points, strict=True)
        ]
        keep = [
            f for f in faces
            if f.score >= self.settings.min_face_score and f.size >= smallest
        ]
        return sorted(keep, key=lambda f: -f.score)
