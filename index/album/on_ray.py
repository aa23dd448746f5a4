"""The analyse stage on a Ray cluster (`facepair tag --ray`): the same work as
`index.album.analyse`, spread over the cluster's nodes (`faces.cluster.stream`).

An actor pool reads, detects, aligns and embeds the photos, each actor loading the detector and
the model once and kept warm for the next job (`faces.warm_pool`; one actor per GPU where the
cluster has GPUs, decoding on its share of the node's cores, else one per `FACEPAIR_RAY_CORES`
cores of each node). The analysed photos stream back to the job's driver, which names and
records them through the store as the local pool's are: a job on Ray keeps every promise of a
local one (resumable, unchanged photos skipped, the user's tags first, sidecars written whole,
progress and cancel).

A batch whose actor was lost (its node gone) goes to another, and a photo that comes back
twice is recorded once.
"""

from __future__ import annotations

from collections.abc import Iterator

from faces.cluster import stream
from faces.decode import Reduced
from faces.detect import Detector
from faces.embed import Embedder
from faces.settings import FaceSettings
from index.album.analyse import CHUNK, analyse_decoded
from index.album.reading import AnalysedPhoto, decoded
from index.album.scan import PhotoFile
from index.gallery import Gallery


class Analyser:
    """What an actor of the pool holds: the detector and the model, loaded once."""

    def __init__(self, settings: FaceSettings, model: str, version: tuple[int, int],
                 device: str, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.detector = Detector(settings, device)
        self.embedder = Embedder(model, device)
        self.limit = settings.max_pixels

    def __call__(self, photos: list[tuple[AnalysedPhoto, Reduced | None]]
                 ) -> list[AnalysedPhoto]:
        return analyse_decoded(photos, self.detector, self.embedder, self.limit)


def analysed_on_ray(gallery: Gallery, todo: list[PhotoFile], address: str
                    ) -> Iterator[list[AnalysedPhoto]]:
    """The photos analysed on the Ray cluster at `address`, a chunk at a time as they come
    back (in no set order); each photo once."""
    if not todo:
        return
    settings = gallery.settings
    # what the actors need of the settings (an actor serves every job with the same), and
    # the model file's version, so that a model exported again gets actors of its own
    face_settings = FaceSettings.model_construct(
        **settings.model_dump(include=set(FaceSettings.model_fields)))
    stat = gallery.embedder.path.stat()
    model_version = (stat.st_size, stat.st_mtime_ns)
    seen: set[str] = set()
    for batch in stream(
            address, todo, decoded,
            {"longest": settings.detect_max_side, "limit": settings.max_pixels},
            Analyser, {"settings": face_settings, "model": str(gallery.embedder.path),
                       "version": model_version},
            CHUNK, settings.ray_cores, settings.ray_keep):
        chunk = [p for p in batch if p.path not in seen]
        seen.update(p.path for p in chunk)
        if chunk:
            yield chunk
