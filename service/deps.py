"""What routes depend on: the caller's key, the collection it works in and that collection's
gallery, the settings, the runner that does the blocking work, and reading uploads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request, UploadFile
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from index.album.queue import AlbumJobs
from index.collections import Galleries
from index.gallery import Gallery
from service import boxes, keys
from service.problems import ApiError
from service.settings import ServiceSettings

T = TypeVar("T")


class Bearer(HTTPBearer):
    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())


bearer = Bearer(auto_error=False, description="An API key from `facepair keys create`.")


def need(scope: str, every_collection: bool = False) -> Any:
    """A dependency: the request's key has this scope in the collection it works in (`every
    collection`: an admin key of every collection, which manages them)."""

    async def check(
        request: Request, cred: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> None:
        settings: ServiceSettings = request.app.state.settings
        if not settings.auth:
            return
        challenge = {"WWW-Authenticate": "Bearer"}
        if cred is None:
            raise ApiError(
                401,
                "no_key",
                "send an API key: 'Authorization: Bearer <key>' "
                "(create one with `facepair keys create`)",
                challenge,
            )
        grant = getattr(request.state, "key_grant", None)  # the gate looked it up
        if grant is None:
            grant = await _grant(request, cred.credentials)
        if grant is None:
            raise ApiError(401, "bad_key", "this API key is not known (revoked?)", challenge)
        if not keys.allows(grant.scope, scope):
            raise ApiError(403, "scope", f"this key's scope is '{grant.scope}'; this needs "
                           f"'{scope}'")
        if every_collection and grant.collection is not None:
            raise ApiError(403, "scope", f"this key works in the collection "
                           f"'{grant.collection}' only; this needs an admin key of every "
                           "collection")

    return Depends(check)


async def _grant(request: Request, key: str) -> keys.Grant | None:
    """The key's grant, and the collection the request works in, where the gate has not
    settled them."""
    galleries: Galleries = request.app.state.galleries
    grant = await anyio.to_thread.run_sync(keys.grant_of, galleries.registry, key)
    if grant is not None:
        request.state.collection = _collection(grant, request)
        request.state.key_grant = grant
    return grant


def _collection(grant: keys.Grant | None, request: Request) -> str:
    collection = keys.collection_for(grant, request.headers.get(keys.HEADER, "").strip() or None)
    if collection is None:
        assert grant is not None
        raise ApiError(403, "collection_not_allowed",
                       f"this key works in the collection '{grant.collection}' only")
    return collection


def the_collection(request: Request) -> str:
    """The collection the request works in: settled with its key (the gate, `need`), or,
    where the service runs without keys, the one it asks for (`default` where it asks for
    none)."""
    if not getattr(request.app.state, "ready", False):
        raise ApiError(503, "not_ready", "the service is starting")
    chosen = getattr(request.state, "collection", None)
    if chosen is not None:
        return chosen
    if request.app.state.settings.auth:  # no key was checked: nothing is given away
        raise ApiError(401, "no_key", "send an API key: 'Authorization: Bearer <key>'",
                       {"WWW-Authenticate": "Bearer"})
    return _collection(None, request)


def parse_box(text: str) -> list[float]:
    try:
        return boxes.parse_box(text)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", f"box: {exc}") from None


async def the_opened(request: Request) -> tuple[Gallery, AlbumJobs]:
    """The gallery and the album-job runner of the collection the request works in (opened
    when first asked for); asked once a request, however many dependencies want them."""
    name = the_collection(request)
    galleries: Galleries = request.app.state.galleries
    gallery, jobs, _ = await anyio.to_thread.run_sync(galleries.opened, name)
    return gallery, jobs


async def the_gallery(opened: tuple[Gallery, AlbumJobs] = Depends(the_opened)) -> Gallery:
    return opened[0]


async def the_jobs(opened: tuple[Gallery, AlbumJobs] = Depends(the_opened)) -> AlbumJobs:
    return opened[1]


def the_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


def busy(what: str) -> ApiError:
    return ApiError(503, "busy", f"{what}; try again shortly", {"Retry-After": "2"})


class Runner:
    """Blocking work (decoding, the networks, SQLite) in inference slots, off the event loop.

    The slots are taken inside the worker threads, so that a thread whose request gave up
    keeps its slot until its work ends: `FACEPAIR_INFERENCE_THREADS` holds whatever the
    timeouts do. Past `FACEPAIR_MAX_WAITING` requests in flight, 503 `busy`."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.slots = threading.BoundedSemaphore(settings.inference_threads)
        self.executor = ThreadPoolExecutor(
            settings.inference_threads + settings.max_waiting, thread_name_prefix="facepair-work"
        )
        self.in_flight = 0  # touched on the event loop only

    async def work(self, fn: Callable[..., T], *args: Any, write: bool = False, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in a slot. Past the timeout: work that has not started is
        dropped (504, nothing was done); a read that has started is abandoned (504; it keeps
        its slot to the end); a write that has started runs to completion and is answered."""
        timeout = self.settings.request_timeout
        if self.in_flight >= self.settings.max_waiting:
            raise busy(f"{self.settings.max_waiting} requests are waiting")
        done: Future = Future()

        def run() -> None:
            with self.slots:
                if not done.set_running_or_notify_cancel():
                    return  # the request gave up while waiting for a slot
                try:
                    done.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    done.set_exception(exc)

        self.in_flight += 1
        try:
            self.executor.submit(run)
            answer = asyncio.wrap_future(done)
            try:
                return await asyncio.wait_for(asyncio.shield(answer), timeout)
            except TimeoutError:
                if done.cancel():
                    raise ApiError(
                        504,
                        "timeout",
                        f"the request waited over {timeout:g} s for its turn; nothing was done",
                    ) from None
                if write:
                    return await answer
                raise ApiError(504, "timeout", f"the request took over {timeout:g} s") from None
        finally:
            self.in_flight -= 1

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def the_runner(request: Request) -> Runner:
    return request.app.state.runner


G = Annotated[Gallery, Depends(the_gallery)]
Jobs = Annotated[AlbumJobs, Depends(the_jobs)]
Collection = Annotated[str, Depends(the_collection)]
S = Annotated[ServiceSettings, Depends(the_settings)]
Run = Annotated[Runner, Depends(the_runner)]


async def read(upload: UploadFile) -> bytes:
    data = await upload.read()
    if not data:
        raise ApiError(400, "empty_photo", f"{upload.filename or 'the photo'} is empty")
    return data


def source(upload: UploadFile) -> str:
    name = (upload.filename or "photo").replace("\n", " ")[:200]
    name = name.encode("utf-8", "replace").decode("utf-8")
    return f"upload:{name}"
