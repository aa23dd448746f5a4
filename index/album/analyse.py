"""The analyse stage: photos decoded, their faces detected, aligned and embedded, in worker
processes. On a CPU the workers are forked, one core each, and start with the detector and the
model already loaded; with CUDA they are spawned and each loads them once."""

from __future__ import annotations

import gc
import importlib
import multiprocessing as mp
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from faces.align import face_chip
from faces.decode import Reduced, Source, decode_regions
from faces.detect import Detector, Face
from faces.embed import Embedder
from faces.errors import FacepairError
from faces.memory import keep_freed_memory, release_freed_memory
from faces.video import is_video_path
from index.album.reading import AnalysedPhoto, decoded
from index.album.scan import PhotoFile
from index.album.video import analyse_video
from index.gallery import Gallery, encode_chip
from index.settings import IndexSettings

CHUNK = 8  # photos per worker task at most: their faces are embedded in one batch


_WORKER: dict = {}
# the share of the model's input that a face's detected box spans in its aligned crop: a face
# smaller than that in the reduced photo is aligned from its part of the photo at full size,
# its box grown by AROUND times its size on every side
CHIP_FACE = 0.72
AROUND = 1.5


def _init_worker(settings: IndexSettings, model: str, device: str, threads: int) -> None:
    """A spawned worker: load the detector and the model itself."""
    import torch

    torch.set_num_threads(threads)
    keep_freed_memory()
    _WORKER.update(detector=Detector(settings, device), embedder=Embedder(model, device),
                   max_pixels=settings.max_pixels, video=(settings.video_rate,
                                                          settings.video_max_seconds))


def _init_forked() -> None:
    """A forked worker already holds the parent's detector and model (copy-on-write). It runs
    torch on one thread: an OpenMP thread pool does not survive a fork, so a forked worker
    must never start one (PyTorch's DataLoader workers do the same)."""
    import torch

    torch.set_num_threads(1)
    keep_freed_memory()


def analyse(items: list[PhotoFile]) -> list[AnalysedPhoto]:
    """Decode, detect and embed a chunk of photos, in a worker (`decoded`, then
    `analyse_decoded`); a video's frames are followed through (`analyse_video`)."""
    detector, embedder, limit = _WORKER["detector"], _WORKER["embedder"], _WORKER["max_pixels"]
    photos = iter(analyse_decoded(
        [decoded(item, detector.settings.detect_max_side, limit) for item in items
         if not is_video_path(Path(item.path))], detector, embedder, limit))
    rate, longest = _WORKER["video"]
    return [analyse_video(item, detector, embedder, rate, longest, limit)
            if is_video_path(Path(item.path)) else next(photos) for item in items]


def analyse_decoded(photos: list[tuple[AnalysedPhoto, Reduced | None]], detector: Detector,
                    embedder: Embedder, limit: int) -> list[AnalysedPhoto]:
    """The faces of decoded photos detected and embedded. A face too small in the reduced
    photo to fill the model's input is aligned from its part of the photo at full size
    (`decode_regions`: the photo is decoded in full once more, but only those parts are
    kept). The chunk's faces are embedded together."""
    crops: list[np.ndarray] = []
    for item, reduced in photos:
        if reduced is None:
            continue
        try:
            item.faces = _faces_of(item, reduced, detector, embedder, crops, limit)
        except FacepairError as exc:
            item.error = exc.message
    vectors = (embedder.embed_crops(np.stack(crops)) if crops
               else np.empty((0, embedder.dim), dtype=np.float32))
    start = 0
    for item, _ in photos:
        item.vectors = vectors[start : start + len(item.faces)]
        start += len(item.faces)
    return [item for item, _ in photos]


def _faces_of(item: AnalysedPhoto, reduced: Reduced, detector: Detector, embedder: Embedder,
              crops: list[np.ndarray], limit: int) -> list[Face]:
    """One photo's faces, in its full-size coordinates; their chips go into `item.chips` and
    their model crops into `crops`."""
    scale = reduced.scale
    found = detector.detect_reduced(reduced)
    faces, chips, item_crops = [], [], []
    for f, (source, points) in zip(found, face_sources(Path(item.path), reduced, found,
                                                       embedder.input_size, limit), strict=True):
        chip, chip_points = face_chip(source, points)
        item_crops.append(embedder.crops_at(source, [points])[0])
        chips.append((encode_chip(chip), chip_points.round(3).tolist()))
        x1, y1, x2, y2 = (float(v) * scale for v in f.box)
        # measured again only where the face is aligned from other pixels than it was found in
        quality = f.quality if source is reduced.image else f.measured(source, points,
                                                                       scale).quality
        faces.append(Face(box=(x1, y1, x2, y2), score=f.score, landmarks=f.landmarks * scale,
                          quality=quality))
    # a photo's faces count only once all of them are aligned (none of a failed photo)
    crops += item_crops
    item.chips = chips
    return faces


def chunks(todo: list, workers: int) -> list[list]:
    """The photos in worker tasks of CHUNK, growing smaller towards the end (down to one
    photo) so that the workers finish together: a task is never more than the share of what
    is left that keeps every worker busy twice over."""
    chunks, start = [], 0
    while start < len(todo):
        size = max(1, min(CHUNK, (len(todo) - start) // (2 * max(1, workers))))
        chunks.append(todo[start : start + size])
        start += size
    return chunks


def face_sources(source: Source, reduced: Reduced, faces: Sequence[Face], input_size: int,
                 limit: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Where each face of a reduced photo is aligned from: (pixels, the face's landmarks in
    them). The reduced photo; for a face too small there to fill the model's input (under
    CHIP_FACE of `input_size`), its part of the photo at full size (`decode_regions`: one
    decode for all such faces of the photo)."""
    small = [i for i, f in enumerate(faces)
             if reduced.scale > 1 and f.size < CHIP_FACE * input_size]
    regions = dict(zip(small, decode_regions(
        source, [face_region(faces[i], reduced.scale) for i in small], limit),
        strict=True)) if small else {}
    sources = []
    for i, f in enumerate(faces):
        if i in regions:
            pixels, corner = regions[i]
            sources.append((pixels, f.landmarks * reduced.scale
                            - np.asarray(corner, dtype=np.float64)))
        else:
            sources.append((reduced.image, f.landmarks))
    return sources


def face_region(face: Face, scale: float) -> tuple[float, float, float, float]:
    """The part of the full-size photo that a face's chip and model crop are cut from: its box
    grown by AROUND times its size on every side (a crop turned 45° still lies inside)."""
    x1, y1, x2, y2 = (v * scale for v in face.box)
    grow = AROUND * max(x2 - x1, y2 - y1)
    return x1 - grow, y1 - grow, x2 + grow, y2 + grow


def lend_to_workers(gallery: Gallery) -> None:
    """This process's detector and model, for `analyse` here or in forked workers."""
    _WORKER.update(detector=gallery.detector, embedder=gallery.embedder,
                   max_pixels=gallery.settings.max_pixels,
                   video=(gallery.settings.video_rate, gallery.settings.video_max_seconds))


def analysed(gallery: Gallery, todo: list[PhotoFile], workers: int, import_sklearn: bool
             ) -> Iterator[list[AnalysedPhoto]]:
    """The photos analysed, chunk by chunk, by `workers` processes (in this one for one);
    `import_sklearn`: scikit-learn is imported on a thread meanwhile (clustering needs it
    at the end)."""
    # a video is a task of its own, started first (it takes as long as many photos)
    videos = [[item] for item in todo if is_video_path(Path(item.path))]
    tasks = videos + chunks([item for item in todo if not is_video_path(Path(item.path))],
                            workers)
    if workers <= 1:
        lend_to_workers(gallery)
        for chunk in tasks:
            yield analyse(chunk)
        return
    if gallery.embedder.device == "cpu" and "fork" in mp.get_all_start_methods():
        # forked from here, with the detector and model this process holds: a worker
        # starts in milliseconds instead of importing torch and loading both (seconds)
        lend_to_workers(gallery)
        # what exists now is out of the workers' garbage collector's sight, so that a
        # collection in a worker does not copy the pages it shares; this process (the
        # service lives on) sees it all again once they are forked
        gc.collect()
        gc.freeze()
        release_freed_memory()  # a worker's resident memory starts with this process's
        try:
            pool = mp.get_context("fork").Pool(workers, _init_forked)
        finally:
            gc.unfreeze()
    else:  # CUDA cannot be forked once initialised; elsewhere there is no fork
        threads = max(1, (os.cpu_count() or 1) // workers)
        pool = mp.get_context("spawn").Pool(
            workers, _init_worker, (gallery.settings, str(gallery.embedder.path),
                                         gallery.embedder.device, threads))
    with pool:
        if import_sklearn:
            # the workers are forked: scikit-learn may load meanwhile (a second and a
            # half of imports at the end otherwise; never while forking: import locks)
            threading.Thread(target=importlib.import_module, args=("sklearn.cluster",),
                             daemon=True).start()
        yield from pool.imap(analyse, tasks)
