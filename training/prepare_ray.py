"""`facepair prepare SRC DST --ray`: the chunks of a preparation detected and aligned on a Ray
cluster, as the local pool does them (`training.prepare.align_chunk`, the same chunks, so the
same crops), for the driver to write into shards (`training.shards`).

Reading tasks (a quarter of a core each) decode each chunk's photos; an actor pool
(`faces.cluster.pool`: one actor per GPU, else one per core of each node) holds a detector each
and detects and aligns them. The results stream back to the driver in no set order; Ray retries
the tasks of a lost node and starts its actors again elsewhere, and a photo that comes back
twice is taken once (`training.shards.ShardWriter`).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np

from faces.cluster import READ_CPUS, connect, pool
from training.prepare import CHUNK, Regions, Task, align_chunk, decode_chunk
from training.shards import ChunkResult

# chunks a block holds once there are many (few: one a block, to spread them over the actors)
CHUNKS_PER_BLOCK = 4


def _dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _read(batch: dict[str, np.ndarray]) -> dict[str, list[bytes]]:
    """A reading task: each chunk's photos decoded (or their errors)."""
    chunks = []
    for raw in batch["chunk"]:
        start, paths, size, how, template, regions = pickle.loads(raw)
        photos, rows = decode_chunk(paths)
        chunks.append(_dumps((start, photos, rows, size, how, template, regions)))
    return {"chunk": chunks}


class Aligner:
    """An actor of the pool: a detector, loaded once."""

    def __init__(self, device: str, threads: int) -> None:
        import torch

        from faces.detect import Detector

        torch.set_num_threads(threads)
        self.detector = Detector(device=device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[bytes]]:
        return {"chunk": [_dumps(align_chunk(self.detector, *pickle.loads(raw)))
                          for raw in batch["chunk"]]}


def aligned_on_ray(
    paths: list[str], starts: list[int], size: int, face: str, template: list | None,
    regions: Regions | None, address: str,
) -> Iterator[ChunkResult]:
    """Detect and align `paths[s : s + CHUNK]` for each start `s` on the Ray cluster at
    `address`; yields (start, crops, [(score, status)], other faces) as they come back."""
    if not starts:
        return
    ray = connect(address)
    actors = pool(ray, 1)
    tasks: list[Task] = [(s, paths[s : s + CHUNK], size, face, template,
                          None if regions is None else regions[s : s + CHUNK]) for s in starts]
    per_block = 1 if len(tasks) < 64 * actors.actors else CHUNKS_PER_BLOCK
    dataset: Any = ray.data.from_items([{"chunk": _dumps(t)} for t in tasks],
                                       override_num_blocks=math.ceil(len(tasks) / per_block))
    dataset = dataset.map_batches(_read, batch_size=1, num_cpus=READ_CPUS, batch_format="numpy")
    dataset = dataset.map_batches(
        Aligner, batch_size=1, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(actors.actors, len(tasks))),
        num_cpus=actors.cpus,
        num_gpus=actors.gpus,
        fn_constructor_kwargs={"device": actors.device, "threads": actors.threads})
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy",
                                      prefetch_batches=1):
        for raw in batch["chunk"]:
            yield pickle.loads(raw)
