"""Models compared on people and conditions none of them was trained or tuned on.

    .venv/bin/python -m bench.unseen [--model M]… [--json]

For each model (a name in models/ or a path; default: dlib-resnet-v1, facepair-v2 and
facepair-v2-int8):
- **LFW held-out people**: the DevTrain people that training holds out (`CropSet`, a fifth of
  the people with 2–10 photos and 2,000 single-photo people, the same people for every run),
  every pair of their faces: ROC AUC and TAR at FAR 1e-3 and 1e-4 (thresholds from all
  impostor pairs). Needs `var/prepared/lfw-devtrain` (`facepair prepare`, see the card).
- **cfp-dev FF and FP** on CFP splits 4 and 5, which candidates trained with CFP people
  (`training/lists/cfp-split1…3.txt`) never saw: each split judged with the threshold best
  on the other (`bench.cfp`).
- **Album open set**: `bench.open_set --conditions album` (LFW DevTest people, album-like
  photos): rank-1, FNIR at FPIR 1 %, and FPIR/FNIR at the card's and at the gallery's own
  threshold.
A table in Markdown is printed, then (with --json) one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

HELD_OUT_SPLITS = (4, 5)
BASELINES = ["dlib-resnet-v1", "facepair-v2", "facepair-v2-int8"]


def lfw_held_out(model: str, prepared: Path) -> dict:
    from faces.embed import Embedder
    from training.data import CropSet
    from training.evaluate import pair_figures

    data = CropSet([prepared / "lfw-devtrain", prepared / "orl"], holdout=0.2, seed=0)
    assert data.holdout is not None
    embedder = Embedder(model)
    figures = pair_figures(*data.holdout.embedded(embedder.embed_crops))
    return {k: figures[k] for k in ("auc", "tar_at_far_1e-3", "tar_at_far_1e-4")}


def album(model: str, threads: int) -> dict:
    from bench.open_set import facepair, split

    f = facepair(*split("album"), threads, model=model)
    return {"rank1": f["rank1"], "fnir_at_fpir_1pct": f["at_fpir_1pct"]["fnir"],
            "fnir_at_fpir": f["fnir_at_fpir"],
            "card": f["at_card"], "gallery": f.get("at_gallery"),
            "in_force": f["in_force"]["source"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model(s) to compare")
    parser.add_argument("--skip-album", action="store_true", help="no album open set")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    import torch

    from bench.cfp import measure
    from service.settings import get_settings

    settings = get_settings()
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    models = args.model or BASELINES
    prepared = settings.home / "prepared"
    table: dict[str, dict] = {}
    for model in models:
        row: dict = {"lfw_held_out": lfw_held_out(model, prepared)}
        cfp = measure(model, HELD_OUT_SPLITS)
        row["cfp"] = {k: {"accuracy": cfp[k]["accuracy"], "auc": cfp[k]["auc"]}
                      for k in ("FF", "FP")}
        if not args.skip_album:
            row["album"] = album(model, threads)
        table[model] = row
        print(f"measured {model}", flush=True)
    print("| model | LFW held-out TAR@1e-3 / 1e-4 | CFP FF | CFP FP (AUC) | album rank-1 | "
          "album FNIR@FPIR 1 % | album FPIR / FNIR, card | album FPIR / FNIR, gallery |")
    print("|---|---|---|---|---|---|---|---|")
    for model, row in table.items():
        lfw, cfp = row["lfw_held_out"], row["cfp"]
        cells = [f"`{model}`", f"{lfw['tar_at_far_1e-3']:.3f} / {lfw['tar_at_far_1e-4']:.3f}",
                 f"{cfp['FF']['accuracy']:.3f}",
                 f"{cfp['FP']['accuracy']:.3f} ({cfp['FP']['auc']:.3f})"]
        a = row.get("album")
        if a:
            g = a["gallery"]
            cells += [f"{a['rank1']:.3f}", f"{a['fnir_at_fpir_1pct']:.3f}",
                      f"{a['card']['fpir']:.4f} / {a['card']['fnir']:.3f}",
                      "–" if g is None else f"{g['fpir']:.4f} / {g['fnir']:.3f}"]
        else:
            cells += ["–"] * 4
        print("| " + " | ".join(cells) + " |")
    if args.json:
        print(json.dumps(table, default=lambda x: float(x) if isinstance(x, np.floating)
                         else str(x)))


if __name__ == "__main__":
    main()
