"""Training data: prepared crops held in memory, identity labels, and batch augmentation.

Augmentation runs on whole batches as tensor operations (on the training device), so two CPU
cores spend their time on the network, not on a per-image Python pipeline.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Holdout:
    """Validation faces kept out of training: every photo of a share of the people with a few
    photos, plus people with a single photo, whom pair training cannot use anyway (they serve
    as strangers)."""

    crops: np.ndarray  # N×S×S×3 uint8
    labels: np.ndarray  # N int64; a label per person
    names: list[str]  # the held-out people with pairs
    strangers: int  # single-photo people
    # faces in the background of these people's photos (`facepair prepare`'s others.npy):
    # never trained on, and the small, blurred, turned faces that a photo album is full of
    # and that a model fine-tuned on posed portraits may score too high
    others: np.ndarray | None = None

    def embedded(
        self, embed: Callable[[np.ndarray], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """What `pair_figures` and `held_out_thresholds` take: the held-out faces' embeddings,
        their labels, and the background faces' embeddings (None when there are none)."""
        others = embed(self.others) if self.others is not None and len(self.others) else None
        return embed(self.crops), self.labels, others


class CropSet:
    """The `ok` crops of one or more `facepair prepare` outputs, with global identity labels
    (`<folder>/<person>`, so LFW's and ORL's people never share a label).

    `holdout` > 0 keeps that share of the people with 2 to `max_per_person` photos out of
    training (chosen by a seeded hash of their names), together
    with up to `max_strangers` single-photo people, as `self.holdout`: the set on which a
    run is judged and its best step chosen, so that no LFW test person is ever needed for it.
    """

    def __init__(
        self, dirs: list[Path], min_photos: int = 2, holdout: float = 0.0, seed: int = 0,
        max_per_person: int = 10, max_strangers: int = 2000,
    ) -> None:
        crops, names, others, other_names = [], [], [], []
        for d in dirs:
            if (d / "others.npy").exists():
                others.append(np.load(d / "others.npy", mmap_mode="r"))
                other_names += [f"{d.name}/{r['person']}"
                                for r in csv.DictReader((d / "others.csv").open())]
            rows = list(csv.DictReader((d / "manifest.csv").open()))
            ok = [int(r["index"]) for r in rows if r["status"] == "ok"]
            crops.append(np.load(d / "crops.npy", mmap_mode="r")[ok])
            names += [f"{d.name}/{rows[i]['person']}" for i in ok]
        all_crops = np.concatenate(crops)
        people, labels = np.unique(names, return_inverse=True)
        counts = np.bincount(labels)
        paired = np.flatnonzero(counts >= min_photos)  # pairs need two photos of a person
        # a person is held out by a hash of their name: the same people whatever else the
        # data holds, so runs on re-prepared or grown data are judged on the same people.
        # People with more than `max_per_person` photos always train (most would go unused).
        held = {int(p) for p in paired if counts[p] <= max_per_person
                and person_share(people[p].split("/", 1)[1], seed) < holdout}
        rng = np.random.default_rng(seed)
        keep = (counts[labels] >= min_photos) & ~np.isin(labels, list(held))
        self.crops = all_crops[keep]
        self.people = people[np.unique(labels[keep])]
        _, self.labels = np.unique(labels[keep], return_inverse=True)
        self.size = self.crops.shape[1]
        self.holdout: Holdout | None = None
        singles = np.zeros(0, dtype=np.int64)
        if held:
            chosen = [np.flatnonzero(labels == p)[:max_per_person] for p in sorted(held)]
            singles = np.flatnonzero(counts[labels] == 1)
            singles = np.sort(rng.permutation(singles)[:max_strangers])
            index = np.concatenate([*chosen, singles])
            self.holdout = Holdout(all_crops[index], labels[index].astype(np.int64),
                                   [str(people[p]) for p in sorted(held)], len(singles))
        # the background faces of held-out people's photos judge the run with them; those of
        # the others' photos may be trained on as strangers (`TrainConfig.background_negatives`)
        self.background = np.zeros((0, *all_crops.shape[1:]), dtype=np.uint8)
        if others:
            all_others = np.concatenate(others)
            of = np.searchsorted(people, other_names)
            judged = np.isin(of, [*held, *labels[singles]])
            self.background = all_others[~judged]
            if self.holdout is not None:
                self.holdout = replace(self.holdout, others=all_others[judged])

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_people(self) -> int:
        return int(self.labels.max()) + 1

    def batch(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 N×3×S×S images and int64 labels for these rows."""
        x = torch.from_numpy(self.crops[index])
        return x.permute(0, 3, 1, 2).contiguous(), torch.from_numpy(self.labels[index]).long()


def person_share(name: str, seed: int) -> float:
    """A stable number in [0, 1) for a person's name."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random flip, small scale/shift/rotation, colour jitter, grayscale and blur on a float
    batch in [0, 255] (N×3×S×S)."""
    n, dev = x.shape[0], x.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator).to(dev)

    flip = rand(n) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    # geometry: scale 0.9–1.1, shift ±6 %, rotation ±8°
    angle = (rand(n) - 0.5) * 2 * math.radians(8)
    scale = 1 + (rand(n) - 0.5) * 0.2
    shift = (rand(n, 2) - 0.5) * 0.12
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # colour: brightness, contrast, saturation
    gray = x.mean(1, keepdim=True)
    sat = 1 + (rand(n, 1, 1, 1) - 0.5) * 0.6
    x = gray + (x - gray) * sat
    contrast = 1 + (rand(n, 1, 1, 1) - 0.5) * 0.6
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + (x - mean) * contrast
    x = x * (1 + (rand(n, 1, 1, 1) - 0.5) * 0.5)
    # grayscale for 10 %, blur for 10 %
    to_gray = rand(n) < 0.1
    x = torch.where(to_gray.view(n, 1, 1, 1), x.mean(1, keepdim=True).expand_as(x), x)
    blur = rand(n) < 0.1
    if blur.any():
        kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=dev)
        kernel = (kernel[:, None] * kernel[None, :]) / 256.0
        weight = kernel.expand(3, 1, 5, 5)
        x[blur] = F.conv2d(F.pad(x[blur], (2, 2, 2, 2), mode="replicate"), weight, groups=3)
    return x.clamp(0, 255)


class ShardSet:
    """The `ok` crops of prepared sets in shards (`training.shards`; a flat set is one shard),
    memory-mapped, never loaded whole: only the labels are held. Batches are drawn from a
    window of `window` shards at a time (`batches`); held-out people as `CropSet` holds them
    out (the same people for the same names and seed), their crops read into memory."""

    def __init__(
        self, dirs: list[Path], min_photos: int = 2, holdout: float = 0.0, seed: int = 0,
        max_per_person: int = 10, max_strangers: int = 2000, window: int = 4,
    ) -> None:
        from training.shards import shard_dirs

        self.shards = [s for d in dirs for s in shard_dirs(d)]
        self.window = window
        names, shard_of, local = [], [], []
        for k, shard in enumerate(self.shards):
            rows = list(csv.DictReader((shard / "manifest.csv").open()))
            ok = [i for i, r in enumerate(rows) if r["status"] == "ok"]
            names += [f"{_folder(shard)}/{rows[i]['person']}" for i in ok]
            shard_of += [k] * len(ok)
            local += ok
        self.shard_of, self.local = np.asarray(shard_of, np.int64), np.asarray(local, np.int64)
        self._maps: dict[int, np.ndarray] = {}
        people, labels = np.unique(names, return_inverse=True)
        counts = np.bincount(labels)
        paired = np.flatnonzero(counts >= min_photos)
        held = {int(p) for p in paired if counts[p] <= max_per_person
                and person_share(people[p].split("/", 1)[1], seed) < holdout}
        keep = (counts[labels] >= min_photos) & ~np.isin(labels, list(held))
        self.people = people[np.unique(labels[keep])]
        _, self.labels = np.unique(labels[keep], return_inverse=True)
        self.rows = np.flatnonzero(keep)  # training row → row of shard_of/local
        shard_rows = self.shard_of[self.rows]
        order = np.argsort(shard_rows, kind="stable")
        bounds = np.searchsorted(shard_rows[order], np.arange(len(self.shards) + 1))
        self.rows_of = [order[a:b] for a, b in itertools.pairwise(bounds)]
        self.size = int(self._crops(0).shape[1]) if self.shards else 0
        self.background = np.zeros((0, self.size, self.size, 3), dtype=np.uint8)
        self.holdout: Holdout | None = None
        if held:
            rng = np.random.default_rng(seed)
            chosen = [np.flatnonzero(labels == p)[:max_per_person] for p in sorted(held)]
            singles = np.sort(rng.permutation(np.flatnonzero(counts[labels] == 1))[:max_strangers])
            index = np.concatenate([*chosen, singles])
            judged = {str(people[p]) for p in [*held, *labels[singles]]}
            self.holdout = Holdout(self._read(index), labels[index].astype(np.int64),
                                   [str(people[p]) for p in sorted(held)], len(singles),
                                   self._others(judged))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_people(self) -> int:
        return int(self.labels.max()) + 1

    def _crops(self, k: int) -> np.ndarray:
        if k not in self._maps:
            if len(self._maps) >= 4 * self.window:  # a few windows' shards stay mapped
                self._maps.pop(next(iter(self._maps)))
            self._maps[k] = np.load(self.shards[k] / "crops.npy", mmap_mode="r")
        return self._maps[k]

    def _read(self, rows: np.ndarray) -> np.ndarray:
        """The crops of these rows (of all `ok` rows, held-out ones included), in order."""
        out = np.empty((len(rows), self.size, self.size, 3), dtype=np.uint8)
        for k in np.unique(self.shard_of[rows]):
            mine = np.flatnonzero(self.shard_of[rows] == k)
            out[mine] = self._crops(int(k))[self.local[rows[mine]]]
        return out

    def _others(self, judged: set[str]) -> np.ndarray:
        """The background faces of these people's photos."""
        found = [np.zeros((0, self.size, self.size, 3), dtype=np.uint8)]
        for shard in self.shards:
            if not (shard / "others.csv").exists():
                continue
            mine = [i for i, r in enumerate(csv.DictReader((shard / "others.csv").open()))
                    if f"{_folder(shard)}/{r['person']}" in judged]
            if mine:
                found.append(np.load(shard / "others.npy", mmap_mode="r")[mine])
        return np.concatenate(found)

    def batch(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 N×3×S×S images and int64 labels for these training rows."""
        x = torch.from_numpy(self._read(self.rows[index]))
        return x.permute(0, 3, 1, 2).contiguous(), torch.from_numpy(self.labels[index]).long()

    def batches(self, steps: int, batch_size: int, m_per_class: int, seed: int, epoch: int,
                rank: int = 0, world: int = 1) -> np.ndarray:
        """`steps` batches of training rows for process `rank` of `world`: the shards in an
        order of the epoch's, every `world`-th of them this process's; a window of `window`
        of its shards at a time, `m_per_class` photos of each of `batch_size // m_per_class`
        people of the window a batch, as many batches as the newest shard holds, then the
        window moves on a shard (round again where the steps need it)."""
        order = np.random.default_rng([seed, epoch]).permutation(len(self.shards))
        mine = order[rank::world] if len(order) >= world else order[[rank % len(order)]]
        rng = np.random.default_rng([seed, epoch, rank])
        out: list[np.ndarray] = []
        j = 0
        while len(out) < steps:
            window = [mine[(j - w) % len(mine)] for w in range(min(self.window, len(mine)))]
            rows = np.concatenate([self.rows_of[k] for k in window])
            newest = len(self.rows_of[mine[j % len(mine)]])
            for _ in range(max(1, newest // batch_size)):
                if len(rows):
                    out.append(_balanced(rows, self.labels[rows], batch_size, m_per_class, rng))
            j += 1
            if j > 2 * len(mine) and not out:
                raise ValueError("no shard of this process holds a person to train on")
        return np.stack(out[:steps])


def _folder(shard: Path) -> str:
    """The name of the prepared set a shard belongs to (a flat set: its own)."""
    return shard.parent.parent.name if shard.parent.name == "shards" else shard.name


def _balanced(rows: np.ndarray, labels: np.ndarray, batch_size: int, m: int,
              rng: np.random.Generator) -> np.ndarray:
    """`m` rows each of `batch_size // m` people (all of them, some twice, where fewer)."""
    people = np.unique(labels)
    per_batch = batch_size // m
    chosen = rng.choice(people, per_batch, replace=len(people) < per_batch)
    return np.concatenate([
        rng.choice(rows[labels == p], m, replace=(labels == p).sum() < m) for p in chosen])


def open_prepared(dirs: list[Path], holdout: float = 0.0, seed: int = 0,
                  window: int = 4) -> CropSet | ShardSet:
    """Prepared sets as training reads them: in memory where every one is flat, else
    streamed from their shards."""
    from training.shards import is_sharded

    if any(is_sharded(d) for d in dirs):
        return ShardSet(dirs, holdout=holdout, seed=seed, window=window)
    return CropSet(dirs, holdout=holdout, seed=seed)
