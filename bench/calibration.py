"""What keeping the gallery's own threshold costs as the gallery grows.

    .venv/bin/python -m bench.calibration [--faces 100000] [--people 20000] [--json]

A store and exact index of synthetic faces (unit vectors of 128 dimensions, clustered by
person) stand in for a gallery of that size. Timed:
- **first estimate**: every face's nearest other-person and same-person face computed from
  nothing (`index.calibration.Nearest.refresh` with no rows: a gallery enrolled before the
  estimate existed, or a new model), the anchor;
- **after one enrollment**: one face added, the rows brought up to date (the new face
  searched once; faces it is nearest to raised) and the threshold read again
  (`Gallery.estimate` does this after each change);
- **after deleting a face**: the rows that named it computed again.
The ratio first / incremental is what an enrollment saves over computing the estimate anew.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from index.calibration import Nearest, estimate
from index.search import FaceIndex
from index.store import NewFace, Store

DIM = 128


def build(home: Path, faces: int, people: int, seed: int = 0) -> tuple[Store, FaceIndex]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, DIM)).astype(np.float32)
    owner = np.concatenate([np.arange(people), rng.integers(0, people, faces - people)])
    vectors = centres[owner] + rng.normal(scale=1.1, size=(faces, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = Store(home / "gallery.sqlite3")
    with store.transaction():
        pids = [store.people.add(f"p{i}") for i in range(people)]
        photo = store.faces.add_photo("0" * 64, "synthetic", 1, 1)
        ids = store.faces.add_all([NewFace(photo, pids[p], [], [], 1.0, 1.0, b"", [])
                                   for p in owner])
        store.embeddings.put("m", ids, vectors)
    index = FaceIndex(DIM, ann_min_faces=10**9)
    index.rebuild(np.array(ids), vectors)
    return store, index


def refresh(store: Store, index: FaceIndex) -> tuple[dict, float]:
    start = time.perf_counter()
    held = index.vectors()
    assert held is not None
    ids, vectors = held
    owner = store.faces.people()
    people = np.array([owner[f] for f in ids.tolist()])
    rows = Nearest(store, "m").refresh(ids, people, vectors)
    estimate(rows, len(np.unique(people)), 0.01, 0.5, None)
    return rows, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, index = build(Path(tmp), args.faces, args.people)
        _, first = refresh(store, index)
        rng = np.random.default_rng(1)
        v = rng.normal(size=(1, DIM)).astype(np.float32)
        v /= np.linalg.norm(v)
        with store.transaction():
            photo = store.faces.add_photo("1" * 64, "synthetic", 1, 1)
            fid = store.faces.add(NewFace(photo, 1, [], [], 1.0, 1.0, b"", []))
            store.embeddings.put("m", [fid], v)
        index.add(np.array([fid]), v)
        _, added = refresh(store, index)
        _, again = refresh(store, index)  # nothing changed: rows read, threshold recomputed
        store.faces.delete(fid)
        index.remove([fid])
        _, deleted = refresh(store, index)
    figures = {"faces": args.faces, "people": args.people,
               "first_estimate_s": round(first, 2), "after_one_enrollment_s": round(added, 3),
               "unchanged_s": round(again, 3), "after_deleting_a_face_s": round(deleted, 3),
               "ratio_first_to_incremental": round(first / added, 1)}
    print(f"{args.faces} faces of {args.people} people: first estimate {first:.1f} s; after "
          f"one enrollment {added:.3f} s ({first / added:.0f}× less); unchanged {again:.3f} s; "
          f"after deleting a face {deleted:.3f} s")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
