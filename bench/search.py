"""Gallery search at scale: exact inner product against IVF over 10k / 100k / 1M synthetic faces.

    .venv/bin/python -m bench.search [--sizes 10000,100000,1000000] [--threads N] [--json]

Synthetic faces: 128-d unit vectors, 5 per synthetic person (a random centre plus noise, about
0.8 cosine between faces of one person). Queries: 500 new faces of random people. Reported per
size and index: build seconds, milliseconds per single query, recall@1 against exact (the same
top face id), and bytes per face of the saved index file. Uses `index.search.FaceIndex`, the
class the gallery uses, with the gallery's settings (IVF lists = 4·√N, nprobe from settings).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from faces.settings import get_settings
from index.search import FaceIndex

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


def measure(index: FaceIndex, vectors: np.ndarray, queries: np.ndarray, folder: Path) -> dict:
    ids = np.arange(len(vectors), dtype=np.int64)
    start = time.perf_counter()
    index.rebuild(ids, vectors)
    build = time.perf_counter() - start
    index.search(queries[:5], 1)  # warm-up
    start = time.perf_counter()
    top = np.concatenate([index.search(q[None], 1)[1][:, 0] for q in queries])
    per_query = (time.perf_counter() - start) / len(queries)
    path = folder / f"{index.kind}.faiss"
    index.save(path, 0, "bench")
    return {"kind": index.kind, "build_s": round(build, 2),
            "ms_per_query": round(per_query * 1e3, 3),
            "bytes_per_face": round(path.stat().st_size / len(vectors), 1), "top": top}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    nprobe = get_settings().ann_nprobe
    figures: dict = {"threads": args.threads, "nprobe": nprobe, "sizes": {}}
    for n in (int(s) for s in args.sizes.split(",")):
        vectors, queries = synthetic(n, args.queries)
        with tempfile.TemporaryDirectory() as tmp:
            exact = measure(FaceIndex(DIM, ann_min_faces=n + 1), vectors, queries, Path(tmp))
            ivf = measure(FaceIndex(DIM, ann_min_faces=1, nprobe=nprobe), vectors, queries,
                          Path(tmp))
        ivf["recall_at_1"] = round(float((ivf.pop("top") == exact.pop("top")).mean()), 4)
        figures["sizes"][n] = {"exact": exact, "ivf": ivf}
        print(f"{n:>9,d} faces  exact {exact['ms_per_query']:8.3f} ms/query "
              f"{exact['bytes_per_face']:6.1f} B/face | IVF {ivf['ms_per_query']:8.3f} ms/query "
              f"recall@1 {ivf['recall_at_1']:.4f} {ivf['bytes_per_face']:6.1f} B/face "
              f"(build {ivf['build_s']} s)", flush=True)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
