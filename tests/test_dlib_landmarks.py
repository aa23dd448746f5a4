"""faces.dlib_landmarks reproduces dlib: its numpy 5-point predictor, run from the shipped
models/dlib-landmarks-5.safetensors without dlib, gives dlib's points, and its chip is dlib's
chip; the shipped file holds exactly what `facepair import-dlib-landmarks` reads from dlib's own
.dat file. The comparisons need the optional dlib-bin and face-recognition-models packages (in
the `dev` extra) and the LFW photos; the shipped model's own tests need neither."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from faces.decode import decode
from faces.dlib_landmarks import (
    MODEL_NAME,
    ShapeModel,
    chip_transform,
    default_model_file,
    default_predictor,
    dlib_chip,
    load_shape_model,
    rect_from_mtcnn,
)
from faces.errors import ModelError
from training.dlib_import import DlibFormatError, default_dat_file
from training.dlib_shape_import import SHAPE_DAT_NAME, read_shape_predictor

try:
    import dlib
except ImportError:
    dlib = None

SHAPE = default_dat_file(SHAPE_DAT_NAME)
FACEPAIR = str(Path(sys.executable).parent / "facepair")
needs_dat = pytest.mark.skipif(
    SHAPE is None, reason="face-recognition-models is not installed (pip install "
    "face-recognition-models)"
)
needs_dlib = pytest.mark.skipif(
    dlib is None or SHAPE is None,
    reason="dlib-bin or face-recognition-models is not installed (the `zoo` extra)",
)

# dlib's frontal face detector gives this rectangle to most lfw-deepfunneled photos.
LFW_RECT = (67, 80, 175, 187)


@pytest.fixture(scope="module")
def cases(lfw_photos):
    """30 LFW photos, each with dlib's usual rectangle and two moved from it (up to 12 px a
    side); every third photo also with one that sticks out of the photo, so that some feature
    pixels fall outside it. 100 rectangles in all."""
    rng = np.random.default_rng(0)
    out = []
    for i, path in enumerate(lfw_photos[::17][:30]):
        photo = decode(path)
        rects = [tuple(int(v) for v in np.add(LFW_RECT, rng.integers(-12, 13, 4))) for _ in "ab"]
        rects.insert(0, LFW_RECT)
        if i % 3 == 0:
            rects.append((-60, -40, 120, 150) if i % 2 else (150, 120, 290, 260))
        out.append((path, photo, rects))
    return out


def dlib_points(detection) -> np.ndarray:
    return np.array([[p.x, p.y] for p in detection.parts()], dtype=np.float64)


@needs_dlib
def test_points_are_dlibs(cases):
    predictor = default_predictor()
    theirs = dlib.shape_predictor(str(SHAPE))
    faces, times, off = 0, [], []
    for _, photo, rects in cases:
        for rect in rects:
            start = time.perf_counter()
            ours = predictor.predict(photo, rect)
            times.append(time.perf_counter() - start)
            expected = dlib_points(theirs(photo, dlib.rectangle(*rect)))
            # dlib rounds its points to whole pixels; ours keep the fraction.
            assert np.array_equal(np.floor(ours + 0.5), expected), (rect, ours, expected)
            off.append(np.abs(ours - expected).max())
            faces += 1
    gray = (cases[0][1].astype(np.uint32).sum(axis=2) // 3).astype(np.uint8)
    assert np.array_equal(
        predictor.predict(gray, LFW_RECT), predictor.predict(cases[0][1], LFW_RECT)
    )
    assert np.array_equal(
        np.floor(predictor.predict(gray, LFW_RECT) + 0.5),
        dlib_points(theirs(gray, dlib.rectangle(*LFW_RECT))),
    )
    print(
        f"{faces} faces: dlib's points on every one; unrounded points at most {max(off):.3f} px "
        f"from them; {1000 * np.median(times):.2f} ms a face (median)"
    )
    assert faces >= 90
    assert np.median(times) < 0.010


@needs_dlib
def test_chips_are_dlibs(cases):
    """From dlib's points, our chip is dlib's to the last bit, also for large faces (where dlib
    shrinks the photo with its image pyramid first) and for gray photos; cv2.warpAffine with
    `chip_transform` is within half a grey level of it on average (OpenCV rounds, dlib
    truncates)."""
    theirs = dlib.shape_predictor(str(SHAPE))
    warped = []
    for i, (_, photo, _) in enumerate(cases):
        detection = theirs(photo, dlib.rectangle(*LFW_RECT))
        points = dlib_points(detection)
        chip = dlib.get_face_chip(photo, detection, size=150, padding=0.25)
        assert np.array_equal(dlib_chip(photo, points), chip)
        moved = cv2.warpAffine(photo, chip_transform(points), (150, 150), flags=cv2.INTER_LINEAR)
        warped.append(np.abs(moved.astype(np.int16) - chip).mean())
        if i % 10 == 0:
            gray = np.ascontiguousarray(photo[:, :, 1])
            assert np.array_equal(dlib_chip(gray, points), dlib.get_face_chip(gray, detection))
            for scale in (2.5, 5.0):  # a face this much larger: halved once, twice
                big = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
                large = theirs(big, dlib.rectangle(*(int(v * scale) for v in LFW_RECT)))
                expected = dlib.get_face_chip(big, large, size=150, padding=0.25)
                assert np.array_equal(dlib_chip(big, dlib_points(large)), expected)
    print(
        f"cv2.warpAffine with chip_transform: mean abs difference {np.mean(warped):.3f} "
        f"(max over chips {np.max(warped):.3f}) grey levels"
    )
    assert np.max(warped) < 0.75


@needs_dlib
def test_mtcnn_rectangle_stands_in_for_dlibs_detector(cases, detector):
    """Points predicted from `rect_from_mtcnn` of our MTCNN box, against points predicted from
    dlib's own detector's rectangle (its fit: DevTrain; a median 0.005 eye distances apart on
    DevTest)."""
    from faces.detect import pick_face

    predictor = default_predictor()
    hog = dlib.get_frontal_face_detector()
    errors = []
    for _, photo, _ in cases:
        face = pick_face(detector.detect(photo), photo.shape)
        boxes = hog(photo, 1)
        if face is None or not boxes:
            continue
        cx, cy = face.center
        box = min(boxes, key=lambda b: (b.center().x - cx) ** 2 + (b.center().y - cy) ** 2)
        reference = predictor.predict(photo, (box.left(), box.top(), box.right(), box.bottom()))
        ours = predictor.predict(photo, rect_from_mtcnn(face.box))
        eyes = np.linalg.norm(reference[0:2].mean(axis=0) - reference[2:4].mean(axis=0))
        errors.append(np.linalg.norm(ours - reference, axis=1).mean() / eyes)
    print(
        f"{len(errors)} faces: points {np.median(errors):.4f} eye distances from dlib's "
        f"(median), {np.max(errors):.4f} at most"
    )
    assert len(errors) >= 25
    assert np.median(errors) < 0.015


def test_the_shipped_model_runs_without_training_dlib_or_the_dat_file():
    """faces/ loads models/dlib-landmarks-5.safetensors alone: training/, dlib and
    face-recognition-models are never imported."""
    code = (
        "import sys; import numpy as np; from faces.dlib_landmarks import predict_points; "
        "photo = np.full((250, 250, 3), 128, np.uint8); photo[100:140, 90:160] = 40; "
        "points = predict_points(photo, (67, 80, 175, 187)); assert points.shape == (5, 2); "
        "print(sorted({m.split('.')[0] for m in sys.modules} "
        "& {'training', 'dlib', 'face_recognition_models'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
    card = json.loads(default_model_file().with_suffix(".json").read_text())
    assert card["name"] == MODEL_NAME and "public domain" in card["licence"]
    assert card["source"]["file"] == SHAPE_DAT_NAME and len(card["source"]["sha256"]) == 64


@needs_dat
def test_importing_the_dat_again_gives_the_shipped_arrays(tmp_path):
    """`facepair import-dlib-landmarks` on face-recognition-models' file writes the arrays of
    the shipped model, value for value and dtype for dtype, and the same card."""
    out = tmp_path / "models" / MODEL_NAME
    result = subprocess.run([FACEPAIR, "import-dlib-landmarks", "--out", str(out), "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["model"] == MODEL_NAME and summary["points"] == 5
    shipped, fresh = load_file(str(default_model_file())), load_file(f"{out}.safetensors")
    assert shipped.keys() == fresh.keys() == set(ShapeModel.__dataclass_fields__)
    for name, array in shipped.items():
        assert array.dtype == fresh[name].dtype and np.array_equal(array, fresh[name]), name
    ignore = ("created", "training")
    shipped_card = json.loads(default_model_file().with_suffix(".json").read_text())
    fresh_card = json.loads(out.with_suffix(".json").read_text())
    assert {k: v for k, v in shipped_card.items() if k not in ignore} == {
        k: v for k, v in fresh_card.items() if k not in ignore
    }
    assert summary["source_sha256"] == shipped_card["source"]["sha256"]


def test_a_file_that_is_not_a_shape_predictor_is_refused(tmp_path):
    bad = tmp_path / "model.dat"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(DlibFormatError, match="version"):
        read_shape_predictor(bad)
    result = subprocess.run(
        [FACEPAIR, "import-dlib-landmarks", str(bad), "--out", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2 and "version 0" in result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.glob("x*"))
    if SHAPE is not None:
        bad.write_bytes(SHAPE.read_bytes()[:5000])
        with pytest.raises(DlibFormatError, match="truncated"):
            read_shape_predictor(bad)


def test_a_model_file_that_does_not_fit_is_refused(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_shape_model(tmp_path / "none.safetensors")
    arrays = load_file(str(default_model_file()))
    path = tmp_path / "model.safetensors"
    save_file({k: v for k, v in arrays.items() if k != "deltas"}, str(path))
    with pytest.raises(ModelError, match="no deltas"):
        load_shape_model(path)
    save_file({**arrays, "leaves": arrays["leaves"][:, :, :8]}, str(path))
    with pytest.raises(ModelError, match="leaves"):
        load_shape_model(path)
    idx1 = arrays["idx1"].copy()
    idx1[3, 7, 0] = arrays["anchor_idx"].shape[1]
    save_file({**arrays, "idx1": idx1}, str(path))
    with pytest.raises(ModelError, match="idx1 holds indices"):
        load_shape_model(path)
    path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="safetensors"):
        load_shape_model(path)
