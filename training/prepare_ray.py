"""`facepair prepare SRC DST --ray`: the chunks of a preparation detected and aligned on a Ray
cluster, as the local pool does them (`training.prepare.align_chunk`, the same chunks, so the
same crops), for the driver to write into shards (`training.shards`).

An actor pool (`faces.warm_pool`: one actor per GPU, else one per core of each node, kept warm
between jobs) holds a detector each; each actor decodes its chunks' photos, then detects and
aligns them. The results stream back to the driver in no set order; a chunk whose actor was
lost goes to another, and a photo that comes back twice is taken once
(`training.shards.ShardWriter`).
"""

from __future__ import annotations

from collections.abc import Iterator

from faces.cluster import stream
from training.prepare import CHUNK, Decoded, Regions, Task, align_chunk, decode_chunk
from training.shards import ChunkResult

# a chunk as a reading task leaves it: (start, photos, rows, size, how, template, regions)
DecodedChunk = tuple[int, Decoded, list[tuple], int, str, list | None, Regions | None]


def _read(task: Task) -> DecodedChunk:
    """A chunk's photos decoded (or their errors), by the actor that aligns them."""
    start, paths, size, how, template, regions = task
    photos, rows = decode_chunk(paths)
    return start, photos, rows, size, how, template, regions


class Aligner:
    """What an actor of the pool holds: a detector, loaded once."""

    def __init__(self, device: str, threads: int) -> None:
        import torch

        from faces.detect import Detector

        torch.set_num_threads(threads)
        self.detector = Detector(device=device)

    def __call__(self, chunks: list[DecodedChunk]) -> list[ChunkResult]:
        return [align_chunk(self.detector, *chunk) for chunk in chunks]


def aligned_on_ray(
    paths: list[str], starts: list[int], size: int, face: str, template: list | None,
    regions: Regions | None, address: str,
) -> Iterator[ChunkResult]:
    """Detect and align `paths[s : s + CHUNK]` for each start `s` on the Ray cluster at
    `address`; yields (start, crops, [(score, status)], other faces) as they come back."""
    if not starts:
        return
    tasks: list[Task] = [(s, paths[s : s + CHUNK], size, face, template,
                          None if regions is None else regions[s : s + CHUNK]) for s in starts]

    for batch in stream(address, tasks, _read, {}, Aligner, {}, 1):
        yield from batch
