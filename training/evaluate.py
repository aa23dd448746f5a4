"""LFW verification: View 1 (threshold on pairsDevTrain, accuracy on pairsDevTest) and View 2
(10-fold), with flip-summed embeddings scored by cosine.

Photos are detected and aligned by faces/ (the face nearest the centre); where no face is found
the crop falls back to the mean landmarks of the photos where one was, and the count is reported.
Aligned crops are cached in `FACEPAIR_HOME/cache/` (they depend on the photos and the detector
settings, not on the model).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from faces.mtcnn import VERSION as DETECTOR
from faces.settings import DEFAULTS

FARS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


def far_key(far: float) -> str:
    """1e-3 → "1e-3", the way cards and logs name a false-accept rate."""
    return f"{far:.0e}".replace("e-0", "e-")


@dataclass(frozen=True)
class Pair:
    a: str  # "Name/Name_0001.jpg", relative to lfw-deepfunneled/
    b: str
    same: bool


def _photo(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path: Path) -> list[list[Pair]]:
    """LFW pairs file → folds of pairs (View 1 files have one fold)."""
    lines = path.read_text().splitlines()
    head = lines[0].split()
    folds, per = (1, int(head[0])) if len(head) == 1 else (int(head[0]), int(head[1]))
    pairs = []
    for line in lines[1:]:
        f = line.split("\t")
        if len(f) == 3:
            pairs.append(Pair(_photo(f[0], f[1]), _photo(f[0], f[2]), True))
        elif len(f) == 4:
            pairs.append(Pair(_photo(f[0], f[1]), _photo(f[2], f[3]), False))
    if len(pairs) != folds * 2 * per:
        raise ValueError(f"{path}: expected {folds * 2 * per} pairs, read {len(pairs)}")
    return [pairs[i * 2 * per : (i + 1) * 2 * per] for i in range(folds)]


def lfw_root(data_dir: Path) -> Path:
    root = data_dir / "lfw"
    if not (root / "pairsDevTest.txt").exists():
        raise FileNotFoundError(f"LFW protocol files not found in {root}")
    return root


# --- metrics -------------------------------------------------------------------------------


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (score ≥ t means same) with the highest accuracy; midpoint between
    neighbouring scores."""
    order = np.sort(np.unique(scores))
    candidates = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2,
                                 [order[-1] + 1e-6]])
    acc = [accuracy(scores, same, t) for t in candidates]
    return float(candidates[int(np.argmax(acc))])


def accuracy(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(((scores >= threshold) == same).mean())


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """True-accept rate at the largest threshold-set false-accept rate not above `far`."""
    fpr, tpr, _ = roc_curve(same, scores)
    ok = fpr <= far
    return float(tpr[ok].max()) if ok.any() else 0.0


def threshold_at_far(impostor_scores: np.ndarray, far: float) -> float:
    """The score above which a share `far` of impostor scores lie."""
    return float(np.quantile(impostor_scores, 1.0 - far))


def impostor_scores(embeddings: np.ndarray, labels: np.ndarray, limit: int = 4000) -> np.ndarray:
    """Cosine scores of every pair of photos of different people (up to `limit` photos)."""
    e, lab = embeddings[:limit], labels[:limit]
    sims = e @ e.T
    diff = lab[:, None] != lab[None, :]
    return sims[np.triu(diff, k=1)]


def background_factor(
    held: np.ndarray, others: np.ndarray, impostor: np.ndarray, min_pairs: int = 100,
    quantile: float = 0.9, rounds: int = 1000,
) -> float:
    """How many times more often pairs of a background face (`others`) with a held-out face
    (`held`) cross the held-out people's thresholds (from their `impostor` scores) than their
    own stranger pairs do; never less than 1. It is taken at the rates where at least
    `min_pairs` pairs of each kind cross, the most over them. A card's threshold at a rate r
    is then the held-out people's at r / factor, read from their millions of pairs.

    A card promises a rate, and the factor rests on a few hundred faces, a few of which make
    most of the crossings: it is the `quantile` (90th percentile) of the factor over `rounds`
    resamplings of the background faces, a bound rather than a guess.

    Nobody knows who a background face is, and some are held-out people: a news photo of two
    people often gives LFW a photo of each, so one's background is the other's portrait. A
    pair that scores above the held-out people's 1e-6 threshold is taken to be one person,
    not strangers, and left out."""
    scores = others @ held.T
    scores[scores >= threshold_at_far(impostor, 1e-6)] = -np.inf
    rates = [far for far in FARS if far * len(impostor) >= min_pairs]
    if not rates:  # too few stranger pairs to measure any rate
        return 1.0
    # per background face, how many of its pairs cross the threshold of each rate
    crossing = np.stack([(scores >= threshold_at_far(impostor, far)).sum(1) for far in rates], 1)

    def factor(faces: np.ndarray) -> float:
        counts, best = crossing[faces].sum(0), 1.0
        for far, count in zip(rates, counts, strict=True):
            if count < min_pairs:
                break
            best = max(best, count / (len(faces) * held.shape[0]) / far)
        return best

    rng = np.random.default_rng(0)
    n = len(others)
    return float(np.quantile([factor(rng.integers(0, n, n)) for _ in range(rounds)], quantile))


def pair_figures(
    embeddings: np.ndarray, labels: np.ndarray, others: np.ndarray | None = None
) -> dict:
    """Every pair of a set of faces (same label: genuine, else impostor), scored by cosine:
    ROC AUC and TAR at FAR 1e-3 and 1e-4, each threshold taken from all impostor scores.
    With a few thousand faces that is millions of impostor pairs, so even FAR 1e-4 rests on
    hundreds of them (LFW View 1's 500 impostor pairs cannot resolve FAR 1e-3). Given
    background faces (`others`), the thresholds are those a model card will hold: at each
    rate divided by their `background_factor`."""
    sims = embeddings @ embeddings.T
    upper = np.triu(np.ones(sims.shape, dtype=bool), k=1)
    same = labels[:, None] == labels[None, :]
    genuine, impostor = sims[upper & same], sims[upper & ~same]
    y = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(impostor), bool)])
    figures = {"genuine_pairs": len(genuine), "impostor_pairs": len(impostor),
               "auc": round(float(roc_auc_score(y, np.concatenate([genuine, impostor]))), 5)}
    factor = 1.0
    if others is not None and len(others):
        factor = background_factor(embeddings, others, impostor)
        figures["background_factor"] = round(factor, 3)
    for far in (1e-3, 1e-4):
        t = threshold_at_far(impostor, far / factor)
        figures[f"tar_at_far_{far_key(far)}"] = round(float((genuine > t).mean()), 4)
    return figures


# --- crops and embeddings -----------------------------------------------------------------


def pair_photos(folds: list[list[Pair]]) -> list[str]:
    return sorted({p for fold in folds for pair in fold for p in (pair.a, pair.b)})


def lfw_crops(
    root: Path, pairs_file: str, size: int = 112, workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None, template: list | None = None,
    cache_dir: Path | None = None,
) -> tuple[list[str], np.ndarray, int]:
    """The photos of one pairs file, their aligned crops (kept in `cache_dir`, where one is
    given) and how many needed the fallback crop. Faces are found with the default detection
    settings, as `facepair prepare` finds them for training."""
    from training.prepare import align_all

    settings = DEFAULTS
    photos = pair_photos(read_pairs(root / pairs_file))
    folder = root / "lfw-deepfunneled"
    key = json.dumps([str(folder), photos, size, template, settings.min_face_size,
                      settings.min_face_score, settings.detect_max_side, DETECTOR])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    cache = (cache_dir or Path()) / f"lfw_{Path(pairs_file).stem}_{size}_{digest}.npz"
    if cache_dir is not None and cache.exists():
        data = np.load(cache)
        return photos, data["crops"], int(data["fallback"])
    crops, rows = align_all([str(folder / p) for p in photos], size, "center", workers,
                            on_progress, template)
    missing = [i for i, (_, status) in enumerate(rows) if status != "ok"]
    if missing:
        crops[missing] = _fallback_crops([str(folder / photos[i]) for i in missing], size,
                                         template)
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, crops=crops, fallback=len(missing))
        tmp.replace(cache)
    return photos, crops, len(missing)


# Mean MTCNN landmarks of the centre face over 500 LFW photos (250×250): the fallback crop.
LFW_MEAN_LANDMARKS = np.array(
    [[105.5, 113.3], [147.6, 112.5], [127.5, 137.5], [108.7, 159.6], [145.7, 159.0]]
)


def _fallback_crops(paths: list[str], size: int, template: list | None) -> np.ndarray:
    from faces.align import align
    from faces.decode import decode

    points = None if template is None else np.asarray(template, dtype=np.float64)
    return np.stack([align(decode(p), LFW_MEAN_LANDMARKS, size, points) for p in paths])


# --- the protocols ------------------------------------------------------------------------


def _scores(pairs: list[Pair], emb: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    scores = np.array([float(emb[p.a] @ emb[p.b]) for p in pairs])
    same = np.array([p.same for p in pairs])
    return scores, same


def view1(emb: dict[str, np.ndarray], root: Path) -> dict:
    train = read_pairs(root / "pairsDevTrain.txt")[0]
    test = read_pairs(root / "pairsDevTest.txt")[0]
    tr_scores, tr_same = _scores(train, emb)
    threshold = best_threshold(tr_scores, tr_same)
    scores, same = _scores(test, emb)
    return {
        "accuracy": round(accuracy(scores, same, threshold), 4),
        "threshold": round(threshold, 4),
        "auc": round(float(roc_auc_score(same, scores)), 4),
        "tar_at_far": {"1e-3": round(tar_at_far(scores, same, 1e-3), 4),
                       "1e-2": round(tar_at_far(scores, same, 1e-2), 4)},
        "devtrain_accuracy": round(accuracy(tr_scores, tr_same, threshold), 4),
    }


def view2(emb: dict[str, np.ndarray], root: Path) -> dict:
    folds = read_pairs(root / "pairs.txt")
    scored = [_scores(fold, emb) for fold in folds]
    accs = []
    for k, (scores, same) in enumerate(scored):
        rest_s = np.concatenate([s for i, (s, _) in enumerate(scored) if i != k])
        rest_y = np.concatenate([y for i, (_, y) in enumerate(scored) if i != k])
        accs.append(accuracy(scores, same, best_threshold(rest_s, rest_y)))
    all_s = np.concatenate([s for s, _ in scored])
    all_y = np.concatenate([y for _, y in scored])
    return {
        "accuracy_mean": round(float(np.mean(accs)), 4),
        "accuracy_std": round(float(np.std(accs)), 4),
        "auc": round(float(roc_auc_score(all_y, all_s)), 4),
        "tar_at_far": {"1e-3": round(tar_at_far(all_s, all_y, 1e-3), 4),
                       "1e-2": round(tar_at_far(all_s, all_y, 1e-2), 4)},
    }


def thresholds_from(impostor: np.ndarray) -> dict[str, float]:
    """Cosine thresholds at FAR 1e-2 … 1e-6 from impostor scores."""
    return {far_key(far): round(threshold_at_far(impostor, far), 4) for far in FARS}


def held_out_thresholds(
    held: np.ndarray, labels: np.ndarray, others: np.ndarray | None = None
) -> dict:
    """A trained model's thresholds, from faces it never trained on: impostor pairs among the
    held-out people (`held`, `labels`). Given `others` (faces from the background of the data
    set's photos: smaller, blurred, turned), each rate is first divided by how many times more
    often those cross the thresholds (`background_factor`), so the card holds for either kind
    of stranger."""
    impostor = impostor_scores(held, labels, limit=len(labels))
    out: dict = {"thresholds_held_out_people": thresholds_from(impostor)}
    factor = 1.0
    if others is not None and len(others):
        factor = background_factor(held, others, impostor)
    out["background_factor"] = round(factor, 3)
    out["thresholds"] = {far_key(far): round(threshold_at_far(impostor, far / factor), 4)
                         for far in FARS}
    return out


def calibrated_thresholds(emb: dict[str, np.ndarray], root: Path) -> dict[str, float]:
    """Cosine thresholds at FAR 1e-2 … 1e-6 from impostor scores among the photos of
    pairsDevTrain (every pair of photos of different people: about 9.6 million pairs, so the
    1e-6 threshold rests on about ten of them)."""
    photos = pair_photos(read_pairs(root / "pairsDevTrain.txt"))
    e = np.stack([emb[p] for p in photos])
    labels = np.unique([p.split("/")[0] for p in photos], return_inverse=True)[1]
    return thresholds_from(impostor_scores(e, labels, limit=len(photos)))


def evaluate(
    embed: Callable[[np.ndarray], np.ndarray], size: int, views: tuple[str, ...] = ("1",),
    workers: int = 2, on_progress: Callable[[int, int], None] | None = None,
    thresholds: bool = False, *, data_dir: Path, template: list | None = None,
    cache_dir: Path | None = None,
) -> dict:
    """Run the LFW protocols with `embed` (uint8 crops → unit vectors, flip-summed) on the LFW
    in `data_dir`/lfw, its aligned crops kept in `cache_dir`."""
    root = lfw_root(data_dir)
    files = {"1": ["pairsDevTrain.txt", "pairsDevTest.txt"], "2": ["pairs.txt"]}
    emb: dict[str, np.ndarray] = {}
    fallback = 0
    for name in (name for v in views for name in files[v]):
        photos, crops, missing = lfw_crops(root, name, size, workers, on_progress, template,
                                            cache_dir)
        emb.update(zip(photos, embed(crops), strict=True))
        fallback += missing
    result: dict = {"photos": len(emb), "fallback_crops": fallback}
    if "1" in views:
        result["view1"] = view1(emb, root)
        if thresholds:
            result["thresholds"] = calibrated_thresholds(emb, root)
    if "2" in views:
        result["view2"] = view2(emb, root)
    return result
