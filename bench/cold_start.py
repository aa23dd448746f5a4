"""A replica's cold start over a gallery of a million faces in PostgreSQL.

    .venv/bin/python -m bench.cold_start [--faces 1000000] [--queries 50] [--json]

A throwaway PostgreSQL cluster (Debian's server, as the tests start it) is filled with
synthetic people of 5 faces each (128-d unit vectors: a random centre plus noise, about 0.8
cosine between faces of one person) under the name of the default model, and an identify
threshold is set by hand (a gallery this size has no estimate of its own until its first one,
every face against every other, is made). Then a `facepair serve` with an empty home starts
over it: the time from its start to `/readyz` answering 200 is the cold start (the process,
the networks, the bulk read of every vector, the index built and saved: HNSW graphs at a
million faces, with the default settings). It is started a second time over the same home
(from its saved index file and the changes since). Identify is timed on a real LFW photo, one
request at a time: p50 and p99.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.service_process import Replica, postgres
from faces.embed import Embedder
from index.store import NewFace, Store
from service.settings import get_settings

DIM = 128
CHUNK = 20_000  # faces written at a time


def fill(location: str, model: str, faces: int, seed: int = 0) -> float:
    """Synthetic people of 5 faces each; the seconds it took."""
    start = time.perf_counter()
    store = Store(location)
    rng = np.random.default_rng(seed)
    photo = store.faces.add_photo("synthetic".ljust(64, "0"), "synthetic", 1, 1)
    for first in range(0, faces, CHUNK):
        n = min(CHUNK, faces - first)
        people = store.people.add_all([f"synthetic {k}" for k in
                                       range(first // 5, (first + n + 4) // 5)])
        centres = rng.standard_normal((len(people), DIM), dtype=np.float32)
        owner = np.repeat(np.arange(len(people)), 5)[:n]
        x = centres[owner] + 0.75 * rng.standard_normal((n, DIM), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        with store.transaction():
            ids = store.faces.add_all([NewFace(photo, people[o], [0, 0, 1, 1], [[0, 0]] * 5,
                                               1.0, 0.0, b"", [[0, 0]] * 5)
                                       for o in owner.tolist()])
            store.embeddings.put(model, ids, x)
    store.meta.set(f"threshold:{model}", "0.6", model=model)
    store.close()
    return time.perf_counter() - start


def identify_ms(url: str, photo: Path, queries: int) -> dict[str, float]:
    data = photo.read_bytes()
    times = []
    with httpx.Client(timeout=60) as client:
        for _ in range(queries + 1):
            start = time.perf_counter()
            answer = client.post(url + "/v1/identify", files={"photo": ("p.jpg", data)})
            answer.raise_for_status()
            times.append(time.perf_counter() - start)
    ms = np.array(times[1:]) * 1e3
    return {"p50": round(float(np.percentile(ms, 50)), 1),
            "p99": round(float(np.percentile(ms, 99)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    model = Embedder(get_settings().model).name
    data = Path(os.environ["FACEPAIR_DATA_DIR"])
    photo = next((data / "lfw").glob("*/Aaron_Peirsol/Aaron_Peirsol_0001.jpg"))
    with postgres() as cluster, tempfile.TemporaryDirectory() as tmp:
        location = cluster.new_database()
        result: dict = {"faces": args.faces, "cores": os.cpu_count(),
                        "fill_s": round(fill(location, model, args.faces), 1)}
        env = {"FACEPAIR_STORE": location, "FACEPAIR_AUTH": "false"}
        for run in ("cold", "warm"):  # an empty home, then the same home again
            replica = Replica(Path(tmp), env)
            try:
                result[f"{run}_start_s"] = round(replica.start(), 1)
                if run == "cold":
                    result["identify_ms"] = identify_ms(replica.url, photo, args.queries)
            finally:
                replica.stop()
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
