"""The face vectors `bench.lookalikes` works on, embedded once and cached (`bench.CACHE`).

    .venv/bin/python -m bench.lookalike_faces    (embeds what is not cached yet)

- LFW DevTest (`bench.open_set.devtest_split`): each photo's face nearest the centre, found by
  facepair's detector and embedded as enrollment and identify embed it.
- cfp-dev: each photo's largest face (`bench.cfp.detections`, cached there), embedded as
  `bench.cfp` embeds it.

A photo without a face has a NaN row. The cache is keyed by the model, the detector's version
and the list of photos.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from bench import CACHE


def _cached(kind: str, model: str, paths: list[Path]) -> Path:
    from faces.mtcnn import VERSION

    key = hashlib.sha256("\n".join(map(str, paths)).encode()).hexdigest()[:16]
    return CACHE / f"lookalikes_{kind}_{model}_{VERSION}_{key}.npy"


def lfw_vectors(paths: list[Path], model: str = "auto") -> np.ndarray:
    """Unit vectors of each photo's central face (NaN rows: no face)."""
    from faces.decode import decode
    from faces.detect import Detector, pick_face
    from faces.embed import Embedder

    embedder = Embedder(model)
    cache = _cached("lfw", embedder.name, paths)
    if cache.exists():
        return np.load(cache)
    detector = Detector()
    out = np.full((len(paths), embedder.dim), np.nan, dtype=np.float32)
    for i, path in enumerate(paths):
        photo = decode(path)
        face = pick_face(detector.detect(photo), photo.shape, "center")
        if face is not None:
            out[i] = embedder.embed_faces(photo, [face])[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, out)
    return out


def cfp_vectors(model: str = "auto") -> tuple[list[Path], np.ndarray]:
    """cfp-dev's frontal then profile photos and their largest faces' unit vectors."""
    from bench.cfp import detections, embed
    from faces.embed import Embedder
    from service.settings import get_settings
    from training.cfp import cfp_root, photos

    frontal, profile = photos(cfp_root(get_settings().data_dir))
    paths = [*frontal, *profile]
    cache = _cached("cfp", Embedder(model).name, paths)
    if cache.exists():
        return paths, np.load(cache)
    vectors = embed(paths, detections(paths), model)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return paths, vectors


def main() -> None:
    from bench.open_set import devtest_split

    _, cfp = cfp_vectors()
    print(f"cfp-dev: {len(cfp)} photos, {int(np.isnan(cfp[:, 0]).sum())} without a face")
    enroll, mated, strangers = devtest_split()
    paths = [p for ps in enroll.values() for p in ps] + [p for ps in mated.values()
                                                         for p in ps] + strangers
    lfw = lfw_vectors(paths)
    print(f"LFW DevTest: {len(lfw)} photos, {int(np.isnan(lfw[:, 0]).sum())} without a face")


if __name__ == "__main__":
    main()
