"""`facepair prepare --ray` on the session's real Ray cluster (a head and a worker node): the
shards it writes hold the local pool's crops bit for bit, a re-run skips every shard written,
one deleted is done again alone, and `facepair train` streams them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FACEPAIR = Path(sys.executable).parent / "facepair"
PEOPLE = ["Al_Gore", "Al_Sharpton", "Amelia_Vega", "Ana_Guevara", "Bill_Graham", "Bob_Hope",
          "Bob_Stoops", "Binyamin_Ben-Eliezer"]  # 60 LFW DevTrain photos


def _prepare_on_ray(lfw: Path, dst: Path, people: Path, address: str) -> dict:
    done = subprocess.run([str(FACEPAIR), "prepare", str(lfw), str(dst), "--people",
                           str(people), "--ray", address, "--shard-photos", "16", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _written(dst: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((dst / "shards").iterdir())}


@pytest.fixture(scope="module")
def both(lfw_dir: Path, ray_cluster, tmp_path_factory) -> tuple[Path, Path]:
    """The same photos prepared by the local pool (flat) and on the Ray cluster (shards)."""
    from training.prepare import prepare

    root = tmp_path_factory.mktemp("ray-prep")
    people = root / "people.txt"
    people.write_text("\n".join(PEOPLE) + "\n")
    prepare(lfw_dir, root / "local", include=set(PEOPLE), workers=2)
    report = _prepare_on_ray(lfw_dir, root / "ray", people, ray_cluster.address)
    assert report["photos"] == 60 and report["people"] == 8 and report["shards"] >= 3
    return root / "local", root / "ray"


def test_shards_hold_the_local_crops_and_resume_shard_by_shard(
        both: tuple[Path, Path], lfw_dir: Path, ray_cluster):
    from training.shards import shard_dirs

    local, ray = both
    index = json.loads((ray / "shards.json").read_text())
    assert sum(s["photos"] for s in index["shards"]) == 60
    flat = np.load(local / "crops.npy", mmap_mode="r")
    flat_rows = list(csv.DictReader((local / "manifest.csv").open()))
    people_seen: set[str] = set()
    equal = 0
    for shard in shard_dirs(ray):
        rows = list(csv.DictReader((shard / "manifest.csv").open()))
        people = {r["person"] for r in rows}
        assert not people & people_seen  # a person's photos all lie in one shard
        people_seen |= people
        crops = np.load(shard / "crops.npy", mmap_mode="r")
        for row, crop in zip(rows, crops, strict=True):
            same = flat_rows[int(row["index"])]
            assert (row["path"], row["label"], row["status"]) == (
                same["path"], same["label"], same["status"])
            equal += np.array_equal(crop, flat[int(row["index"])])
    assert equal == 60
    others = sum(len(np.load(s / "others.npy")) for s in shard_dirs(ray))
    assert others == len(np.load(local / "others.npy"))

    listing = ray.parent / "people.txt"
    before = _written(ray)
    again = _prepare_on_ray(lfw_dir, ray, listing, ray_cluster.address)
    assert _written(ray) == before  # every shard skipped
    lost = sorted(before)[1]
    for f in (ray / "shards" / lost).iterdir():
        f.unlink()
    (ray / "shards" / lost).rmdir()
    assert _prepare_on_ray(lfw_dir, ray, listing, ray_cluster.address) == again
    after = _written(ray)
    assert {k for k in before if after[k] != before[k]} == {lost}  # only it done again
    rows = list(csv.DictReader((ray / "shards" / lost / "manifest.csv").open()))
    crops = np.load(ray / "shards" / lost / "crops.npy")
    assert all(np.array_equal(c, flat[int(r["index"])]) for r, c in zip(rows, crops, strict=True))


def test_training_streams_the_shards(both: tuple[Path, Path], tmp_path: Path):
    from training.data import CropSet, ShardSet
    from training.train import TrainConfig, train

    local, ray = both
    streamed = ShardSet([ray], holdout=0.25, seed=0, window=2)
    flat = CropSet([local], holdout=0.25, seed=0)
    assert streamed.holdout is not None and flat.holdout is not None
    assert [n.split("/")[1] for n in streamed.holdout.names] == [
        n.split("/")[1] for n in flat.holdout.names]  # the same people held out
    assert np.array_equal(streamed.holdout.crops, flat.holdout.crops)
    assert len(streamed) == len(flat)
    batches = streamed.batches(6, 16, 4, seed=0, epoch=0)
    assert batches.shape == (6, 16)
    for batch in batches:  # each batch from a window of two shards
        shards = np.unique(streamed.shard_of[streamed.rows[batch]])
        assert len(shards) <= 2
    # two processes take disjoint shares of the shards
    first, second = (np.unique(streamed.shard_of[streamed.rows[streamed.batches(
        4, 16, 4, seed=0, epoch=0, rank=r, world=2)]]) for r in (0, 1))
    assert not set(first) & set(second)

    cfg = TrainConfig(data=[ray], out=tmp_path / "run", batch_size=16, m_per_class=4,
                      epochs=5, max_steps=2, threads=2, checkpoint_minutes=60, holdout=0.25,
                      shard_window=2, architecture={"name": "resnet_face", "embedding_size": 32,
                                                    "widths": [8, 16, 32, 64]})
    result = train(cfg)
    assert result["steps"] == 2 and all(np.isfinite(result["losses"]))
    assert result["best"] is not None  # the held-out people judged the run
