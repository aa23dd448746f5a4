"""Operations: liveness, readiness, Prometheus metrics, and the web page."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from importlib import resources

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from index.errors import StoreUnavailable
from index.gallery import Gallery
from index.store import Store
from service.gate import page_policy
from service.problems import MEDIA, Problem, problem

log = logging.getLogger("facepair.service")
router = APIRouter()
CHECK_EVERY = 1.0  # seconds a readiness check of the store is reused
CHECK_WITHIN = 2.0  # seconds the store has to answer it


class StoreCheck:
    """Whether the store answers a round trip, asked at most once a second however many
    readiness checks come in (the others reuse the answer)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = asyncio.Lock()
        self.asked = -math.inf
        self.found: str | None = None  # what is wrong (None: it answered)

    async def problem(self) -> str | None:
        async with self.lock:
            if time.monotonic() - self.asked >= CHECK_EVERY:
                self.found = await self._ask()
                self.asked = time.monotonic()
            return self.found

    async def _ask(self) -> str | None:
        try:
            with anyio.fail_after(CHECK_WITHIN):
                await anyio.to_thread.run_sync(self.store.ping, abandon_on_cancel=True)
        except TimeoutError:
            return f"the gallery's database did not answer within {CHECK_WITHIN:g} s"
        except StoreUnavailable as exc:
            log.warning("not ready: %s", exc.message)
            return exc.public
        return None


@router.get("/healthz", tags=["health"])
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], responses={503: {"model": Problem, "content": {MEDIA: {}}}})
async def readyz(request: Request) -> Response:
    if not getattr(request.app.state, "ready", False):
        return problem(503, "not_ready", "the service is starting")
    if not request.app.state.batcher.alive:
        return problem(503, "not_ready", "the identify worker has stopped")
    g: Gallery = request.app.state.gallery
    wrong = await request.app.state.store_check.problem()
    if wrong is not None:
        return problem(503, StoreUnavailable.code, wrong, {"Retry-After": "5"})
    return Response(
        content=f'{{"status": "ready", "model": "{g.model}"}}', media_type="application/json"
    )


@router.get("/metrics", tags=["health"], response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    html = resources.files("service").joinpath("static/index.html").read_text()
    return HTMLResponse(html, headers={"Content-Security-Policy": page_policy(html)})


# the web app's files: a fixed list, nothing else of the package is served
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    if name not in STATIC:
        return problem(404, "not_found", f"no file {name!r} here")
    body = resources.files("service").joinpath(f"static/{name}").read_bytes()
    return Response(body, media_type=STATIC[name] + "; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})
