"""Gallery search at scale: exact inner product against IVF over 10k / 100k / 1M synthetic faces.

    .venv/bin/python -m bench.search [--sizes 10000,100000,1000000] [--threads N] [--json]

Synthetic faces: 128-d unit vectors, 5 per synthetic person (a random centre plus noise, about
0.8 cosine between faces of one person). Queries: 500 new faces of random people. Reported per
size and index: build seconds, milliseconds per single query, recall@1 against exact (the same
top face id) for several nprobe settings, and bytes per face of the saved index file. Uses
`index.search.FaceIndex`, the class the gallery uses (IVF lists = 4·√N).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from index.search import FaceIndex
from service.settings import get_settings

DIM = 128


def synthetic(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    people = max(1, n // 5)
    centres = rng.standard_normal((people, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def faces(count: int) -> np.ndarray:
        owner = rng.integers(0, people, count)
        x = centres[owner] + 0.75 / np.sqrt(DIM) * rng.standard_normal((count, DIM),
                                                                       dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return faces(n), faces(queries)


def timed_top1(index: FaceIndex, queries: np.ndarray) -> tuple[np.ndarray, float]:
    index.search(queries[:5], 1)  # warm-up
    start = time.perf_counter()
    top = np.concatenate([index.search(q[None], 1)[1][:, 0] for q in queries])
    return top, (time.perf_counter() - start) / len(queries) * 1e3


def build(index: FaceIndex, vectors: np.ndarray, folder: Path) -> dict:
    start = time.perf_counter()
    index.rebuild(np.arange(len(vectors), dtype=np.int64), vectors)
    seconds = time.perf_counter() - start
    path = index.save(folder / f"{index.kind}.faiss", 0)
    return {"build_s": round(seconds, 2),
            "bytes_per_face": round(path.stat().st_size / len(vectors), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--nprobe", default="32,128,512", help="IVF settings to measure")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    default = get_settings().ann_nprobe  # 0: automatic (an eighth of the lists)
    probes = sorted({default, *(int(p) for p in args.nprobe.split(","))})
    figures: dict = {"threads": args.threads, "default_nprobe": default, "sizes": {}}
    for n in (int(s) for s in args.sizes.split(",")):
        vectors, queries = synthetic(n, args.queries)
        with tempfile.TemporaryDirectory() as tmp:
            exact, ivf = FaceIndex(DIM, ann_min_faces=n + 1), FaceIndex(DIM, ann_min_faces=1)
            size = {"exact": build(exact, vectors, Path(tmp)), "ivf": build(ivf, vectors,
                                                                             Path(tmp))}
        truth, exact_ms = timed_top1(exact, queries)
        entry = {"exact": {**size["exact"], "ms_per_query": round(exact_ms, 3)},
                 "ivf": {**size["ivf"], "lists": ivf.lists, "by_nprobe": {}}}
        print(f"{n:>9,d} faces  exact {exact_ms:8.3f} ms/query {size['exact']['bytes_per_face']}"
              f" B/face | IVF ({ivf.lists} lists, built in {size['ivf']['build_s']} s, "
              f"{size['ivf']['bytes_per_face']} B/face):", flush=True)
        for p in probes:
            ivf.set_nprobe(p)
            top, ms = timed_top1(ivf, queries)
            recall = round(float((top == truth).mean()), 4)
            entry["ivf"]["by_nprobe"][p] = {"ms_per_query": round(ms, 3), "recall_at_1": recall}
            used = ivf.probes
            entry["ivf"]["by_nprobe"][p]["lists_searched"] = used
            print(f"{'':17s} nprobe {p or 'auto':>4}: {used:4d} lists, {ms:8.3f} ms/query, "
                  f"recall@1 {recall:.4f}", flush=True)
        figures["sizes"][n] = entry
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
