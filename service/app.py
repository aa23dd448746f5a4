"""The HTTP API: a thin layer over `index.Gallery`. Routes under /v1, OpenAPI docs at /docs,
a small web page at /.

- API keys (`facepair keys create`), on by default: `Authorization: Bearer <key>`; no or an
  unknown key → 401, a key of too small a scope → 403.
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

import asyncio
import base64
import hashlib
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import Depends, FastAPI, File, Form, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import AfterValidator, BaseModel, Field
from starlette.requests import HTTPConnection

from faces.decode import decode
from faces.errors import FacepairError
from faces.memory import keep_freed_memory
from faces.settings import Settings, get_settings
from index import albums
from index.gallery import Gallery
from index.jobs import AlbumJobs
from service import boxes, keys
from service.batching import Busy, IdentifyBatcher
from service.problems import MEDIA, ApiError, Problem, install, problem

T = TypeVar("T")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
log = logging.getLogger("facepair.service")

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {MEDIA: {}}, "description": d}
    for code, d in ((400, "Bad input"), (401, "No or unknown API key"),
                    (403, "The key's scope is too small"), (404, "Not found"),
                    (413, "Upload or photo too large"), (415, "Not a photo"),
                    (422, "Invalid request, or no usable face"))
}

Id = Annotated[int, PathParam(ge=1, le=2**62, description="An id from this API.")]


def _utf8(value: str | None) -> str | None:
    if value is not None:
        value.encode("utf-8")  # lone surrogates (valid JSON escapes) are no text to store
    return value


Text = Annotated[str, AfterValidator(_utf8)]


class PersonIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    note: Text = Field("", max_length=2000)


class PersonPatch(BaseModel):
    name: Text | None = Field(None, min_length=1, max_length=200)
    note: Text | None = Field(None, max_length=2000)


class MergeIn(BaseModel):
    other: int = Field(ge=1, le=2**62, description="The person merged into this one.")


class PersonOut(BaseModel):
    id: int
    name: str
    note: str
    created: str
    faces: int


class Named(BaseModel):
    id: int
    name: str


class CandidateOut(Named):
    score: float


class FaceMatchOut(BaseModel):
    box: list[float]
    detector_score: float
    person: Named | None
    score: float | None
    candidates: list[CandidateOut]


class Rate(BaseModel):
    estimate: float
    low: float = Field(description="95 % interval (Wilson)")
    high: float
    count: int
    of: int


class ThresholdOut(BaseModel):
    """The identify threshold in force and what the gallery's own faces say of it."""

    threshold: float
    source: str = Field(description="'gallery' (estimated from the enrolled faces), 'card' "
                        "(the model card's) or 'manual' (calibrate --apply)")
    target_fpir: float
    card_threshold: float
    gallery_threshold: float | None
    faces: int
    people: int
    fpir: Rate | None = Field(description="Estimated share of strangers named")
    fnir: Rate | None = Field(description="Estimated share of enrolled people missed")


class IdentifyOut(BaseModel):
    threshold: float
    threshold_in_force: ThresholdOut | None = Field(
        description="The gallery's threshold, its source and estimated rates (null when the "
        "request gave a threshold)")
    faces: list[FaceMatchOut]


class StatusOut(BaseModel):
    model: str
    people: int
    faces: int
    verify_threshold: float
    identify: ThresholdOut


class AlbumJobIn(BaseModel):
    path: str = Field(min_length=1, max_length=4096,
                      description="A folder on the server, inside FACEPAIR_ALBUM_ROOTS.")
    xmp: bool = Field(False, description="Write XMP sidecars next to the photos.")


class Bearer(HTTPBearer):
    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())


bearer = Bearer(auto_error=False, description="An API key from `facepair keys create`.")


def need(scope: str) -> Any:  # a dependency (FastAPI types `Depends(...)` as Any)
    async def check(request: Request,
                    cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        settings: Settings = request.app.state.settings
        if not settings.auth:
            return
        challenge = {"WWW-Authenticate": "Bearer"}
        if cred is None:
            raise ApiError(401, "no_key", "send an API key: 'Authorization: Bearer <key>' "
                           "(create one with `facepair keys create`)", challenge)
        have = getattr(request.state, "key_scope", None)  # the gate looked it up
        if have is None:
            gallery: Gallery = request.app.state.gallery
            have = await anyio.to_thread.run_sync(keys.scope_of, gallery.store,
                                                  cred.credentials)
        if have is None:
            raise ApiError(401, "bad_key", "this API key is not known (revoked?)", challenge)
        if not keys.allows(have, scope):
            raise ApiError(403, "scope", f"this key's scope is '{have}'; this needs '{scope}'")

    return Depends(check)


SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer")]
DOCS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/metrics"})


class Gate:
    """What is settled before a request's body is read: its key, where the route needs one (a
    request without a known key is answered 401 unread), then its size (early by
    Content-Length, else while it streams in). Every answer gets the security headers."""

    def __init__(self, app, settings: Settings) -> None:
        self.app, self.settings, self.limit = app, settings, settings.max_upload_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_secured(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  *SECURITY_HEADERS]}
            await send(message)

        refused = await self._refused(scope)
        if refused is not None:
            return await refused(scope, receive, send_secured)
        length = dict(scope.get("headers", [])).get(b"content-length")
        too_big = problem(413, "upload_too_large",
                          f"the request body is over the limit of {self.limit:,} bytes")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await too_big(scope, receive, send_secured)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await too_big(scope, receive, send_secured)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send_secured)

    async def _refused(self, scope) -> Response | None:
        """A 401/403 answer for a request whose route needs a key it does not bring."""
        path = scope.get("path", "")
        docs = path in DOCS and self.settings.protect_docs
        if not self.settings.auth or not (path.startswith("/v1/") or docs):
            return None
        state = scope["app"].state
        if not getattr(state, "ready", False):
            return None  # the route answers 503
        challenge = {"WWW-Authenticate": "Bearer"}
        header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            return problem(401, "no_key", "send an API key: 'Authorization: Bearer <key>' "
                           "(create one with `facepair keys create`)", challenge)
        have = await anyio.to_thread.run_sync(keys.scope_of, state.gallery.store, token.strip())
        if have is None:
            return problem(401, "bad_key", "this API key is not known (revoked?)", challenge)
        if docs and not keys.allows(have, "read"):
            return problem(403, "scope", f"this key's scope is '{have}'; this needs 'read'")
        scope.setdefault("state", {})["key_scope"] = have
        return None


def page_policy(html: str) -> str:
    """The page's Content-Security-Policy: nothing from elsewhere, its own inline script and
    style only (by hash), no framing."""
    def hashes(tag: str) -> str:
        return " ".join(
            "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
            for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S))

    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
            "img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")


def parse_box(text: str) -> list[float]:
    try:
        return boxes.parse_box(text)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", f"box: {exc}") from None


def the_gallery(request: Request) -> Gallery:
    if not getattr(request.app.state, "ready", False):
        raise ApiError(503, "not_ready", "the service is starting")
    return request.app.state.gallery


G = Annotated[Gallery, Depends(the_gallery)]


def create_app(settings: Settings | None = None, gallery: Gallery | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = gallery is None
        # a long-lived process: keep freed blocks for the next request, within 64 MB
        keep_freed_memory(64 << 20, arenas=2)
        if settings.threads:  # FACEPAIR_THREADS: torch's CPU threads in this process
            import torch

            torch.set_num_threads(settings.threads)
        app.state.gallery = gallery or await anyio.to_thread.run_sync(
            partial(Gallery, settings=settings))
        app.state.jobs = AlbumJobs(app.state.gallery, settings.album_workers)
        app.state.batcher = IdentifyBatcher(app.state.gallery, settings.batch_max,
                                            settings.batch_wait_ms, settings.identify_queue,
                                            settings.identify_queue_mb << 20)
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            await anyio.to_thread.run_sync(app.state.jobs.close)
            await anyio.to_thread.run_sync(app.state.batcher.close)
            executor.shutdown(wait=False, cancel_futures=True)
            if own:
                app.state.gallery.close()

    app = FastAPI(
        title="facepair", version="0.1.0", lifespan=lifespan,
        description="Recognise friends and family in your photos, on your own machine. "
        "Send `Authorization: Bearer <key>` (keys: `facepair keys create`).",
        responses=ERRORS,
    )
    app.state.settings, app.state.ready = settings, False
    install(app)
    # the inference slots are taken inside the worker threads, so that a thread whose request
    # gave up keeps its slot until its work ends: the cap holds whatever the timeouts do
    slots = threading.BoundedSemaphore(settings.inference_threads)
    executor = ThreadPoolExecutor(settings.inference_threads + settings.max_waiting,
                                  thread_name_prefix="facepair-work")
    in_flight = 0
    registry = CollectorRegistry()
    requests = Counter("facepair_requests", "HTTP requests", ["method", "route", "status"],
                       registry=registry)
    latency = Histogram("facepair_request_seconds", "Request latency", ["route"],
                        registry=registry)

    app.add_middleware(Gate, settings=settings)

    @app.middleware("http")  # outside the gate: what it refuses is counted too
    async def measure(request: Request, call_next):
        start = time.perf_counter()
        status = "500"  # unless a response comes back (an unhandled error is answered outside)
        try:
            response = await call_next(request)
            status = str(response.status_code)
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", "unmatched")
            # labels from a small known set only: a made-up method must not add a series
            method = request.method if request.method in METHODS else "other"
            requests.labels(method, route, status).inc()
            latency.labels(route).observe(time.perf_counter() - start)


    def busy(what: str) -> ApiError:
        return ApiError(503, "busy", f"{what}; try again shortly", {"Retry-After": "2"})

    async def work(fn: Callable[..., T], *args: Any, write: bool = False, **kwargs: Any) -> T:
        """Run blocking work (decoding, the networks, SQLite) in an inference slot, off the
        event loop. Past the timeout: work that has not started is dropped (504, nothing was
        done); a read that has started is abandoned (504; it keeps its slot to the end); a
        write that has started runs to completion and is answered."""
        nonlocal in_flight
        if in_flight >= settings.max_waiting:
            raise busy(f"{settings.max_waiting} requests are waiting")
        done: Future = Future()

        def run() -> None:
            with slots:
                if not done.set_running_or_notify_cancel():
                    return  # the request gave up while waiting for a slot
                try:
                    done.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    done.set_exception(exc)

        in_flight += 1
        try:
            executor.submit(run)
            answer = asyncio.wrap_future(done)
            try:
                return await asyncio.wait_for(asyncio.shield(answer), settings.request_timeout)
            except TimeoutError:
                if done.cancel():
                    raise ApiError(504, "timeout", "the request waited over "
                                   f"{settings.request_timeout:g} s for its turn; nothing "
                                   "was done") from None
                if write:
                    return await answer
                raise ApiError(504, "timeout", f"the request took over "
                               f"{settings.request_timeout:g} s") from None
        finally:
            in_flight -= 1

    async def read(upload: UploadFile) -> bytes:
        data = await upload.read()
        if not data:
            raise ApiError(400, "empty_photo", f"{upload.filename or 'the photo'} is empty")
        return data

    def source(upload: UploadFile) -> str:
        name = (upload.filename or "photo").replace("\n", " ")[:200]
        name = name.encode("utf-8", "replace").decode("utf-8")
        return f"upload:{name}"

    # -- health -------------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"],
             responses={503: {"model": Problem, "content": {MEDIA: {}}}})
    async def readyz(request: Request) -> Response:
        if not getattr(request.app.state, "ready", False):
            return problem(503, "not_ready", "the service is starting")
        if not request.app.state.batcher.alive:
            return problem(503, "not_ready", "the identify worker has stopped")
        g: Gallery = request.app.state.gallery
        return Response(content=f'{{"status": "ready", "model": "{g.model}"}}',
                        media_type="application/json")

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        html = resources.files("service").joinpath("static/index.html").read_text()
        return HTMLResponse(html, headers={"Content-Security-Policy": page_policy(html)})

    # -- people -------------------------------------------------------------------------------

    @app.post("/v1/people", status_code=201, tags=["people"], dependencies=[need("write")])
    async def create_person(body: PersonIn, g: G) -> PersonOut:
        person = await work(g.create_person, body.name, body.note, write=True)
        return PersonOut(**person.to_dict())

    @app.get("/v1/people", tags=["people"], dependencies=[need("read")])
    async def list_people(g: G) -> dict[str, list[PersonOut]]:
        people = await work(g.people)
        return {"people": [PersonOut(**p.to_dict()) for p in people]}

    @app.get("/v1/people/{person_id}", tags=["people"], dependencies=[need("read")])
    async def get_person(person_id: Id, g: G) -> dict:
        def get() -> dict:
            person = g.store.person(person_id)
            return {**person.to_dict(), "photos": [
                {"photo_id": f.photo_id, "face_id": f.id, "box": f.box, "source": f.source}
                for f in g.store.faces_of(person_id)]}
        return await work(get)

    @app.patch("/v1/people/{person_id}", tags=["people"], dependencies=[need("write")])
    async def update_person(person_id: Id, body: PersonPatch, g: G) -> PersonOut:
        person = await work(g.update_person, person_id, body.name, body.note, write=True)
        return PersonOut(**person.to_dict())

    @app.delete("/v1/people/{person_id}", tags=["people"], dependencies=[need("write")])
    async def delete_person(person_id: Id, g: G) -> dict:
        """Delete a person for good: rows, face chips, embeddings and index entries."""
        return await work(g.delete_person, person_id, write=True)

    @app.post("/v1/people/{person_id}/merge", tags=["people"], dependencies=[need("write")])
    async def merge_people(person_id: Id, body: MergeIn, g: G) -> PersonOut:
        person = await work(g.merge, person_id, body.other, write=True)
        return PersonOut(**person.to_dict())

    @app.post("/v1/people/{person_id}/photos", status_code=201, tags=["people"],
              dependencies=[need("write")])
    async def enroll(
        person_id: Id, g: G, photo: Annotated[UploadFile, File(description="A photo of them")],
        face: Annotated[Literal["center", "largest"] | None, Form()] = None,
        box: Annotated[str | None, Form(max_length=200,
                                        description="x1,y1,x2,y2 of the face")] = None,
    ) -> dict:
        """Enroll one face of a photo; 422 names why a photo cannot be used (`no_face`,
        `several_faces`, `face_too_small`, `duplicate_photo`). In a photo of several faces,
        without `face` or `box`, the one face that matches the person's enrolled faces."""
        where = parse_box(box) if box else None
        data = await read(photo)
        await work(g.store.person, person_id)  # 404 before any decoding
        return await work(g.enroll, person_id, data, source=source(photo), face=face, box=where,
                          write=True)

    @app.post("/v1/people/{person_id}/enrollments", tags=["people"],
              dependencies=[need("write")])
    async def enroll_several(
        person_id: Id, g: G,
        photos: Annotated[list[UploadFile], File(description="Photos of them (1–50)")],
        face: Annotated[Literal["center", "largest"] | None, Form()] = None,
    ) -> dict:
        """Enroll one face of each photo. A photo of one face gives that face; in a photo of
        several, without `face`, the one face that matches the person's other photos of this
        call and their enrolled faces (above the verify threshold, and no other face does);
        otherwise it is refused as `several_faces`. Per photo: `enrolled` with the face, or
        `refused` with the reason."""
        if not 1 <= len(photos) <= 50:
            raise ApiError(422, "invalid_request", "send 1 to 50 photos")
        data = [await read(p) for p in photos]
        await work(g.store.person, person_id)  # 404 before any decoding
        results = await work(g.enroll_photos, person_id, data, [source(p) for p in photos],
                             face, write=True)
        rows = [{"photo": source(p), "status": "enrolled", "face": r}
                if not isinstance(r, FacepairError) else
                {"photo": source(p), "status": "refused",
                 "error": {"code": r.code, "message": r.message}}
                for p, r in zip(photos, results, strict=True)]
        person = await work(g.store.person, person_id)
        return {"person": person.to_dict(), "enrolled": sum(r["status"] == "enrolled"
                                                             for r in rows), "photos": rows}

    @app.delete("/v1/people/{person_id}/photos/{photo_id}", tags=["people"],
                dependencies=[need("write")])
    async def remove_photo(person_id: Id, photo_id: Id, g: G) -> dict:
        return await work(g.remove_photo, person_id, photo_id, write=True)

    # -- recognition --------------------------------------------------------------------------

    @app.post("/v1/identify", tags=["recognition"], dependencies=[need("read")])
    async def identify(
        request: Request, g: G,
        photo: Annotated[UploadFile, File(description="The photo to name faces in")],
        threshold: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
        top_k: Annotated[int | None, Form(ge=1, le=100)] = None,
    ) -> IdentifyOut:
        """Name every face in a photo, or say unknown (`person: null`)."""
        data = await read(photo)
        name = source(photo)

        def prepare() -> tuple[float, dict | None, Any]:
            if threshold is not None:  # the caller's: no estimate needed
                return threshold, None, decode(data, settings.max_pixels, name=name)
            estimate = g.estimate(wait=False)
            photo = decode(data, settings.max_pixels, name=name)
            return estimate.threshold, estimate.to_dict(), photo

        thr, in_force, image = await work(prepare)
        # detection and embedding: batched with the requests arriving at the same time
        try:
            future = request.app.state.batcher.submit(image, thr, top_k)
        except Busy as exc:
            raise busy(str(exc)) from None
        try:
            matches = await asyncio.wait_for(asyncio.wrap_future(future),
                                             settings.request_timeout)
        except TimeoutError as exc:
            raise ApiError(504, "timeout", f"the request took over {settings.request_timeout:g}"
                           " s") from exc
        return IdentifyOut(threshold=round(thr, 4),
                           threshold_in_force=None if in_force is None
                           else ThresholdOut(**in_force),
                           faces=[m.to_dict() for m in matches])

    @app.get("/v1/status", tags=["recognition"], dependencies=[need("read")])
    async def status(g: G) -> StatusOut:
        """The model, the gallery's size, and the thresholds in force: for identify, where it
        comes from and its estimated FPIR and FNIR with their 95 % intervals."""
        return StatusOut(**await work(g.status, False))

    @app.post("/v1/verify", tags=["recognition"], dependencies=[need("read")])
    async def verify(
        g: G, a: Annotated[UploadFile, File(description="A photo")],
        b: Annotated[UploadFile | None, File(description="Another photo")] = None,
        person_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
        threshold: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
    ) -> dict:
        """Same person or not: two photos (their largest faces), or a photo and a person."""
        if (b is None) == (person_id is None):
            raise ApiError(422, "invalid_request", "send either a second photo 'b' or a "
                           "'person_id', not both or neither")
        first = await read(a)
        other: bytes | int = person_id if b is None else await read(b)  # type: ignore[assignment]
        return await work(g.verify, first, other, threshold)

    @app.post("/v1/detect", tags=["recognition"], dependencies=[need("read")])
    async def detect(g: G, photo: Annotated[UploadFile, File()]) -> dict:
        """Every face in a photo: box, detector score and five landmarks."""
        data = await read(photo)
        name = source(photo)
        faces = await work(
            lambda: g.detector.detect(decode(data, settings.max_pixels, name=name)))
        return {"faces": [f.to_dict() for f in faces]}

    # -- albums -------------------------------------------------------------------------------

    def allowed(path: str) -> Path:
        try:
            root = Path(path).expanduser().resolve()
        except (ValueError, OSError, RuntimeError) as exc:
            raise ApiError(422, "invalid_request", f"not a usable folder path: {exc}") from exc
        for allowed_root in settings.album_roots:
            base = allowed_root.expanduser().resolve()
            if root == base or base in root.parents:
                if not root.is_dir():  # (is_dir is False for names the OS refuses)
                    raise ApiError(404, "not_found", f"{path}: no such folder")
                return root
        raise ApiError(403, "path_not_allowed", f"{path} is not inside a folder the service may "
                       "read (FACEPAIR_ALBUM_ROOTS)")

    @app.post("/v1/albums/jobs", status_code=202, tags=["albums"], dependencies=[need("write")])
    async def start_album_job(body: AlbumJobIn, request: Request, g: G) -> dict:
        """Tag every photo in a server-side folder, in the background."""
        root = allowed(body.path)
        job_id = await work(request.app.state.jobs.submit, root, body.xmp, write=True)
        return await work(albums.job, g, job_id)

    @app.get("/v1/albums/jobs/{job_id}", tags=["albums"], dependencies=[need("read")])
    async def album_job(job_id: Id, g: G) -> dict:
        """A job's state and counts: total, done, faces, named, unknown, …"""
        return await work(albums.job, g, job_id)

    @app.delete("/v1/albums/jobs/{job_id}", status_code=202, tags=["albums"],
                dependencies=[need("write")])
    async def cancel_album_job(job_id: Id, request: Request, g: G) -> dict:
        """Stop a queued or running job after the photos in hand."""
        await work(albums.job, g, job_id)  # 404 first
        if not await work(g.store.cancel_album_job, job_id, write=True):
            raise ApiError(409, "not_running", f"album job {job_id} is not queued or running")
        return {"id": job_id, "status": "cancelling"}

    return app
