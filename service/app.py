"""The HTTP API: a thin layer over `index.Gallery`. Routes under /v1, OpenAPI docs at /docs,
a small web page at /.

- API keys (`facepair keys create`), on by default: `Authorization: Bearer <key>`; no or an
  unknown key → 401, a key of too small a scope → 403.
- Collections: a request works in its key's collection; a key of every collection names one
  in the `X-Facepair-Collection` header (else `default`). Each collection's gallery is opened
  when first asked for (`index.collections.Galleries`) and closed at shutdown.
- Every error is `application/problem+json` (service/problems.py), never a bare 500.
- The key is checked before a request's body is read; bodies over `FACEPAIR_MAX_UPLOAD_BYTES`
  are refused (413) before they are read whole.
- Detection and embedding run in worker threads (at most `FACEPAIR_INFERENCE_THREADS` at once,
  a cap that holds even for requests that gave up), never on the event loop. A read that
  outlasts `FACEPAIR_REQUEST_TIMEOUT` answers 504; a write that has started runs to completion
  and answers what it did (a 504 of a write means nothing was done). Work waiting beyond
  `FACEPAIR_MAX_WAITING` requests (or `FACEPAIR_IDENTIFY_QUEUE` photos) is answered 503 with
  `Retry-After`.
- Every answer carries `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and
  `Referrer-Policy: no-referrer`; the page a Content-Security-Policy of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from faces.memory import keep_freed_memory
from index.collections import Galleries
from index.gallery import Gallery
from index.replica import owner_name
from index.store import DEFAULT
from service.batching import IdentifyBatcher
from service.deps import Runner
from service.gate import Gate
from service.problems import install
from service.routes import albums, collections, ops, people, recognition
from service.routes.ops import StoreCheck
from service.schemas import ERRORS
from service.settings import ServiceSettings, get_settings

log = logging.getLogger("facepair.service")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def create_app(settings: ServiceSettings | None = None, gallery: Gallery | None = None
               ) -> FastAPI:
    """The service: its routers, the gate before them, metrics around them; the galleries (one
    per collection, each with its album jobs) and the identify batcher live from start-up to
    shutdown (`gallery`: the default collection's, one of the caller's, left open)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # a long-lived process: keep freed blocks for the next request, within 64 MB
        keep_freed_memory(64 << 20, arenas=2)
        if settings.threads:  # FACEPAIR_THREADS: torch's CPU threads in this process
            import torch

            torch.set_num_threads(settings.threads)
        # the default collection's gallery: the others are opened when first asked for
        app.state.gallery = gallery or await anyio.to_thread.run_sync(
            partial(Gallery, settings=settings.model_copy(update={"collection": DEFAULT}))
        )
        app.state.store_check = StoreCheck(app.state.gallery.store)
        app.state.galleries = Galleries(app.state.gallery, settings.album_workers)
        # the other collections' album jobs go on once their galleries are open
        threading.Thread(target=_resume, args=(app.state.galleries,), name="resume-jobs",
                         daemon=True).start()
        app.state.batcher = IdentifyBatcher(
            app.state.gallery,
            settings.batch_max,
            settings.batch_wait_ms,
            settings.identify_queue,
            settings.identify_queue_mb << 20,
        )
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            await anyio.to_thread.run_sync(app.state.batcher.close)
            app.state.runner.close()
            await anyio.to_thread.run_sync(partial(app.state.galleries.close,
                                                   keep_default=gallery is not None))

    app = FastAPI(
        title="facepair",
        version="0.1.0",
        lifespan=lifespan,
        description="Recognise friends and family in your photos, on your own machine. "
        "Send `Authorization: Bearer <key>` (keys: `facepair keys create`).",
        responses=ERRORS,
    )
    app.state.settings, app.state.ready = settings, False
    app.state.runner = Runner(settings)
    install(app)
    for module in (ops, people, recognition, albums, collections):
        app.include_router(module.router)
    app.add_middleware(Gate, settings=settings)
    _measure(app)
    return app


def _replica(app: FastAPI, registry: CollectorRegistry) -> None:
    """Which process of the service this is (one series, its value 1: the same name as its
    album jobs' owner), and how many faces its own search index holds."""
    Gauge("facepair_replica_info", "This process of the service (host:pid:random part)",
          ["replica"], registry=registry).labels(owner_name()).set(1)

    def faces() -> float:
        gallery = getattr(app.state, "gallery", None)
        return float(len(gallery.index)) if gallery is not None else 0.0

    Gauge("facepair_gallery_faces", "Enrolled faces in this process's search index",
          registry=registry).set_function(faces)
def _resume(galleries: Galleries) -> None:
    try:
        galleries.resume()
    except Exception:  # the service runs on; each collection's jobs go on when it is asked for
        log.exception("resuming the collections' album jobs failed")


def _measure(app: FastAPI) -> None:
    """Prometheus counters and latencies by route, outside the gate (what it refuses counts
    too), with labels from small known sets only: a made-up method must not add a series."""
    registry = app.state.metrics = CollectorRegistry()
    requests = Counter(
        "facepair_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram("facepair_request_seconds", "Request latency", ["route"], registry=registry)
    _replica(app, registry)

    @app.middleware("http")
    async def measure(request: Request, call_next):
        start = time.perf_counter()
        status = "500"  # unless a response comes back (an unhandled error is answered outside)
        try:
            response = await call_next(request)
            status = str(response.status_code)
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", "unmatched")
            method = request.method if request.method in METHODS else "other"
            requests.labels(method, route, status).inc()
            latency.labels(route).observe(time.perf_counter() - start)
