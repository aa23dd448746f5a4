"""Training data: prepared crops held in memory, identity labels, and batch augmentation.

Augmentation runs on whole batches as tensor operations (on the training device), so two CPU
cores spend their time on the network, not on a per-image Python pipeline.
"""

from __future__ import annotations

import csv
import hashlib
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
