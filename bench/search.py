"""Gallery search at scale: each index kind over 100k / 1M / 10M synthetic faces.

    .venv/bin/python -m bench.search [--sizes 100000,1000000,10000000] [--kinds chosen]
        [--ef 64,128,256,512] [--nprobe 0,…] [--delta 1000] [--churn] [--json]

Synthetic faces: 128-d unit vectors, 5 per synthetic person (a random centre plus noise, about
0.8 cosine between faces of one person), made a chunk at a time so that 10M faces (5.1 GB)
are never held at once. Queries: `--queries` new faces of random people. The truth is exact
search over every face, a chunk at a time. Per size and index kind (`chosen`: the kind the
settings give that size; or any of exact, hnsw, ivf), with `index.search.FaceIndex`, the class
the gallery uses:

- build seconds (faces added a chunk at a time: an IVF index is trained on the first million),
  bytes per face of the saved file and of the process's resident memory grown by the build;
- milliseconds per single query (2 threads; the quicker of two passes) and recall@1 against exact
  (the same top face id), per efSearch (HNSW) or nprobe (IVF) setting, the default included;
- a delta from the change feed: `--delta` random faces removed and as many new ones added,
  in milliseconds per face; with `--churn`, recall@1 once a tenth of the faces
  (`TOMBSTONE_SHARE`) have been replaced so (the most tombstones an HNSW graph is searched
  with before it is built again).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np

from index.search import TOMBSTONE_SHARE, FaceIndex
from service.settings import get_settings

DIM = 128
EACH = 5  # faces per person
CHUNK = 250_000  # faces made (and searched exactly) at a time
BLOCK = 1 << 16  # people whose centres are made at a time
FIRST = 1_000_000  # faces an index is built on before the rest are added
TRUTH_K = 10  # exact neighbours kept per query (the nearest left after removals is among them)


def synthetic(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` faces of random people (about 5 each) and `queries` more, in one array each."""
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


class Faces:
    """A gallery of `n` synthetic faces, face i of person i // 5, made on demand: the same
    faces every time for the same seed."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed = n, seed
        self.people = max(1, n // EACH)

    def centres(self, people: np.ndarray) -> np.ndarray:
        out = np.empty((len(people), DIM), dtype=np.float32)
        for block in np.unique(people // BLOCK).tolist():
            rng = np.random.default_rng([self.seed, 0, block])
            made = rng.standard_normal((BLOCK, DIM), dtype=np.float32)
            made /= np.linalg.norm(made, axis=1, keepdims=True)
            here = people // BLOCK == block
            out[here] = made[people[here] % BLOCK]
        return out

    def of(self, people: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """New faces of these people."""
        x = self.centres(people) + 0.75 / np.sqrt(DIM) * rng.standard_normal(
            (len(people), DIM), dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def chunks(self, first: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of the gallery from face `first` (a multiple of CHUNK) on."""
        for start in range(first, self.n, CHUNK):
            ids = np.arange(start, min(self.n, start + CHUNK), dtype=np.int64)
            rng = np.random.default_rng([self.seed, 1, start])
            yield ids, self.of(ids // EACH % self.people, rng)

    def queries(self, count: int, tag: int = 2) -> np.ndarray:
        rng = np.random.default_rng([self.seed, tag])
        return self.of(rng.integers(0, self.people, count), rng)


def exact_neighbours(faces: Faces, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query's TRUTH_K nearest faces (scores, ids), by exact search a chunk at a time."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for ids, vectors in faces.chunks():
        flat = faiss.IndexFlatIP(DIM)
        flat.add(vectors)
        s, rows = flat.search(queries, min(TRUTH_K, len(ids)))
        best_s, best_i = np.hstack([best_s, s]), np.hstack([best_i, ids[rows]])
        order = np.argsort(-best_s, axis=1)[:, :TRUTH_K]
        best_s = np.take_along_axis(best_s, order, 1)
        best_i = np.take_along_axis(best_i, order, 1)
    return best_s, best_i


def rss() -> int:
    """This process's resident bytes now, freed memory given back to the system first."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed_top1(index: FaceIndex, queries: np.ndarray,
               passes: int = 2) -> tuple[np.ndarray, float]:
    """Each query's top face id, searched one query at a time, and the milliseconds per query
    of the quickest of `passes` passes (the cores are shared with other work)."""
    index.search(queries[:5], 1)  # warm-up
    best = np.inf
    for _ in range(passes):
        start = time.perf_counter()
        top = np.concatenate([index.search(q[None], 1)[1][:, 0] for q in queries])
        best = min(best, (time.perf_counter() - start) / len(queries) * 1e3)
    return top, best


def make_index(kind: str, n: int) -> FaceIndex:
    """A FaceIndex with the settings' thresholds, or ones that give `n` faces this kind."""
    s = get_settings()
    chosen = {"chosen": (s.ann_min_faces, s.ivf_min_faces), "exact": (n + 1, n + 1),
              "hnsw": (1, n + 1), "ivf": (1, 1)}[kind]
    return FaceIndex(DIM, chosen[0], s.ann_nprobe, ivf_min_faces=chosen[1],
                     ef_search=s.ann_ef_search)


def fill(index: FaceIndex, faces: Faces) -> None:
    """Build the index on the first FIRST faces, then add the rest a chunk at a time."""
    chunks = faces.chunks()
    first = [next(chunks) for _ in range(-(-min(faces.n, FIRST) // CHUNK))]
    index.use(index.build(np.concatenate([c[0] for c in first]),
                          np.concatenate([c[1] for c in first]), total=faces.n))
    del first
    for ids, vectors in chunks:
        index.add(ids, vectors)


def build(index: FaceIndex, faces: Faces, folder: Path) -> dict:
    before, start = rss(), time.perf_counter()
    fill(index, faces)
    seconds, grown = time.perf_counter() - start, rss() - before
    path = index.save(folder / "bench.faiss", 0)
    size = sum(p.stat().st_size for p in folder.iterdir())
    for p in folder.iterdir():
        p.unlink()
    return {"build_s": round(seconds, 1), "file_bytes_per_face": round(size / faces.n, 1),
            "rss_bytes_per_face": round(grown / faces.n, 1), "file": path.name}


def recall(top: np.ndarray, truth: np.ndarray) -> float:
    return round(float((top == truth).mean()), 4)


def settings_of(index: FaceIndex, args: argparse.Namespace) -> list[tuple[str, int]]:
    """(name, value) of each search setting to measure; the default first."""
    if index.kind == "hnsw":
        default = index.ef_search
        return [("efSearch", v) for v in dict.fromkeys([default, *args.ef])]
    if index.kind == "ivf":
        default = index.nprobe
        return [("nprobe", v) for v in dict.fromkeys([default, *args.nprobe])]
    return [("exact", 0)]


def apply(index: FaceIndex, name: str, value: int) -> None:
    if name == "efSearch":
        index.ef_search = value
    elif name == "nprobe":
        index.set_nprobe(value)


class Truth:
    """The nearest live face of each query as faces are replaced: the exact TRUTH_K of the
    gallery, less the removed faces, against the best of the faces added since."""

    def __init__(self, scores: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> None:
        self.scores, self.ids, self.queries = scores, ids, queries
        self.removed: set[int] = set()
        self.added_s = np.full(len(queries), -np.inf, dtype=np.float32)
        self.added_i = np.full(len(queries), -1, dtype=np.int64)

    def replace(self, removed: np.ndarray, added: np.ndarray, vectors: np.ndarray) -> None:
        self.removed.update(removed.tolist())
        s = self.queries @ vectors.T
        best = s.argmax(axis=1)
        better = s[np.arange(len(s)), best] > self.added_s
        self.added_s[better] = s[better, best[better]]
        self.added_i[better] = added[best[better]]

    def top1(self) -> np.ndarray:
        alive = ~np.isin(self.ids, list(self.removed))
        first = alive.argmax(axis=1)
        rows = np.arange(len(self.ids))
        old_s = np.where(alive.any(axis=1), self.scores[rows, first], -np.inf)
        return np.where(self.added_s > old_s, self.added_i, self.ids[rows, first])


def deltas(index: FaceIndex, faces: Faces, truth: Truth, count: int, churn: bool) -> dict:
    """A batch of `count` faces replaced (removed, and as many new ones added); with `churn`,
    batches until TOMBSTONE_SHARE of the faces are replaced, then recall@1."""
    rng = np.random.default_rng([faces.seed, 3])
    live = np.arange(faces.n, dtype=np.int64)
    rng.shuffle(live)
    target = int(faces.n * TOMBSTONE_SHARE) if churn else count
    next_id, done, seconds = faces.n, 0, 0.0
    out: dict = {}
    while done < target:
        batch = min(count, target - done)
        removed = live[done : done + batch]
        added = np.arange(next_id, next_id + batch, dtype=np.int64)
        vectors = faces.of(rng.integers(0, faces.people, batch), rng)
        start = time.perf_counter()
        index.remove(removed)
        index.add(added, vectors)
        seconds += time.perf_counter() - start
        if not done:
            out = {"faces": batch, "batch_ms": round(seconds * 1e3, 1),
                   "ms_per_face": round(seconds * 1e3 / batch, 3)}
        truth.replace(removed, added, vectors)
        done, next_id = done + batch, next_id + batch
    if churn:
        top, ms = timed_top1(index, truth.queries)
        out["churned"] = {"replaced": done, "ms_per_face": round(seconds * 1e3 / done, 3),
                          "tombstones": index.tombstones, "ms_per_query": round(ms, 3),
                          "recall_at_1": recall(top, truth.top1())}
    return out


def measure(kind: str, faces: Faces, queries: np.ndarray, neighbours: tuple[np.ndarray,
            np.ndarray], args: argparse.Namespace) -> dict:
    index = make_index(kind, faces.n)
    with tempfile.TemporaryDirectory() as tmp:
        entry: dict = {"kind": index.kind_for(faces.n), **build(index, faces, Path(tmp))}
    entry["lists"], entry["graphs"] = index.lists or None, index.graphs or None
    print(f"{faces.n:>11,d} faces  {kind} → {index.kind}: built in {entry['build_s']} s, "
          f"{entry['file_bytes_per_face']} B/face in its file, {entry['rss_bytes_per_face']} "
          f"B/face of memory" + (f", {index.lists} lists" if index.lists else "")
          + (f", {index.graphs} graphs" if index.graphs else ""), flush=True)
    truth = neighbours[1][:, 0]
    entry["search"] = []
    settings = settings_of(index, args)
    for name, value in settings:
        apply(index, name, value)
        top, ms = timed_top1(index, queries)
        row = {name: value, "ms_per_query": round(ms, 3), "recall_at_1": recall(top, truth)}
        if index.kind == "ivf":
            row["lists_searched"] = index.probes
        entry["search"].append(row)
        print(f"{'':19s}{name} {value or 'auto':>5}: {ms:8.3f} ms/query, recall@1 "
              f"{row['recall_at_1']:.4f}", flush=True)
    apply(index, *settings[0])  # the default again
    entry["delta"] = deltas(index, faces, Truth(*neighbours, queries), args.delta, args.churn)
    print(f"{'':19s}delta: {entry['delta']}", flush=True)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--kinds", default="chosen",
                        help="index kinds per size: chosen (by the settings), exact, hnsw, ivf")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--ef", default="64,128,256,512", help="HNSW efSearch settings")
    parser.add_argument("--nprobe", default="0", help="IVF nprobe settings (0: automatic)")
    parser.add_argument("--delta", type=int, default=1000, help="faces replaced in one batch")
    parser.add_argument("--churn", action="store_true",
                        help="replace a tenth of the faces, then measure recall@1 again")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    args.ef = [int(v) for v in args.ef.split(",")]
    args.nprobe = [int(v) for v in args.nprobe.split(",")]
    faiss.omp_set_num_threads(args.threads)
    s = get_settings()
    figures: dict = {"threads": args.threads, "ann_min_faces": s.ann_min_faces,
                     "ivf_min_faces": s.ivf_min_faces, "sizes": {}}
    for n in (int(v) for v in args.sizes.split(",")):
        faces = Faces(n)
        queries = faces.queries(args.queries)
        start = time.perf_counter()
        neighbours = exact_neighbours(faces, queries)
        print(f"{n:>11,d} faces  exact truth in {time.perf_counter() - start:.1f} s",
              flush=True)
        figures["sizes"][n] = {kind: measure(kind, faces, queries, neighbours, args)
                               for kind in args.kinds.split(",")}
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
