"""What growth costs a trained IVF index: the bound at which facepair trains it again.

    .venv/bin/python -m bench.index_drift [--trained 100000] [--growth 1,2,4] [--json]

An IVF index (`index.search.FaceIndex`, 4·√N lists, `--nprobe` searched: 0, a quarter) is trained on
`--trained` synthetic faces (`bench.search`'s), then faces of the same kind are added to it as
deltas until the gallery is `growth` times that size. At each size: milliseconds per single
query and recall@1 against exact search, for the grown index and for one trained afresh on
the whole gallery. Queries are new faces of random people.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from bench.search import DIM, synthetic, timed_top1
from index.search import FaceIndex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trained", type=int, default=100_000)
    parser.add_argument("--growth", default="1,2,4")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    growth = [float(g) for g in args.growth.split(",")]
    total = int(args.trained * max(growth))
    vectors, queries = synthetic(total, args.queries)
    ids = np.arange(total, dtype=np.int64)
    grown = FaceIndex(DIM, ann_min_faces=1, ivf_min_faces=1)
    grown.rebuild(ids[: args.trained], vectors[: args.trained])
    figures: dict = {"trained": args.trained, "lists": grown.lists, "by_growth": {}}
    for g in growth:
        n = int(args.trained * g)
        if n > len(grown):
            grown.add(ids[len(grown) : n], vectors[len(grown) : n])
        exact = FaceIndex(DIM, ann_min_faces=n + 1)
        exact.rebuild(ids[:n], vectors[:n])
        truth, _ = timed_top1(exact, queries)
        fresh = FaceIndex(DIM, ann_min_faces=1, ivf_min_faces=1)
        fresh.rebuild(ids[:n], vectors[:n])
        row = {}
        for label, index in (("grown", grown), ("retrained", fresh)):
            top, ms = timed_top1(index, queries)
            row[label] = {"lists": index.lists, "ms_per_query": round(ms, 3),
                          "recall_at_1": round(float((top == truth).mean()), 4)}
        figures["by_growth"][g] = row
        print(f"×{g:g} ({n:,d} faces): grown {row['grown']} | retrained {row['retrained']}",
              flush=True)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
