"""MTCNN detection and 5-point alignment on real LFW photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faces.align import EYE_WEIGHTED, align, similarity_transform, template, transform_points
from faces.decode import decode
from faces.detect import pick_face
from tests.conftest import paste, upright


@pytest.fixture(scope="module")
def lfw_faces(lfw_photos, detector):
    photos = [decode(p) for p in lfw_photos]
    return photos, detector.detect_batch(photos)


def test_a_face_near_the_centre_of_500_lfw_photos(lfw_faces):
    photos, found = lfw_faces
    assert len(photos) == 500
    near = 0
    for photo, faces in zip(photos, found, strict=True):
        face = pick_face(faces, photo.shape)
        if face is None:
            continue
        cx, cy = face.center
        near += abs(cx - 125) < 30 and abs(cy - 125) < 30
    assert near / len(photos) >= 0.99, f"only {near}/500 photos had a face near the centre"


def test_aligned_eyes_land_on_the_template(lfw_faces):
    photos, found = lfw_faces
    target = template(112)
    errors = []
    for photo, faces in zip(photos, found, strict=True):
        face = pick_face(faces, photo.shape)
        if face is None:
            continue
        matrix = similarity_transform(face.landmarks, target, EYE_WEIGHTED)
        eyes = transform_points(matrix, face.landmarks[:2])
        errors.append(np.linalg.norm(eyes - target[:2], axis=1).max())
        crop = align(photo, face.landmarks)
        assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    errors = np.array(errors)
    assert (errors <= 3.0).mean() >= 0.99, f"eye error over 3 px in {(errors > 3).sum()} crops"


def test_the_aligned_crop_is_a_face_on_the_template(lfw_faces, detector):
    """Detect again inside aligned crops (padded, as the detector wants context): the eyes are
    where the template says."""
    photos, found = lfw_faces
    errors = []
    for photo, faces in list(zip(photos, found, strict=True))[:60]:
        face = pick_face(faces, photo.shape)
        if face is None:
            continue
        crop = align(photo, face.landmarks, size=224, points=template(112) + 56)
        again = pick_face(detector.detect(crop), crop.shape)
        assert again is not None, "no face found again in an aligned crop"
        eyes = again.landmarks[:2] - 56
        errors.append(np.linalg.norm(eyes - template(112)[:2], axis=1).max())
    errors = np.array(errors)
    median, p90 = np.median(errors), np.quantile(errors, 0.9)
    print(f"re-detected eye error: median {median:.2f} px, 90th percentile {p90:.2f} px")
    assert np.median(errors) <= 3.0 and np.quantile(errors, 0.9) <= 6.0


def test_similarity_transform_recovers_a_known_warp():
    angle, scale, shift = np.deg2rad(17), 1.7, np.array([12.0, -5.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = template(112)
    dst = src @ (scale * rot).T + shift
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], scale * rot, atol=1e-9)
    assert np.allclose(matrix[:, 2], shift, atol=1e-9)


def test_no_face_gives_an_empty_list(detector):
    rng = np.random.default_rng(0)
    sky = np.linspace(90, 220, 480)[:, None, None] * np.ones((480, 640, 3))
    photo = np.clip(sky + rng.normal(0, 4, sky.shape), 0, 255).astype(np.uint8)
    assert detector.detect(photo) == []


def test_batch_matches_one_by_one_over_mixed_sizes(lfw_photos, detector):
    photos = [decode(p) for p in lfw_photos[:4]]
    photos.append(paste((768, 1024), photos[0], (600, 300)))
    batched = detector.detect_batch(photos)
    for photo, faces in zip(photos, batched, strict=True):
        alone = detector.detect(photo)
        assert len(alone) == len(faces)
        for a, b in zip(alone, faces, strict=True):
            assert np.allclose(a.box, b.box, atol=0.5) and abs(a.score - b.score) < 1e-4


def test_large_photo_is_detected_in_its_own_coordinates(face_photo, detector):
    import cv2

    face = decode(face_photo)
    big_face = cv2.resize(face, (750, 750))
    photo = paste((2400, 3200), big_face, (2000, 1200))  # over detect_max_side: shrunk, mapped back
    faces = detector.detect(photo)
    assert faces, "no face found in the 3200×2400 photo"
    cx, cy = faces[0].center
    assert abs(cx - 2375) < 60 and abs(cy - 1575) < 60
    assert upright(faces[0])


def test_minimum_face_size_and_score_are_settings(face_photo):
    from faces.detect import Detector
    from faces.settings import FaceSettings

    photo = decode(face_photo)
    strict = Detector(FaceSettings(min_face_size=200))
    assert strict.detect(photo) == []
    picky = Detector(FaceSettings(min_face_score=1.0, second_look_score=1.0))
    assert all(f.score >= 1.0 for f in picky.detect(photo))


# DevTest photos whose tight crop (0.9× the face box) facepair-cascade-2 found no face in
TIGHT_MISSED = ["Antonio_Elias_Saca_0001", "Ashley_Judd_0001", "Celine_Dion_0003",
                "David_Stern_0002", "James_Cameron_0003", "John_Wayne_0001",
                "Michael_Jackson_0002", "Nancy_Pelosi_0011", "Reese_Witherspoon_0001",
                "Vicente_Fox_0032"]


def test_tight_headshots_cut_by_the_border(lfw_dir, lfw_photos, detector):
    """A face that fills the frame, forehead and chin cut off, is found: in crops that the
    plain cascade found nothing in, and in 100 others."""
    from bench.detect_coverage import tight_crop

    paths = [lfw_dir / n.rsplit("_", 1)[0] / f"{n}.jpg" for n in TIGHT_MISSED]
    paths += lfw_photos[::5]
    crops = []
    for path in paths:
        photo = decode(path)
        face = pick_face(detector.detect(photo), photo.shape)
        assert face is not None, path
        crops.append((face, *tight_crop(photo, face.box)))
    found = detector.detect_batch([crop for _, crop, _ in crops])
    missed = [p.name for p, faces in zip(paths, found, strict=True) if not faces]
    assert not missed, f"no face in the tight crops of {missed}"
    # where the plain cascade failed, the landmarks lie near those found in the whole photo
    for (face, _, corner), faces in list(zip(crops, found, strict=True))[: len(TIGHT_MISSED)]:
        error = np.linalg.norm(faces[0].landmarks + corner - face.landmarks, axis=1).max()
        assert error < 8, f"a landmark {error:.1f} px from the whole photo's"


def test_every_orl_photo_has_a_face(orl_dir, detector):
    photos = sorted(orl_dir.glob("s*/*.pgm"))
    assert len(photos) == 400
    found = detector.detect_batch([decode(p) for p in photos])
    missed = [str(p.relative_to(orl_dir)) for p, faces in zip(photos, found, strict=True)
              if not faces]
    assert not missed, f"no face in {missed}"


def test_our_cascade_finds_what_facenet_pytorch_finds(lfw_faces):
    """faces.mtcnn runs facenet-pytorch's networks with batched cuts; on LFW photos it must find
    the same central faces, with landmarks close to the reference driver's."""
    import torch
    from facenet_pytorch import MTCNN

    photos, found = lfw_faces
    photos, found = photos[::5], found[::5]  # 100 photos
    reference = MTCNN(min_face_size=40, keep_all=True, post_process=False,
                      device=torch.device("cpu"))
    _, _, points = reference.detect(np.stack(photos), landmarks=True)
    errors, missed = [], 0
    for photo, faces, theirs in zip(photos, found, points, strict=True):
        if theirs is None:
            continue
        ref_points = np.asarray(theirs, dtype=np.float64).reshape(-1, 5, 2)
        centre = ref_points[np.argmin(np.abs(ref_points[:, 2] - 125).sum(1))]
        ours = pick_face(faces, photo.shape)
        if ours is None:
            missed += 1
            continue
        errors.append(np.linalg.norm(ours.landmarks - centre, axis=1).max())
    assert missed <= 1 and len(errors) >= 95
    print(f"largest landmark distance to facenet-pytorch: median {np.median(errors):.2f} px, "
          f"95th percentile {np.percentile(errors, 95):.2f} px")
    assert np.median(errors) < 2.5 and np.percentile(errors, 90) < 5.0  # faces of ~110 px


def test_a_large_photo_is_searched_for_small_faces_only_near_faces(lfw_photos, detector):
    """A 12-megapixel photo: real LFW photos side by side on its left third (texture, faces of
    about 120–290 px), an empty noisy wall on its right with four faces of 52–72 px. The gated
    search (faces.mtcnn.GATE) finds every face the whole search finds, the small ones among
    them, and runs PNet over markedly fewer pixels."""
    import cv2

    import faces.mtcnn as cascade

    rng = np.random.default_rng(1)
    canvas = np.clip(rng.normal(150, 6, (3024, 4032, 3)), 0, 255).astype(np.uint8)
    photos = [decode(p) for p in lfw_photos[:40]]
    k = 0
    for y in range(0, 3024 - 300, 400):  # rows of tiles 300–690 px wide
        x = 0
        while x < 1400 - 300:
            side = int(rng.integers(300, 700))
            side = min(side, 1400 - x)
            canvas[y : y + min(side, 3024 - y), x : x + side] = cv2.resize(
                photos[k % len(photos)], (side, side))[: 3024 - y]
            x, k = x + side, k + 1
    small = [(2400, 400, 52), (3000, 900, 58), (3500, 2000, 64), (2600, 2500, 72)]
    for i, (x, y, face) in enumerate(small):  # an LFW photo's face spans ~0.42 of it
        side = round(face / 0.42)
        canvas[y : y + side, x : x + side] = cv2.resize(photos[-1 - i], (side, side))

    pixels = {"whole": 0, "gated": 0}
    pnet = detector._cascade.pnet
    found = {}
    try:
        # no gated levels: the same pyramid, searched whole
        for mode, levels in (("whole", 0), ("gated", cascade.FINE_LEVELS)):
            def counted(x, mode=mode):
                pixels[mode] += x.shape[0] * x.shape[2] * x.shape[3]
                return pnet.forward(x)

            detector._cascade.pnet = counted
            fine_levels, cascade.FINE_LEVELS = cascade.FINE_LEVELS, levels
            try:
                found[mode] = detector.detect(canvas)
            finally:
                cascade.FINE_LEVELS = fine_levels
    finally:
        detector._cascade.pnet = pnet

    def near(f, others):
        return any(np.abs(np.subtract(f.box, g.box)).max() < 0.2 * f.size for g in others)

    small_found = [f for f in found["gated"] if f.center[0] > 2100]
    assert len(small_found) == len(small), [f.box for f in small_found]
    assert all(near(f, found["gated"]) for f in found["whole"])
    assert len(found["gated"]) == len(found["whole"]) >= len(small) + 10
    assert pixels["gated"] < 0.6 * pixels["whole"], pixels


def test_pnet_in_strips_gives_the_whole_levels_maps(lfw_photos, detector):
    """A large level runs PNet in strips of rows; joined, their maps are the whole level's:
    the same cells, the same box offsets and face probabilities, whatever the height."""
    import torch

    import faces.mtcnn as cascade

    cascade_ = detector._cascade
    # a 12-MP photo's finest level, tiled with LFW photos of 40 px: faces of PNet's window
    tiles = [cv2.resize(decode(p), (40, 40)) for p in lfw_photos[:24]]
    rows = [np.hstack([tiles[(r + c) % len(tiles)] for c in range(31)]) for r in range(23)]
    level = torch.from_numpy(np.vstack(rows)[:917, :1218].copy()).permute(2, 0, 1)[None]
    for height in (917, 916, 640, 333):  # odd and even; tall and wide parts
        part = level[:, :, :height]
        assert part.shape[2] * part.shape[3] > cascade.STRIP_PIXELS
        with torch.inference_mode():
            offsets, probs = cascade_.pnet(cascade._normalise(part))
            strip_offsets, strip_probs = cascade_._pnet(part)
        assert strip_probs.shape == probs[:, 1].shape
        assert torch.allclose(strip_probs, probs[:, 1], atol=1e-6)
        assert torch.allclose(strip_offsets, offsets, atol=1e-6)
        assert (probs[:, 1] >= cascade.THRESHOLDS[0]).any()  # a face the cells must agree on


@pytest.mark.parametrize("height, width", [(906, 1208), (907, 1215), (13, 12), (1, 1)])
def test_pnet_pooling_is_torchs(height, width):
    """PNet's 2×2 pooling (strided views) gives exactly torch's ceil-mode max pooling, on odd
    and even sides, in either memory layout."""
    import torch
    import torch.nn.functional as F

    from faces.mtcnn import _max_pool_2

    x = torch.randn(2, 10, height, width, generator=torch.Generator().manual_seed(height))
    for layout in (torch.channels_last, torch.contiguous_format):
        x = x.contiguous(memory_format=layout)
        assert torch.equal(_max_pool_2(x), F.max_pool2d(x, 2, 2, ceil_mode=True))
