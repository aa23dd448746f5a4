"""Operations: liveness, readiness, Prometheus metrics, and the web page."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from index.gallery import Gallery
from service.gate import page_policy
from service.problems import MEDIA, Problem, problem

router = APIRouter()


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
