"""The analyse stage on a Ray cluster (`facepair tag --ray`): the same work as
`index.album.analyse`, spread over the cluster's nodes with Ray Data.

Reading tasks (a quarter of a core each) decode the photos at the size detection works at; an
actor pool detects, aligns and embeds them, each actor loading the detector and the model once
(one actor per GPU where the cluster has GPUs, else one per `FACEPAIR_RAY_CORES` cores of each
node). The analysed photos stream back to the job's driver, which names and records them
through the store as the local pool's are: a job on Ray keeps every promise of a local one
(resumable, unchanged photos skipped, the user's tags first, sidecars written whole, progress
and cancel).

Ray retries the tasks of a node that is lost and starts its actors again elsewhere; a photo
that comes back twice is recorded once.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np

from faces.cluster import READ_CPUS, connect, pool
from faces.detect import Detector
from faces.embed import Embedder
from faces.memory import keep_freed_memory
from index.album.analyse import CHUNK, analyse_decoded
from index.album.reading import AnalysedPhoto, read_batch
from index.album.scan import PhotoFile
from index.gallery import Gallery
from index.settings import IndexSettings


class Analyser:
    """An actor of the pool: the detector and the model, loaded once."""

    def __init__(self, settings: IndexSettings, model: str, device: str, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        keep_freed_memory()
        self.detector = Detector(settings, device)
        self.embedder = Embedder(model, device)
        self.limit = settings.max_pixels

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[bytes]]:
        photos = analyse_decoded([pickle.loads(raw) for raw in batch["photo"]], self.detector,
                                 self.embedder, self.limit)
        return {"photo": [pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL) for p in photos]}


def analysed_on_ray(gallery: Gallery, todo: list[PhotoFile], address: str
                    ) -> Iterator[list[AnalysedPhoto]]:
    """The photos analysed on the Ray cluster at `address`, a chunk at a time as they come
    back (in no set order); each photo once."""
    if not todo:
        return
    ray = connect(address)
    actors = pool(ray, gallery.settings.ray_cores)
    settings = gallery.settings
    dataset: Any = ray.data.from_items(
        [{"photo": pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL)} for p in todo],
        override_num_blocks=max(1, min(len(todo) // CHUNK, 4 * actors.actors * 8)))
    dataset = dataset.map_batches(
        read_batch, batch_size=CHUNK, num_cpus=READ_CPUS, batch_format="numpy",
        fn_kwargs={"longest": settings.detect_max_side, "limit": settings.max_pixels})
    dataset = dataset.map_batches(
        Analyser, batch_size=CHUNK, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors.actors), num_cpus=actors.cpus,
        num_gpus=actors.gpus,
        fn_constructor_kwargs={"settings": settings, "model": str(gallery.embedder.path),
                               "device": actors.device, "threads": actors.threads})
    seen: set[str] = set()
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy",
                                      prefetch_batches=1):
        chunk = [p for p in (pickle.loads(raw) for raw in batch["photo"]) if p.path not in seen]
        seen.update(p.path for p in chunk)
        if chunk:
            yield chunk
