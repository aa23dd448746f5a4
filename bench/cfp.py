"""Frontal–frontal and frontal–profile verification on cfp-dev (CFP's protocol, people 1–250).

    .venv/bin/python -m bench.cfp [--model M]… [--splits 1,2,…] [--json]

`--model A+B` measures a fusion of two models: a pair's score is the mean of their cosines.

Each photo's largest face is found by facepair's detector, aligned for the model and
embedded (flip-summed, as everywhere); a photo without a face scores -1 against everything.
Accuracy as in CFP (`training.cfp.verification`): for each split the threshold that is best
on the other splits counted, applied to it; mean ± std, with ROC AUC over the same pairs.
A model trained on some of these people is judged on the other splits only (`--splits`).
Detections are cached in the benchmarks' cache (`bench.CACHE`) per detector version.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench import CACHE


def detections(paths: list[Path]) -> list:
    """The largest face of each photo (None where there is none), cached."""
    import pickle

    from faces.decode import decode
    from faces.detect import Detector, pick_face
    from faces.mtcnn import VERSION

    cache = CACHE / f"cfp_faces_{VERSION}_{len(paths)}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    detector = Detector()
    found = []
    for path in paths:
        photo = decode(path)
        found.append(pick_face(detector.detect(photo), photo.shape, "largest"))
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(found))
    return found


def embed(paths: list[Path], faces: list, model: str) -> np.ndarray:
    """Unit embeddings of the faces (NaN rows where none). `A+B`: a fusion, each model's
    unit embedding side by side and scaled to unit length again, so that a pair's cosine is
    the mean of the models' cosines."""
    from faces.decode import decode
    from faces.embed import Embedder

    if "+" in model:
        parts = [embed(paths, faces, m) for m in model.split("+")]
        return np.concatenate(parts, axis=1) / np.sqrt(len(parts))

    embedder = Embedder(model)
    out = np.full((len(paths), embedder.dim), np.nan, dtype=np.float32)
    rows = [i for i, f in enumerate(faces) if f is not None]
    for start in range(0, len(rows), 64):
        chunk = rows[start : start + 64]
        crops = np.concatenate([embedder.crops(decode(paths[i]), [faces[i]]) for i in chunk])
        out[chunk] = embedder.embed_crops(crops)
    return out


def measure(model: str, splits: tuple[int, ...], data_dir: Path | None = None) -> dict:
    from service.settings import get_settings
    from training.cfp import cfp_root, photos, verification

    root = cfp_root(data_dir or get_settings().data_dir)
    frontal, profile = photos(root)
    faces = detections([*frontal, *profile])
    vectors = embed([*frontal, *profile], faces, model)
    return verification(root, vectors[: len(frontal)], vectors[len(frontal) :], splits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model(s) to measure (default: auto)")
    parser.add_argument("--splits", default="1,2,3,4,5", help="the splits that count")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    splits = tuple(int(s) for s in args.splits.split(","))
    figures = {}
    for model in args.model or ["auto"]:
        start = time.perf_counter()
        f = measure(model, splits)
        f["seconds"] = round(time.perf_counter() - start, 1)
        figures[model] = f
        print(f"{model}: FF {f['FF']['accuracy']:.4f} ± {f['FF']['std']:.4f} (AUC "
              f"{f['FF']['auc']:.4f}), FP {f['FP']['accuracy']:.4f} ± {f['FP']['std']:.4f} "
              f"(AUC {f['FP']['auc']:.4f}); no face: {f['no_face']['frontal']} frontal, "
              f"{f['no_face']['profile']} profile photos")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
