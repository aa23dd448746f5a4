"""`facepair import-dlib-landmarks`: read dlib's 5-point face landmark model
(`shape_predictor_5_face_landmarks.dat`, public domain, shipped inside the PyPI package
face-recognition-models) into plain arrays, without dlib, and write them as
`models/dlib-landmarks-5.safetensors` with a JSON card. `faces.dlib_landmarks` runs the model
from that file only.

The model is an ensemble of regression trees (Kazemi and Sullivan, 2014). Its file is dlib's
serialization of a `shape_predictor` (integers and floats as `training.dlib_import._Reader`
reads them), in this order:
- a version (1) and the initial shape: a float matrix (written as -rows, -cols, then the values)
  of the 5 points, x then y each, in the unit square of the face rectangle;
- the cascade: for each of its 15 levels a list of trees; a tree is its splits (idx1, idx2 as
  integers, thresh as a float; node i's children are 2i+1 and 2i+2) and then its leaves (one
  10-value matrix each: how much each point moves);
- for each level the pixels that its trees compare, as the landmark each is anchored to
  (`anchor_idx`) and its offset from that landmark in the initial shape (`deltas`, x and y).

dlib holds every float of the model as a float32, and every value of the 5-point file is one
exactly (`read_shape_predictor` checks), so the arrays are written as float32 with nothing lost;
the indices as int32.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save

from training.dlib_import import DlibFormatError, _Reader

SHAPE_DAT_NAME = "shape_predictor_5_face_landmarks.dat"
MODEL_NAME = "dlib-landmarks-5"

# The arrays of a shape predictor file, by name, as written to the model file. C cascade levels,
# T trees a level, S splits and S + 1 leaves a tree, P points, F feature pixels a level.
ARRAYS = {
    "initial_shape": "(P, 2) float32: the mean shape, in the unit square of the face rectangle",
    "idx1": "(C, T, S) int32: each split's first feature pixel",
    "idx2": "(C, T, S) int32: the feature pixel subtracted from it",
    "thresh": "(C, T, S) float32: the split goes left where the difference is above this",
    "leaves": "(C, T, S + 1, P, 2) float32: how far each leaf moves each point",
    "anchor_idx": "(C, F) int32: the landmark each feature pixel is anchored to",
    "deltas": "(C, F, 2) float32: its offset from that landmark in the initial shape",
}


def _float32(values: list[float], what: str, path: Path) -> np.ndarray:
    """`values` as float32, refused unless every one is a float32 exactly (as dlib holds it)."""
    exact = np.array(values, dtype=np.float64)
    single = exact.astype(np.float32)
    if not np.array_equal(single.astype(np.float64), exact):
        raise DlibFormatError(f"{path}: {what} holds values that are not float32")
    return single


def read_shape_predictor(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a dlib `shape_predictor` file (format in this module's docstring; names and
    shapes in `ARRAYS`). About 1.5 s for the 9 MB 5-point model: every number has its own
    length, so the file is read one number at a time."""
    path = Path(path)
    data = path.read_bytes()
    r = _Reader(data)
    read_int, read_float = r.int, r.float

    def matrix() -> list[float]:
        rows, cols = abs(read_int()), abs(read_int())
        return [read_float() for _ in range(rows * cols)]

    try:
        version = read_int()
        if version != 1:
            raise DlibFormatError(f"{path}: shape_predictor version {version} (expected 1)")
        initial = matrix()
        points = len(initial) // 2
        idx1: list[list[int]] = []
        idx2: list[list[int]] = []
        thresh: list[list[float]] = []
        leaves: list[list[float]] = []
        levels = read_int()
        trees_per_level: list[int] = []
        for _ in range(levels):
            trees = read_int()
            trees_per_level.append(trees)
            for _ in range(trees):
                splits = [(read_int(), read_int(), read_float()) for _ in range(read_int())]
                idx1.append([s[0] for s in splits])
                idx2.append([s[1] for s in splits])
                thresh.append([s[2] for s in splits])
                tree_leaves = [matrix() for _ in range(read_int())]
                if len(tree_leaves) != len(splits) + 1 or any(
                    len(v) != 2 * points for v in tree_leaves
                ):
                    raise DlibFormatError(
                        f"{path}: a tree with {len(splits)} splits and {len(tree_leaves)} leaves"
                    )
                leaves.append([x for v in tree_leaves for x in v])
        anchors = [[read_int() for _ in range(read_int())] for _ in range(read_int())]
        deltas = [[read_float() for _ in range(2 * read_int())] for _ in range(read_int())]
    except IndexError as error:
        raise DlibFormatError(f"{path}: the file ends early: truncated?") from error
    if r.pos != len(data):
        raise DlibFormatError(f"{path}: {len(data) - r.pos} bytes left after the model")
    if not points or not levels or len(set(trees_per_level)) != 1 or len(set(map(len, idx1))) != 1:
        raise DlibFormatError(f"{path}: no points, no levels, or levels or trees of different "
                              "sizes")
    if len(idx1[0]) & (len(idx1[0]) + 1):
        raise DlibFormatError(f"{path}: trees of {len(idx1[0])} splits are not full")
    if len(anchors) != levels or len(deltas) != levels or len(set(map(len, anchors))) != 1:
        raise DlibFormatError(f"{path}: {levels} levels but {len(anchors)} sets of pixels")
    features = len(anchors[0])
    if any(2 * features != len(d) for d in deltas):
        raise DlibFormatError(f"{path}: feature pixels and their offsets differ in number")
    if max(max(s) for s in (*idx1, *idx2)) >= features or max(map(max, anchors)) >= points:
        raise DlibFormatError(f"{path}: a split or a feature pixel points past its table")
    shape = (levels, trees_per_level[0], len(idx1[0]))
    return {
        "initial_shape": _float32(initial, "the initial shape", path).reshape(points, 2),
        "idx1": np.array(idx1, dtype=np.int32).reshape(shape),
        "idx2": np.array(idx2, dtype=np.int32).reshape(shape),
        "thresh": _float32([t for tree in thresh for t in tree], "thresh", path).reshape(shape),
        "leaves": _float32([x for leaf in leaves for x in leaf], "leaves", path).reshape(
            *shape[:2], shape[2] + 1, points, 2
        ),
        "anchor_idx": np.array(anchors, dtype=np.int32),
        "deltas": _float32([x for d in deltas for x in d], "deltas", path).reshape(
            levels, features, 2
        ),
    }


def import_shape_predictor(dat: Path, out: Path, command: str = "") -> dict:
    """Read `dat` and write `out`.safetensors (the arrays) and `out`.json (its card); the card."""
    dat = Path(dat)
    arrays = read_shape_predictor(dat)
    levels, trees, splits = arrays["idx1"].shape
    card = {
        "name": out.name,
        "format": 1,
        "kind": "dlib shape_predictor (5 face landmarks)",
        "what": "dlib's 5-point face landmark model: a cascade of regression trees (Kazemi and "
                "Sullivan, 2014) that places the outer and inner corner of each eye and the base "
                "of the nose in a face rectangle from dlib's frontal face detector; run by "
                "faces.dlib_landmarks",
        "points": int(arrays["initial_shape"].shape[0]),
        "cascade": {"levels": levels, "trees_per_level": trees, "splits_per_tree": splits,
                    "feature_pixels_per_level": int(arrays["anchor_idx"].shape[1])},
        "arrays": ARRAYS,
        "source": {
            "file": dat.name,
            "sha256": hashlib.sha256(dat.read_bytes()).hexdigest(),
            "from": "PyPI package face-recognition-models (dlib-models by Davis King)",
            "trained_on": "dlib's 5-point face landmark dataset (7,198 faces; dlib-models "
                          "README)",
        },
        "licence": "public domain (Davis King released the model file into the public domain; "
                   "davisking/dlib-models README)",
        "training": {"task": "none here: imported as is", "commands": [command]},
        "weights_dtype": "float32 (indices int32): dlib's own float32 values, exactly",
        "created": dt.date.today().isoformat(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written by Python, not by safetensors' save_file, so that the file gets the umask's mode
    # (save_file makes it readable by its owner only).
    (out.parent / f"{out.name}.safetensors").write_bytes(save(arrays))
    (out.parent / f"{out.name}.json").write_text(
        json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    )
    return card
