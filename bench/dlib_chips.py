"""dlib's face chips against facepair's crops, for dlib's network and the models made from it.

    .venv/bin/python -m bench.dlib_chips [--model M]… [--limit N] [--threads N] [--json]

`dlib-resnet-v1` was trained by dlib on its own chips: its 5-point shape predictor on a face
rectangle, then `get_face_chip_details(size=150, padding=0.25)`. facepair cuts its crops
otherwise: MTCNN's 5 landmarks, warped by a weighted similarity onto `DLIB_CHIP_TEMPLATE`
(where those points lie, on average, in dlib's chips). Each face is cut both ways from one
and the same MTCNN detection, and each model (default: `dlib-resnet-v1`, `facepair-v2`,
`facepair-v2-int8`) embeds both (flip-summed, as everywhere):

- "facepair": `Embedder.crops`, today's crop.
- "dlib": `faces.dlib_landmarks`: the MTCNN box → the rectangle dlib's detector would give
  (`rect_from_mtcnn`), dlib's 5 points in it (`predict_points`), dlib's chip (`dlib_chip`).

Two sets of faces:

- LFW held-out people: the faces that `training.data.CropSet` of `var/prepared/lfw-devtrain`
  and `var/prepared/orl` holds out (`holdout=0.2`, `seed=0`: the people on whom `facepair-v2`'s
  training step was chosen, never trained on), taken from their source photos (the rows are
  re-derived from the manifests as CropSet derives them, and checked against CropSet's own
  holdout). Each photo's face nearest the centre is detected again, so that both kinds come
  from today's detector. `training.evaluate.pair_figures` over every pair: AUC, TAR at FAR
  1e-3 and 1e-4 (thresholds from all impostor pairs). A photo without a face is left out of
  both kinds. The noise of a difference between the kinds: the held-out people resampled
  (1,000 times, with replacement) for the same-person pairs, each kind at its own thresholds.
- cfp-dev, as `bench.cfp` measures it (the cached largest face of each photo): FF and FP
  accuracy over the 5 splits (mean ± std over splits) and AUC; the noise of a difference:
  the standard deviation over splits of the per-split difference.

Also the median L2 distance between the two kinds' embeddings of the same face (unit vectors:
0 the same, √2 orthogonal). Detections and embeddings are cached in `bench.CACHE` (keyed by the
detector version, the photos and the model file's digest); delete its `dlib_chips_*`
after changing how crops or chips are cut. `--limit N` embeds only the first N photos of each
set (LFW held-out in a seeded order), to try the run: its figures do not compare.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import pickle
import time
from pathlib import Path

import numpy as np

from bench import CACHE

MODELS = ("dlib-resnet-v1", "facepair-v2", "facepair-v2-int8")
KINDS = ("facepair", "dlib")
PREPARED = (Path("var/prepared/lfw-devtrain"), Path("var/prepared/orl"))
CHUNK = 32  # photos detected together


# --- the held-out people's photos ----------------------------------------------------------


def held_out_photos(
    dirs: tuple[Path, ...] = PREPARED, holdout: float = 0.2, seed: int = 0,
    min_photos: int = 2, max_per_person: int = 10, max_strangers: int = 2000,
) -> dict:
    """The source photos of `CropSet(dirs, holdout=…, seed=…).holdout`, in its order: `paths`,
    `labels` (CropSet's), `names` (the held-out people with pairs), `strangers` (how many
    single-photo people), `rows` (the held-out rows of the concatenated `ok` crops) and
    `sources` ((prepared folder, manifest index) of each)."""
    from training.data import person_share

    names, paths, sources = [], [], []
    for d in dirs:
        rows = list(csv.DictReader((d / "manifest.csv").open()))
        for r in rows:
            if r["status"] == "ok":
                names.append(f"{d.name}/{r['person']}")
                paths.append(Path(r["path"]))
                sources.append((d, int(r["index"])))
    people, labels = np.unique(names, return_inverse=True)
    counts = np.bincount(labels)
    paired = np.flatnonzero(counts >= min_photos)
    held = {int(p) for p in paired if counts[p] <= max_per_person
            and person_share(people[p].split("/", 1)[1], seed) < holdout}
    rng = np.random.default_rng(seed)
    rows = [np.flatnonzero(labels == p)[:max_per_person] for p in sorted(held)]
    singles = np.flatnonzero(counts[labels] == 1)
    singles = np.sort(rng.permutation(singles)[:max_strangers])
    index = np.concatenate([*rows, singles])
    return {"paths": [paths[i] for i in index], "labels": labels[index].astype(np.int64),
            "names": [str(people[p]) for p in sorted(held)], "strangers": len(singles),
            "rows": index, "sources": [sources[i] for i in index]}


def check_held_out(held: dict, dirs: tuple[Path, ...] = PREPARED) -> None:
    """Fails unless `held` is CropSet's holdout: the same people, labels and prepared crops."""
    from training.data import CropSet

    truth = CropSet(list(dirs), holdout=0.2, seed=0).holdout
    assert truth is not None
    assert truth.names == held["names"], "held-out people differ from CropSet's"
    assert truth.strangers == held["strangers"], "single-photo people differ from CropSet's"
    assert np.array_equal(truth.labels, held["labels"]), "labels differ from CropSet's"
    crops = {d: np.load(d / "crops.npy", mmap_mode="r") for d in dirs}
    for k, (d, index) in enumerate(held["sources"]):
        assert np.array_equal(crops[d][index], truth.crops[k]), f"crop {k} differs ({d}, {index})"


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def center_faces(paths: list[Path]) -> list:
    """The face nearest the centre of each photo (None where there is none), cached."""
    from faces.decode import decode
    from faces.detect import Detector, pick_face
    from faces.mtcnn import VERSION

    cache = CACHE / f"dlib_chips_faces_{VERSION}_{_digest(*paths)}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    detector = Detector()
    found: list = []
    for start in range(0, len(paths), CHUNK):
        photos = [decode(p) for p in paths[start : start + CHUNK]]
        for photo, faces in zip(photos, detector.detect_batch(photos), strict=True):
            found.append(pick_face(faces, photo.shape, "center"))
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(found))
    return found


# --- both kinds of crop, and their embeddings ------------------------------------------------


def cut(paths: list[Path], faces: list, embedder) -> dict[str, np.ndarray]:
    """Both kinds of crop of every face (photos without one left out), in order."""
    from faces.decode import decode
    from faces.dlib_landmarks import dlib_chip, predict_points, rect_from_mtcnn

    out: dict[str, list] = {kind: [] for kind in KINDS}
    for path, face in zip(paths, faces, strict=True):
        if face is None:
            continue
        photo = decode(path)
        out["facepair"].append(embedder.crops(photo, [face])[0])
        out["dlib"].append(dlib_chip(photo, predict_points(photo, rect_from_mtcnn(face.box))))
    size = embedder.input_size
    return {k: np.stack(v) if v else np.zeros((0, size, size, 3), np.uint8)
            for k, v in out.items()}


def weights_digest(model: str) -> str:
    from faces.embed import model_paths

    weights = model_paths(model)[0]
    h = hashlib.sha256()
    with weights.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


class Embeddings:
    """Both kinds' embeddings of one set of faces, per model; crops cut once (every model has
    the same input size and template, checked), embeddings cached per model file."""

    def __init__(self, name: str, paths: list[Path], faces: list) -> None:
        self.name, self.paths, self.faces = name, paths, faces
        self.crops: dict[str, np.ndarray] | None = None
        self._geometry: tuple | None = None

    def of(self, model: str) -> dict[str, np.ndarray]:
        from faces.embed import Embedder
        from faces.mtcnn import VERSION

        key = _digest(self.name, VERSION, weights_digest(model), *self.paths,
                      *(f is None for f in self.faces))
        cache = CACHE / f"dlib_chips_emb_{self.name}_{model}_{key}.npz"
        if cache.exists():
            data = np.load(cache)
            return {kind: data[kind] for kind in KINDS}
        embedder = Embedder(model)
        geometry = (embedder.input_size, None if embedder.template is None
                    else embedder.template.round(4).tolist())
        if self.crops is None or geometry != self._geometry:
            self.crops, self._geometry = cut(self.paths, self.faces, embedder), geometry
        out = {kind: embedder.embed_crops(self.crops[kind]) for kind in KINDS}
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **out)
        return out


# --- figures ----------------------------------------------------------------------------------


def genuine_margins(embeddings: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per same-person pair: its person, the share of impostor pairs it outscores (its part of
    the AUC) and whether it is accepted at FAR 1e-3 and 1e-4 (`pair_figures`' thresholds)."""
    from training.evaluate import far_key, threshold_at_far

    sims = embeddings @ embeddings.T
    upper = np.triu(np.ones(sims.shape, dtype=bool), k=1)
    same = labels[:, None] == labels[None, :]
    genuine, impostor = sims[upper & same], np.sort(sims[upper & ~same])
    person = np.broadcast_to(labels[:, None], sims.shape)[upper & same]
    below = np.searchsorted(impostor, genuine, side="left")
    ties = np.searchsorted(impostor, genuine, side="right") - below
    out = {"person": person, "auc": (below + ties / 2) / len(impostor)}
    for far in (1e-3, 1e-4):
        out[f"tar_at_far_{far_key(far)}"] = genuine > threshold_at_far(impostor, far)
    return out


def paired_noise(a: dict, b: dict, resamples: int = 1000, seed: int = 0) -> dict:
    """b - a for each figure, and its standard deviation over resamplings of the people with
    same-person pairs (thresholds fixed)."""
    people, inverse = np.unique(a["person"], return_inverse=True)
    rng = np.random.default_rng(seed)
    weights = np.stack([np.bincount(rng.integers(0, len(people), len(people)),
                                    minlength=len(people)) for _ in range(resamples)])
    pair_weights = weights[:, inverse]  # resamples × pairs
    out = {}
    for key in a:
        if key == "person":
            continue
        diff = b[key].astype(np.float64) - a[key].astype(np.float64)
        boot = pair_weights @ diff / pair_weights.sum(axis=1)
        out[key] = {"difference": round(float(diff.mean()), 5), "std": round(float(boot.std()), 5)}
    return out


def lfw_figures(vectors: dict[str, np.ndarray], labels: np.ndarray) -> dict:
    from training.evaluate import pair_figures

    out: dict = {kind: pair_figures(vectors[kind], labels) for kind in KINDS}
    margins = {kind: genuine_margins(vectors[kind], labels) for kind in KINDS}
    out["dlib_minus_facepair"] = paired_noise(margins["facepair"], margins["dlib"])
    return out


def cfp_figures(root: Path, vectors: dict[str, np.ndarray], faces: list, frontal: int) -> dict:
    from training.cfp import verification

    out: dict = {}
    found = np.flatnonzero([f is not None for f in faces])
    for kind in KINDS:
        full = np.full((len(faces), vectors[kind].shape[1]), np.nan, dtype=np.float32)
        full[found] = vectors[kind]
        out[kind] = verification(root, full[:frontal], full[frontal:])
    out["dlib_minus_facepair"] = {}
    for protocol in ("FF", "FP"):
        diff = (np.array(out["dlib"][protocol]["per_split"])
                - np.array(out["facepair"][protocol]["per_split"]))
        out["dlib_minus_facepair"][protocol] = {
            "accuracy": round(float(diff.mean()), 4),
            "std_over_splits": round(float(diff.std()), 4),
            "auc": round(out["dlib"][protocol]["auc"] - out["facepair"][protocol]["auc"], 5)}
    return out


def median_distance(vectors: dict[str, np.ndarray]) -> float:
    return round(float(np.median(np.linalg.norm(vectors["dlib"] - vectors["facepair"], axis=1))), 4)


# --- the run ------------------------------------------------------------------------------------


def measure(models: list[str], limit: int | None = None, check: bool = True) -> dict:
    from bench.cfp import detections
    from service.settings import get_settings
    from training.cfp import cfp_root, photos

    start = time.perf_counter()
    held = held_out_photos()
    if check:
        check_held_out(held)
    paths, labels = held["paths"], held["labels"]
    if limit:
        order = np.sort(np.random.default_rng(0).permutation(len(paths))[:limit])
        paths, labels = [paths[i] for i in order], labels[order]
    faces = center_faces(paths)
    found = np.flatnonzero([f is not None for f in faces])
    lfw = Embeddings("lfw", paths, faces)
    orl = sum(p.suffix == ".pgm" for p in paths)
    detected_at = time.perf_counter()

    root = cfp_root(get_settings().data_dir)
    frontal, profile = photos(root)
    cfp_faces = list(detections([*frontal, *profile]))
    if limit:  # only the first `limit` photos of each list are embedded
        cfp_faces = [f if i < limit or len(frontal) <= i < len(frontal) + limit else None
                     for i, f in enumerate(cfp_faces)]
    cfp = Embeddings("cfp", [*frontal, *profile], cfp_faces)
    cfp_found = np.array([f is not None for f in cfp_faces])

    out: dict = {
        "lfw_held_out": {
            "photos": len(paths), "orl_photos": int(orl), "faces": len(found),
            "no_face": len(paths) - len(found),
            "people_with_pairs": len(held["names"]), "single_photo_people": held["strangers"],
            "checked_against_cropset": check},
        "cfp": {"photos": len(cfp_faces), "faces": int(cfp_found.sum()),
                "frontal_faces": int(cfp_found[: len(frontal)].sum()),
                "profile_faces": int(cfp_found[len(frontal) :].sum())},
        "detect_seconds": round(detected_at - start, 1),
        "models": {},
    }
    for model in models:
        began = time.perf_counter()
        v_lfw, v_cfp = lfw.of(model), cfp.of(model)
        frontal_rows = int(cfp_found[: len(frontal)].sum())  # embeddings: frontal ones first
        out["models"][model] = {
            "lfw_held_out": lfw_figures(v_lfw, labels[found]),
            "cfp": cfp_figures(root, v_cfp, cfp_faces, len(frontal)),
            "median_l2": {
                "lfw_held_out": median_distance(v_lfw),
                "cfp_frontal": median_distance({k: v[:frontal_rows] for k, v in v_cfp.items()}),
                "cfp_profile": median_distance({k: v[frontal_rows:] for k, v in v_cfp.items()}),
            },
            "seconds": round(time.perf_counter() - began, 1),
        }
    if lfw.crops is not None and not limit:
        out["lfw_held_out"]["recut_equal_prepared"] = recut_equal(held, found, lfw.crops)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def recut_equal(held: dict, found: np.ndarray, crops: dict[str, np.ndarray]) -> dict:
    """How today's re-cut facepair crops compare with the prepared ones (another detector
    version may have made those): identical, and the median of the mean absolute pixel
    difference."""
    prepared = {d: np.load(d / "crops.npy", mmap_mode="r") for d in PREPARED}
    diffs = np.array([
        np.abs(prepared[held["sources"][i][0]][held["sources"][i][1]].astype(np.int16)
               - crops["facepair"][k].astype(np.int16)).mean()
        for k, i in enumerate(found)])
    return {"identical": int((diffs == 0).sum()), "of": len(diffs),
            "median_mean_abs_pixel_difference": round(float(np.median(diffs)), 2)}


def table(figures: dict) -> str:
    lines = [
        "| model | crop | LFW held-out AUC | TAR @ 1e-3 | TAR @ 1e-4 | CFP FF acc. | FF AUC "
        "| CFP FP acc. | FP AUC |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model, f in figures["models"].items():
        for kind in KINDS:
            lfw, cfp = f["lfw_held_out"][kind], f["cfp"][kind]
            lines.append(
                f"| `{model}` | {kind} | {lfw['auc']:.5f} | {lfw['tar_at_far_1e-3']:.4f} "
                f"| {lfw['tar_at_far_1e-4']:.4f} | {cfp['FF']['accuracy']:.4f} ± "
                f"{cfp['FF']['std']:.4f} | {cfp['FF']['auc']:.5f} | {cfp['FP']['accuracy']:.4f} ± "
                f"{cfp['FP']['std']:.4f} | {cfp['FP']['auc']:.5f} |")
    lines += [
        "",
        "dlib - facepair (± its noise: people resampled for LFW, std over splits for CFP), and "
        "the median L2 distance between the two kinds' embeddings of a face:",
        "",
        "| model | LFW AUC | TAR @ 1e-3 | TAR @ 1e-4 | CFP FF acc. | FF AUC | CFP FP acc. "
        "| FP AUC | median L2 (LFW / CFP frontal / profile) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model, f in figures["models"].items():
        d, c, m = (f["lfw_held_out"]["dlib_minus_facepair"], f["cfp"]["dlib_minus_facepair"],
                   f["median_l2"])
        lines.append(
            f"| `{model}` | {d['auc']['difference']:+.5f} ± {d['auc']['std']:.5f} "
            f"| {d['tar_at_far_1e-3']['difference']:+.4f} ± {d['tar_at_far_1e-3']['std']:.4f} "
            f"| {d['tar_at_far_1e-4']['difference']:+.4f} ± {d['tar_at_far_1e-4']['std']:.4f} "
            f"| {c['FF']['accuracy']:+.4f} ± {c['FF']['std_over_splits']:.4f} "
            f"| {c['FF']['auc']:+.5f} | {c['FP']['accuracy']:+.4f} ± "
            f"{c['FP']['std_over_splits']:.4f} | {c['FP']['auc']:+.5f} "
            f"| {m['lfw_held_out']:.3f} / {m['cfp_frontal']:.3f} / {m['cfp_profile']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help=f"model(s) (default: {', '.join(MODELS)})")
    parser.add_argument("--limit", type=int, help="only the first N photos of each set (a try)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--no-check", action="store_true",
                        help="skip checking the held-out rows against CropSet's")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()

    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    figures = measure(args.model or list(MODELS), args.limit, not args.no_check)
    lfw, cfp = figures["lfw_held_out"], figures["cfp"]
    print(f"LFW held-out: {lfw['faces']} faces of {lfw['photos']} photos ({lfw['orl_photos']} "
          f"ORL; {lfw['no_face']} without a face, left out of both kinds); "
          f"{lfw['people_with_pairs']} people with pairs, {lfw['single_photo_people']} single")
    print(f"CFP: {cfp['faces']} faces of {cfp['photos']} photos "
          f"({cfp['frontal_faces']} frontal, {cfp['profile_faces']} profile)")
    print(table(figures))
    print(f"{figures['seconds']} s")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
