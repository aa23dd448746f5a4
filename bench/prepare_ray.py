"""`facepair prepare` on LFW DevTrain photos, by the local pool (`--workers 2`) and on a Ray
cluster of this machine (`--ray`: a head and a worker node of one CPU each, started with
`bench.ray_nodes.local_cluster`): faces per second of each command (wall time from its start),
the shards `--ray` writes, and how many of its crops equal the local pool's bit for bit.

    .venv/bin/python -m bench.prepare_ray [--photos N | --full] [--shard-photos N] [--json]

The photos: the DevTrain people in sorted order, whole, until `--photos` (default 400) are
taken; `--full` takes all 9,525. Nothing is cached: each run prepares into a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import FACEPAIR, last_json
from bench.ray_nodes import local_cluster

DATA = Path(os.environ["FACEPAIR_DATA_DIR"])
LFW = DATA / "lfw" / "lfw-deepfunneled"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=400, help="about this many photos")
    parser.add_argument("--full", action="store_true", help="every DevTrain photo (9,525)")
    parser.add_argument("--shard-photos", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="local pool's processes")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def devtrain_people(photos: int | None) -> list[str]:
    """DevTrain people in sorted order, whole, until about `photos` photos (None: all)."""
    rows = (DATA / "lfw" / "peopleDevTrain.txt").read_text().splitlines()[1:]
    people, total = [], 0
    for name, count in sorted(line.split("\t") for line in rows if line.strip()):
        if photos is not None and total >= photos:
            break
        people.append(name)
        total += int(count)
    return people


def timed(command: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start, last_json(done.stdout)


def equal_crops(local: Path, sharded: Path) -> tuple[int, int]:
    """(crops of the shards equal to the local pool's of the same photo, crops compared)."""
    from training.shards import shard_dirs

    flat = np.load(local / "crops.npy", mmap_mode="r")
    equal = total = 0
    for shard in shard_dirs(sharded):
        rows = csv.DictReader((shard / "manifest.csv").open())
        for row, crop in zip(rows, np.load(shard / "crops.npy", mmap_mode="r"), strict=True):
            equal += bool(np.array_equal(crop, flat[int(row["index"])]))
            total += 1
    return equal, total


def main() -> None:
    args = parse_args()
    people = devtrain_people(None if args.full else args.photos)
    with tempfile.TemporaryDirectory(prefix="prepare-ray") as tmp:
        work = Path(tmp)
        listing = work / "people.txt"
        listing.write_text("\n".join(people) + "\n")
        base = [FACEPAIR, "prepare", str(LFW)]
        local_s, local = timed([*base, str(work / "local"), "--people", str(listing),
                                "--workers", str(args.workers), "--json"])
        with local_cluster(workers=1, cpus=1) as cluster:
            ray_s, on_ray = timed([*base, str(work / "ray"), "--people", str(listing), "--ray",
                                   cluster.address, "--shard-photos", str(args.shard_photos),
                                   "--json"])
        equal, total = equal_crops(work / "local", work / "ray")
    figures = {
        "photos": local["photos"], "people": local["people"],
        "local": {"workers": args.workers, "seconds": round(local_s, 1), "ok": local["ok"],
                  "faces_per_s": round(local["ok"] / local_s, 2)},
        "ray": {"nodes": 2, "cpus_per_node": 1, "seconds": round(ray_s, 1), "ok": on_ray["ok"],
                "faces_per_s": round(on_ray["ok"] / ray_s, 2), "shards": on_ray["shards"],
                "shard_photos": args.shard_photos},
        "equal_crops": equal, "compared_crops": total,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['photos']} photos of {figures['people']} LFW DevTrain people")
    print(f"local, {args.workers} workers: {local_s:.1f} s, "
          f"{figures['local']['faces_per_s']} faces/s")
    print(f"Ray, 2 nodes × 1 CPU: {ray_s:.1f} s, {figures['ray']['faces_per_s']} faces/s, "
          f"{on_ray['shards']} shards")
    print(f"crops equal to the local pool's: {equal}/{total}")


if __name__ == "__main__":
    main()
