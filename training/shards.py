"""A prepared set in shards (`facepair prepare … --ray`, or `--shard-photos N`): a training
set too large to hold in memory, streamed by `facepair train` a few shards at a time.

DST holds:
- `prepare.json`: what was prepared (as for a flat set), with `shard_photos`;
- `shards/NNNNN/`: one folder per shard, written whole (under a temporary name, then renamed),
  so a shard that exists is finished and a resumed run skips it. Each holds the files of a
  flat set for its photos: `crops.npy` (memory-mappable), `manifest.csv` (`index` is the row in
  the whole sorted photo list; `label` the person's label in the whole set), `others.npy` and
  `others.csv` (`row`: the row in the whole list);
- `shards.json`: the shards with their counts, written at the end.

The sorted photos are cut into shards by person: every photo of a person lies in one shard,
a shard holds whole people up to about `shard_photos` photos (a person with more has a
shard alone), so identity-balanced batches can be drawn from a window of a few shards.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.prepare import Others, PrepareReport

SHARD_PHOTOS = 2000
ChunkResult = tuple[int, np.ndarray, list[tuple], Others]


def is_sharded(prepared: Path) -> bool:
    return (prepared / "shards.json").exists()


def is_prepared(prepared: Path) -> bool:
    """A `facepair prepare` output: flat (manifest.csv) or in shards (shards.json)."""
    return (prepared / "manifest.csv").exists() or is_sharded(prepared)


def shard_dirs(prepared: Path) -> list[Path]:
    """The shards of a sharded set, in order; a flat set is one shard: itself."""
    if not is_sharded(prepared):
        return [prepared]
    index = json.loads((prepared / "shards.json").read_text())
    return [prepared / "shards" / s["name"] for s in index["shards"]]


def partition(persons: list[str], shard_photos: int) -> list[np.ndarray]:
    """The rows of each shard: people in sorted order, whole, about `shard_photos` rows a shard
    (each shard's rows in ascending order)."""
    by_person: dict[str, list[int]] = {}
    for row, person in enumerate(persons):
        by_person.setdefault(person, []).append(row)
    shards: list[list[int]] = [[]]
    for person in sorted(by_person):
        rows = by_person[person]
        if shards[-1] and len(shards[-1]) + len(rows) > shard_photos:
            shards.append([])
        shards[-1] += rows
    return [np.asarray(sorted(rows), dtype=np.int64) for rows in shards if rows]


@dataclass
class _Pending:
    """A shard being filled: its rows, what has come back, and its other faces."""

    rows: np.ndarray
    size: int
    crops: np.ndarray = field(init=False)
    scores: np.ndarray = field(init=False)
    statuses: list[str] = field(init=False)
    filled: np.ndarray = field(init=False)
    others: list[Others] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.rows)
        self.crops = np.zeros((n, self.size, self.size, 3), dtype=np.uint8)
        self.scores = np.zeros(n, dtype=np.float32)
        self.statuses = [""] * n
        self.filled = np.zeros(n, dtype=bool)


class ShardWriter:
    """Routes chunk results (`training.prepare.align_chunk`) to their shards and writes each
    shard, whole, once all its photos are back; a photo that comes back twice counts once."""

    def __init__(self, dst: Path, items: list[tuple[Path, str]], shards: list[np.ndarray],
                 size: int) -> None:
        self.dst, self.items, self.shards, self.size = dst, items, shards, size
        people = sorted({person for _, person in items})
        self.label_of = {p: i for i, p in enumerate(people)}
        self.shard_of = np.empty(len(items), dtype=np.int64)
        self.position = np.empty(len(items), dtype=np.int64)
        for k, rows in enumerate(shards):
            self.shard_of[rows] = k
            self.position[rows] = np.arange(len(rows))
        (dst / "shards").mkdir(parents=True, exist_ok=True)
        self.todo = {k for k in range(len(shards)) if not self.path(k).exists()}
        self.pending: dict[int, _Pending] = {}

    def path(self, k: int) -> Path:
        return self.dst / "shards" / f"{k:05d}"

    def rows_todo(self) -> list[int]:
        return sorted(int(r) for k in self.todo for r in self.shards[k])

    def add(self, result: ChunkResult) -> int:
        """A chunk's results taken in; returns how many of its photos were new."""
        start, crops, rows, (other_crops, other_rows) = result
        new = 0
        for i, (score, status) in enumerate(rows):
            row = start + i
            k = int(self.shard_of[row])
            if k not in self.todo:
                continue
            shard = self.pending.setdefault(k, _Pending(self.shards[k], self.size))
            j = int(self.position[row])
            if shard.filled[j]:
                continue
            shard.crops[j], shard.scores[j], shard.statuses[j] = crops[i], score, status
            shard.filled[j] = True
            new += 1
            mine = other_rows[:, 0] == row
            if mine.any():
                shard.others.append((other_crops[mine], other_rows[mine]))
            if shard.filled.all():
                self._write(k, self.pending.pop(k))
        return new

    def _write(self, k: int, shard: _Pending) -> None:
        final = self.path(k)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        np.save(tmp / "crops.npy", shard.crops)
        with (tmp / "manifest.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["index", "path", "person", "label", "score", "status"])
            for row, score, status in zip(shard.rows, shard.scores, shard.statuses, strict=True):
                path, person = self.items[row]
                writer.writerow([int(row), path, person, self.label_of[person], f"{score:.5f}",
                                 status])
        crops = [c for c, _ in shard.others]
        rows = [r for _, r in shard.others]
        other_crops = (np.concatenate(crops) if crops
                       else np.zeros((0, self.size, self.size, 3), np.uint8))
        other_rows = np.concatenate(rows) if rows else np.zeros((0, 3), np.float32)
        order = np.argsort(other_rows[:, 0], kind="stable")
        np.save(tmp / "others.npy", other_crops[order])
        with (tmp / "others.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["index", "row", "path", "person", "size", "score"])
            for i, (row, face_size, score) in enumerate(other_rows[order]):
                path, person = self.items[int(row)]
                writer.writerow([i, int(row), path, person, f"{face_size:.1f}", f"{score:.5f}"])
        tmp.rename(final)
        self.todo.discard(k)

    def finish(self) -> PrepareReport:
        """`shards.json` written from the shards' manifests; the whole set's counts."""
        if self.todo:
            raise RuntimeError(f"{len(self.todo)} shard(s) of {self.dst} did not come back whole")
        entries, statuses, others = [], [], 0
        for k in range(len(self.shards)):
            rows = list(csv.DictReader((self.path(k) / "manifest.csv").open()))
            n_others = sum(1 for _ in (self.path(k) / "others.csv").open()) - 1
            status = [r["status"] for r in rows]
            entries.append({"name": self.path(k).name, "photos": len(rows),
                            "ok": status.count("ok"), "people": len({r["person"] for r in rows}),
                            "others": n_others})
            statuses += status
            others += n_others
        index = {"photos": len(self.items), "people": len(self.label_of), "shards": entries}
        (self.dst / "shards.json").write_text(json.dumps(index, indent=1))
        return PrepareReport(photos=len(statuses), ok=statuses.count("ok"),
                             no_face=statuses.count("no_face"),
                             errors=sum(s.startswith("error") for s in statuses),
                             people=len(self.label_of), others=others,
                             shards=len(self.shards))


def write_shards(
    writer: ShardWriter, results: Iterable[ChunkResult], total: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> PrepareReport:
    """Every chunk result taken in (progress in photos of `total`), then the index."""
    finished = total - len(writer.rows_todo())
    if on_progress:
        on_progress(finished, total)
    for result in results:
        finished += writer.add(result)
        if on_progress:
            on_progress(finished, total)
    return writer.finish()
