"""CFP (Celebrities in Frontal-Profile, Sengupta et al., WACV 2016), people 1–250 of
`shared/data/cfp-dev`: its photos as identity items, and its verification protocol.

- Each person `NNN` has 10 frontal and 4 profile photos (`Data/Images/NNN/{frontal,profile}`),
  in the wild, many of them tight crops; the profiles are turned 60–90°.
- The protocol's splits 1–5 each hold 50 people (split k: people 50(k-1)+1 … 50k) with 350
  same-person and 350 different-person pairs, frontal–frontal (FF) and frontal–profile (FP).
- Accuracy as in CFP: for each split, the threshold that is best on the other splits' pairs,
  applied to it; mean and standard deviation over the splits. With `splits`, only those
  splits count (for a model trained on the others: each is judged with the threshold from
  the other held-out splits).
- `lfw-devtest-people.txt` names the 20 people who are also LFW DevTest people: never
  trained on (`training_items` leaves them out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from training.evaluate import accuracy, best_threshold

SPLITS = (1, 2, 3, 4, 5)
PEOPLE_PER_SPLIT = 50


def cfp_root(data_dir: Path) -> Path:
    root = data_dir / "cfp-dev"
    if not (root / "Protocol" / "Pair_list_F.txt").exists():
        raise FileNotFoundError(f"CFP (cfp-dev) not found in {data_dir}")
    return root


def split_of(person: int) -> int:
    return (person - 1) // PEOPLE_PER_SPLIT + 1


def _listing(root: Path, kind: str) -> list[Path]:
    """Pair_list_F / Pair_list_P: photo number i (from 1) → its path."""
    lines = (root / "Protocol" / f"Pair_list_{kind}.txt").read_text().split("\n")
    out: list[Path] = []
    for line in filter(str.strip, lines):
        number, rel = line.split()
        assert int(number) == len(out) + 1, f"Pair_list_{kind} is out of order at {number}"
        out.append((root / "Protocol" / rel).resolve())
    return out


def photos(root: Path) -> tuple[list[Path], list[Path]]:
    """(frontal photos, profile photos), in the protocol's numbering."""
    return _listing(root, "F"), _listing(root, "P")


def devtest_people(root: Path) -> set[int]:
    """The people (1–250) who are also LFW DevTest people: evaluation only."""
    return {int(line.split("\t")[0]) for line in
            (root / "lfw-devtest-people.txt").read_text().splitlines() if line.strip()}


def person_of(path: Path) -> int:
    return int(path.parent.parent.name)


def training_items(root: Path, splits: Sequence[int]) -> list[tuple[Path, str]]:
    """(photo, person) of the people of these splits who may be trained on."""
    excluded = devtest_people(root)
    frontal, profile = photos(root)
    return [(p, f"{person_of(p):03d}") for p in [*frontal, *profile]
            if split_of(person_of(p)) in splits and person_of(p) not in excluded]


def pairs(root: Path, kind: str, split: int) -> tuple[np.ndarray, np.ndarray]:
    """(K×2 photo indices from 0, K booleans: same person) of one split; `kind` FF or FP.
    FF indexes frontal photos twice; FP a frontal then a profile photo."""
    folder = root / "Protocol" / "Split" / kind / f"{split:02d}"
    rows, same = [], []
    for name, is_same in (("same.txt", True), ("diff.txt", False)):
        for line in filter(str.strip, (folder / name).read_text().split("\n")):
            i, j = line.split(",")
            rows.append((int(i) - 1, int(j) - 1))
            same.append(is_same)
    return np.array(rows), np.array(same)


def verification(
    root: Path, frontal: np.ndarray, profile: np.ndarray, splits: Sequence[int] = SPLITS,
) -> dict:
    """FF and FP accuracy (CFP's protocol, over `splits`), ROC AUC, from unit embeddings of
    every frontal and profile photo (a NaN row where no face was found: such a pair scores
    -1, a certain "different")."""
    out: dict = {}
    for kind, second in (("FF", frontal), ("FP", profile)):
        scored = {}
        for k in splits:
            index, same = pairs(root, kind, k)
            a, b = frontal[index[:, 0]], second[index[:, 1]]
            scores = np.nan_to_num((a * b).sum(1), nan=-1.0)
            scored[k] = (scores, same)
        accs = []
        for k in splits:
            others = [s for s in splits if s != k]
            t = best_threshold(np.concatenate([scored[s][0] for s in others]),
                               np.concatenate([scored[s][1] for s in others]))
            accs.append(accuracy(*scored[k], t))
        scores = np.concatenate([scored[k][0] for k in splits])
        same = np.concatenate([scored[k][1] for k in splits])
        out[kind] = {"accuracy": round(float(np.mean(accs)), 4),
                     "std": round(float(np.std(accs)), 4),
                     "per_split": [round(a, 4) for a in accs],
                     "auc": round(float(roc_auc_score(same, scores)), 5)}
    out["splits"] = list(splits)
    out["no_face"] = {"frontal": int(np.isnan(frontal[:, 0]).sum()),
                      "profile": int(np.isnan(profile[:, 0]).sum())}
    return out


Embed = Callable[[list[Path]], np.ndarray]
