"""int8 models (faces.quantize): made from a float model on real LFW faces, written, loaded,
and compared with the float model on other people's photos; the shipped int8 default, and
what it scores on each CPU's kernels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faces.detect import pick_face

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
# calibration: DevTrain people (training data); comparison: DevTest people (evaluation only)
CALIBRATE = ["Al_Gore", "Amelia_Vega", "Bill_Graham", "Bob_Hope", "Ana_Guevara", "Al_Sharpton"]
COMPARE = ["Alvaro_Uribe", "Amelie_Mauresmo", "Jacques_Chirac", "Donald_Rumsfeld"]


def _crops(embedder, detector, lfw_dir: Path, people: list[str], per_person: int):
    from faces.decode import decode

    crops, labels = [], []
    for label, name in enumerate(people):
        for path in sorted((lfw_dir / name).glob("*.jpg"))[:per_person]:
            photo = decode(path)
            face = pick_face(detector.detect(photo), photo.shape)
            assert face is not None, path
            crops.append(embedder.crops(photo, [face])[0])
            labels.append(label)
    return np.stack(crops), np.array(labels)


def needs_int8_kernels() -> None:
    from faces.quantize import engine

    if engine() is None:
        pytest.skip("needs PyTorch's int8 kernels (oneDNN or x86), which ARM CPUs lack")


def test_int8_twin_agrees_with_its_float_model(lfw_dir: Path, detector, tmp_path: Path):
    needs_int8_kernels()
    from faces.embed import Embedder, load_card, to_input
    from faces.quantize import quantize
    from training.export import write_model

    float_model = Embedder("dlib-resnet-v1")
    calibration, _ = _crops(float_model, detector, lfw_dir, CALIBRATE, 3)
    x = to_input(calibration, float_model.card.normalisation)
    qnet = quantize(float_model.net, [x, x.flip(3)])
    card = {k: v for k, v in load_card("dlib-resnet-v1").as_dict().items()
            if k not in ("lfw", "thresholds", "thresholds_from")}
    card.update(name="tiny-int8", quantization={"of": "dlib-resnet-v1", "runs_on": "cpu"})
    write_model(qnet, card, tmp_path, views=())
    written = tmp_path / "tiny-int8.safetensors"
    assert written.stat().st_size < 0.35 * float_model.path.stat().st_size  # int8, not float32

    int8 = Embedder(tmp_path / "tiny-int8")
    assert int8.quantized and int8.device == "cpu"
    crops, labels = _crops(float_model, detector, lfw_dir, COMPARE, 4)
    a, b = float_model.embed_crops(crops), int8.embed_crops(crops)
    assert np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)
    assert (a * b).sum(1).min() > 0.98  # the same face, nearly the same vector
    # every pair of faces scores nearly as the float model scores it, and same-person pairs
    # stay above different-person pairs as often
    sa, sb = a @ a.T, b @ b.T
    upper = np.triu_indices(len(crops), 1)
    assert np.abs(sa - sb)[upper].max() < 0.03
    same = (labels[:, None] == labels[None, :])[upper]
    ranked = [(s[upper][same][:, None] > s[upper][~same][None, :]).mean() for s in (sa, sb)]
    assert ranked[1] >= ranked[0] - 0.01, ranked


def test_the_default_on_a_cpu_is_the_shipped_int8_model():
    from faces.embed import Embedder, load_card
    from faces.quantize import engine

    embedder = Embedder(device="cpu")
    if engine() is None:  # no int8 kernels for this CPU (ARM): its float model runs there
        assert not embedder.quantized and embedder.name == "facepair-v2"
        return
    card = load_card(embedder.path.with_suffix(""))
    assert embedder.quantized and card.quantization
    assert card.quantization["of"] == "facepair-v2"
    # its own thresholds, measured on it, not its float model's
    assert card.thresholds != load_card("facepair-v2").thresholds


# Kernels compared with oneDNN's at this CPU's best instructions (its VNNI ones, where it has
# them): the reference kernels, oneDNN held to the SSE4.1 every x86-64 CPU has and ATen's
# portable code; and PyTorch's other x86 int8 kernels (fbgemm's), which it runs where a build
# has no oneDNN. An environment for the process, and the engine it runs the model on.
KERNELS = {
    "reference": ({"ONEDNN_MAX_CPU_ISA": "SSE41", "ATEN_CPU_CAPABILITY": "default"}, None),
    "fbgemm": ({}, "x86"),
}
EMBED = """
import sys
import numpy as np
import faces.quantize
if len(sys.argv) > 3:
    faces.quantize.engine = lambda: sys.argv[3]
from faces.embed import Embedder
np.save(sys.argv[2], Embedder("facepair-v2-int8").embed_crops(np.load(sys.argv[1])))
"""


def test_the_int8_model_scores_nearly_alike_on_every_cpus_kernels(lfw_dir: Path, detector,
                                                                   tmp_path: Path):
    """The CPU question: the shipped int8 model on this CPU's oneDNN kernels and on the others
    (`KERNELS`), each in a process of its own. Asserted is what holds for all of them: a face
    gives nearly the same vector, and a pair of faces scores within 0.02 (0.007 between oneDNN
    and fbgemm, measured). That is enough to carry a face across a threshold: a test that
    needs one just under it measures the scores first (`tests/near_threshold.py`)."""
    needs_int8_kernels()
    from faces.embed import Embedder

    int8 = Embedder("facepair-v2-int8")
    crops, _ = _crops(int8, detector, lfw_dir, COMPARE, 4)
    np.save(tmp_path / "crops.npy", crops)
    here = int8.embed_crops(crops)
    for name, (env, engine) in KERNELS.items():
        out = tmp_path / f"{name}.npy"
        ran = subprocess.run(
            [sys.executable, "-c", EMBED, str(tmp_path / "crops.npy"), str(out),
             *([engine] if engine else [])],
            env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, ran.stderr[-2000:]
        there = np.load(out)
        assert (here * there).sum(1).min() > 0.999, name
        assert np.abs(here @ here.T - there @ there.T).max() < 0.02, name


def test_quantize_refuses_what_it_cannot_do(tmp_path: Path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "facepair"), "quantize", *args], capture_output=True,
                              text=True, timeout=300)

    again = run("facepair-v2-int8", "--name", "x", "--models-dir", str(tmp_path), "--json")
    assert again.returncode == 2 and "only float" in " ".join(again.stderr.split())
    assert "Traceback" not in again.stderr
    no_data = run("dlib-resnet-v1", "--name", "x", "--models-dir", str(tmp_path), "--data",
                  str(tmp_path))
    assert no_data.returncode == 2 and "not a prepared folder" in " ".join(no_data.stderr.split())
    untrained = run("dlib-resnet-v1", "--name", "x", "--models-dir", str(tmp_path))
    assert untrained.returncode == 2
    assert "names no training data" in " ".join(untrained.stderr.split())
    assert not list(tmp_path.iterdir())
    # an int8 model is for running, not a starting point for training
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.csv").write_text("index,person,path,status\n")
    train = subprocess.run([str(BIN / "facepair"), "train", "--data", str(tmp_path / "data"),
                            "--init", "facepair-v2-int8", "--out", str(tmp_path / "run")],
                           capture_output=True, text=True, timeout=300)
    assert train.returncode == 2
    assert "--init its float model, facepair-v2" in " ".join(train.stderr.split())
