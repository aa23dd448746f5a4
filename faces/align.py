"""Alignment: a 5-point similarity warp of a face onto a fixed template (112×112 by default)."""

from __future__ import annotations

import cv2
import numpy as np

# Eye centres, nose tip and mouth corners in a 112×112 crop (the ArcFace template).
TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


# Where MTCNN's 5 points lie, on average, in dlib's own 150×150 face chips (get_face_chip,
# padding 0.25), measured on 299 LFW photos: crops for networks trained on dlib's chips.
DLIB_CHIP_TEMPLATE = np.array(
    [[47.6, 45.72], [101.78, 45.31], [73.69, 77.67], [50.98, 104.84], [99.16, 104.63]],
    dtype=np.float64,
)


def template(size: int = 112) -> np.ndarray:
    """The 5-point template scaled to a `size`×`size` crop."""
    return TEMPLATE_112 * (size / 112.0)


# Point weights of the fit. The eyes weigh most: on 500 LFW photos, plain least squares left an
# eye over 3 px off the template in 18 % of crops, these weights in 0.6 %, with the same mean
# error over all five points (2.58 px against 2.59 px).
EYE_WEIGHTED = np.array([10.0, 10.0, 1.0, 1.0, 1.0])


def similarity_transform(
    src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """The weighted least-squares similarity (rotation, uniform scale, shift) taking `src` points
    onto `dst` points (Umeyama, 1991), as a 2×3 matrix for `cv2.warpAffine`."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    src_mean, dst_mean = w @ src, w @ dst
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = (dst_c * w[:, None]).T @ src_c
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # no reflections
        d[-1] = -1
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / (w * (src_c**2).sum(axis=1)).sum()
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]])


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine matrix to (N, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def align(
    photo: np.ndarray, landmarks: np.ndarray, size: int = 112, points: np.ndarray | None = None
) -> np.ndarray:
    """Warp the face with these 5 landmarks to a `size`×`size` RGB crop on the template
    (or on `points`, a template of the caller's for another network)."""
    dst = template(size) if points is None else points
    matrix = similarity_transform(landmarks, dst, EYE_WEIGHTED)
    return cv2.warpAffine(
        photo, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )


# The face chip the gallery stores for each enrolled face: 288×288, the 112 template at twice
# the scale with a 32 px margin, wide enough to hold any model's crop (dlib's 150 chips reach
# lower and wider than the 112 template). Any later model's crop is aligned from it.
CHIP_SIZE = 288
CHIP_TEMPLATE = TEMPLATE_112 * 2.0 + 32.0


def face_chip(photo: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stored chip of a face and its 5 landmarks in the chip's coordinates."""
    matrix = similarity_transform(landmarks, CHIP_TEMPLATE, EYE_WEIGHTED)
    chip = cv2.warpAffine(photo, matrix, (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
    return chip, transform_points(matrix, landmarks)


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian over the face's middle (eyes to mouth) of a chip: low = blurred."""
    gray = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    middle = gray[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    return float(cv2.Laplacian(middle, cv2.CV_64F).var())
