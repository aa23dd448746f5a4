"""A collection split over shard processes: each query fanned out to every shard, merged.

    .venv/bin/python -m bench.shards [--faces 1000000] [--shards 4] [--kind chosen]
        [--by person] [--queries 500] [--k 10] [--json]

`bench.search`'s synthetic faces (5 per person), each person's faces on one shard (person p on
shard p mod S; `--by face`: face i on shard i mod S). Each shard is a process of its own
holding a `FaceIndex` of its N/S faces (the kind the settings give N/S faces, or `--kind`),
built on one thread, that answers queries over a pipe. The caller sends each query to every
shard, waits for all of them and merges their top k by score (`index.shards.merge_topk`).
Reported: recall@1 of the merged answer against exact search over all N faces, the fanned-out
query's latency (p50, p99; one query at a time), and each shard's build seconds and resident
memory (the whole process, and what its index added).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from multiprocessing.connection import Connection

import numpy as np

from bench.search import EACH, Faces, exact_neighbours, make_index, rss
from index.shards import merge_topk


def shard(conn: Connection, n: int, shard_no: int, shards: int, kind: str, by: str) -> None:
    """Hold the faces (or people's faces) `shard_no` mod `shards` of the gallery; answer
    (queries, k) until None."""
    import faiss

    faiss.omp_set_num_threads(1)
    before, start = rss(), time.perf_counter()
    index = make_index(kind, n // shards)
    owner = (lambda ids: ids) if by == "face" else (lambda ids: ids // EACH)
    parts = [(ids[owner(ids) % shards == shard_no], v[owner(ids) % shards == shard_no])
             for ids, v in Faces(n).chunks()]
    index.rebuild(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    del parts
    conn.send({"kind": index.kind, "faces": len(index),
               "build_s": round(time.perf_counter() - start, 1),
               "rss_mb": round(rss() / 2**20), "index_mb": round((rss() - before) / 2**20)})
    while (asked := conn.recv()) is not None:
        conn.send(index.search(*asked))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--kind", default="chosen", help="chosen (by the settings), exact, "
                        "hnsw or ivf")
    parser.add_argument("--by", choices=("person", "face"), default="person")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    faces = Faces(args.faces)
    queries = faces.queries(args.queries)
    spawn = mp.get_context("spawn")
    pipes, workers = [], []
    for s in range(args.shards):
        mine, theirs = spawn.Pipe()
        worker = spawn.Process(target=shard, args=(theirs, args.faces, s, args.shards,
                                                   args.kind, args.by), daemon=True)
        worker.start()
        pipes.append(mine)
        workers.append(worker)
    truth = exact_neighbours(faces, queries)[1][:, 0]  # while the shards build
    built = [p.recv() for p in pipes]
    print(f"{args.shards} shards of {args.faces // args.shards:,d} faces: {built}", flush=True)
    top, times = [], []
    try:
        for q in queries:
            start = time.perf_counter()
            for p in pipes:
                p.send((q[None], args.k))
            _, ids = merge_topk([p.recv() for p in pipes], args.k)
            times.append(time.perf_counter() - start)
            top.append(ids[0, 0])
    finally:
        for p in pipes:
            p.send(None)
        for w in workers:
            w.join(30)
    ms = np.array(times[5:]) * 1e3  # the first few wake the shards
    result = {"faces": args.faces, "shards": args.shards, "by": args.by, "k": args.k,
              "recall_at_1": round(float((np.array(top) == truth).mean()), 4),
              "p50_ms": round(float(np.percentile(ms, 50)), 3),
              "p99_ms": round(float(np.percentile(ms, 99)), 3), "each": built}
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
