"""Concurrent identify requests, batched: photos that arrive within a few milliseconds of each
other are detected together (`Detector.detect_batch`: photos of one size in one pass) and all
their faces embedded in one call, then each photo's faces are named on their own, among the
people of the collection its request works in.

One thread does the batched work, so waiting requests hold no worker thread; a request gets its
answer (or the error its photo caused) through a future. A request that gave up (timed out,
cancelled) before its photo was taken is skipped; once taken, its future can no longer be
cancelled, and no failure of one request stops the thread (`alive` says whether it runs:
the service's `/readyz` reports it).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from faces.embed import detect_and_embed
from index.gallery import FaceMatch, Gallery

log = logging.getLogger("facepair.batching")


class Busy(Exception):
    """Too much work waiting: come back later."""


@dataclass
class Job:
    image: np.ndarray
    threshold: float | None
    top_k: int | None
    future: Future = field(default_factory=Future)
    gallery: Gallery | None = None  # whose people its faces are named among (None: the batcher's)


class IdentifyBatcher:
    def __init__(self, gallery: Gallery, max_batch: int = 8, wait_ms: float = 5.0,
                 max_waiting: int = 32, max_bytes: int = 512 << 20) -> None:
        self.gallery, self.max_batch, self.wait = gallery, max_batch, wait_ms / 1000
        self.max_waiting, self.max_bytes = max_waiting, max_bytes
        self.waiting_bytes = 0  # decoded pixels waiting or in the batch at work
        self._count = threading.Lock()
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="identify-batcher", daemon=True)
        self.thread.start()

    def submit(self, image: np.ndarray, threshold: float | None = None,
               top_k: int | None = None, gallery: Gallery | None = None) -> Future:
        """A future of the photo's `FaceMatch` list, named among `gallery`'s people (default:
        the batcher's; the model and the detector are the batcher's gallery's). Raises `Busy`
        when `max_waiting` photos wait already (each holds its decoded pixels)."""
        with self._count:
            if self.queue.qsize() >= self.max_waiting:
                raise Busy(f"{self.max_waiting} photos are waiting to be identified")
            if self.waiting_bytes and self.waiting_bytes + image.nbytes > self.max_bytes:
                raise Busy(f"{self.waiting_bytes >> 20} MB of photos are waiting to be "
                           "identified")
            self.waiting_bytes += image.nbytes
        job = Job(image, threshold, top_k, gallery=gallery)
        self.queue.put(job)
        return job.future

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _take(self) -> list[Job] | None:
        first = self.queue.get()
        if first is None:
            return None
        batch, deadline = [first], time.monotonic() + self.wait
        while len(batch) < self.max_batch:
            try:
                job = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                self.queue.put(None)  # stop after this batch
                break
            batch.append(job)
        return batch

    def _loop(self) -> None:
        while (taken := self._take()) is not None:
            # a request that gave up is not worked on; the others can no longer be cancelled
            batch = [job for job in taken if job.future.set_running_or_notify_cancel()]
            try:
                if batch:
                    self._answer(batch)
            except Exception:  # never let one request stop the thread
                log.exception("identify batch failed")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(RuntimeError("identify failed"))
            finally:  # their pixels are let go: they count no more
                with self._count:
                    self.waiting_bytes -= sum(job.image.nbytes for job in taken)
                del batch, taken

    def _answer(self, batch: list[Job]) -> None:
        try:
            results = self._run(batch)
        except Exception as exc:  # e.g. a photo the detector cannot take: each on its own
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            for job in batch:
                try:
                    job.future.set_result(self._run([job])[0])
                except Exception as single:
                    job.future.set_exception(single)
            return
        for job, matches in zip(batch, results, strict=True):
            job.future.set_result(matches)

    def _run(self, batch: list[Job]) -> list[list[FaceMatch]]:
        g = self.gallery
        found = detect_and_embed(g.detector, g.embedder, [job.image for job in batch])
        return [(job.gallery or g).match(faces, vectors, job.threshold, job.top_k)
                for job, (faces, vectors) in zip(batch, found, strict=True)]
