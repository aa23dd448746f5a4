"""Every error the API returns is an `application/problem+json` body (RFC 9457) naming the
problem: `type`, `title`, `status`, `detail` and facepair's stable `code`."""

from __future__ import annotations

import logging
import threading
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from faces.errors import (
    FacepairError,
    ModelError,
    NoCluster,
    NotFound,
    PhotoError,
    PhotoTooLarge,
    UnsupportedPhoto,
)
from index.errors import Conflict, Refused, StorageFull, StoreBusy, StoreUnavailable

log = logging.getLogger("facepair.service")


class Outages:
    """The store-away lines of the log: one every `every` seconds however many requests are
    answered so meanwhile (a replica answers thousands a second while PostgreSQL restarts),
    with how many were."""

    def __init__(self, every: float = 10.0) -> None:
        self.every, self.last, self.since = every, -every, 0
        self.lock = threading.Lock()

    def log(self, message: str) -> None:
        with self.lock:
            now = time.monotonic()
            if now - self.last < self.every:
                self.since += 1
                return
            since, self.since, self.last = self.since, 0, now
        log.warning("%s%s", message, f" ({since} more answered so in the last "
                    f"{self.every:g} s)" if since else "")


outages = Outages()
MEDIA = "application/problem+json"


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str


TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Too large",
          415: "Unsupported media type", 422: "Unprocessable request",
          500: "Internal error", 503: "Unavailable", 504: "Timed out"}


# The HTTP status of each kind of domain error (the most specific class listed wins). A 5xx
# is the server's condition (a full disk, a busy or unreachable store, a model file): 503
# with Retry-After.
STATUS: dict[type[FacepairError], int] = {
    FacepairError: 400,
    PhotoError: 400,
    UnsupportedPhoto: 415,
    PhotoTooLarge: 413,
    NotFound: 404,
    Conflict: 409,
    Refused: 422,
    NoCluster: 422,
    ModelError: 503,
    StorageFull: 503,
    StoreBusy: 503,
    StoreUnavailable: 503,
}


def status_of(exc: FacepairError) -> int:
    return next(STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS)


def problem(status: int, code: str, detail: str, headers: dict | None = None) -> JSONResponse:
    body = Problem(type=f"https://facepair.dev/problems/{code}",
                   title=TITLES.get(status, "Error"), status=status, detail=detail, code=code)
    return JSONResponse(body.model_dump(), status_code=status, media_type=MEDIA,
                        headers=headers)


def answer(exc: FacepairError) -> JSONResponse:
    """The problem a domain error is answered with. The database's address and the driver's
    words stay in the log: a client is told the store is away, not where it is."""
    status = status_of(exc)
    if isinstance(exc, StoreUnavailable):
        outages.log(exc.message)
        return problem(status, exc.code, exc.public, {"Retry-After": "5"})
    if status >= 500:  # the server's condition (busy, full disk): come back later
        return problem(status, exc.code, exc.message, {"Retry-After": "5"})
    return problem(status, exc.code, exc.message)


class ApiError(Exception):
    """An error raised by the service layer itself (auth, limits)."""

    def __init__(self, status: int, code: str, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


def install(app: FastAPI) -> None:
    @app.exception_handler(FacepairError)
    async def facepair_error(_: Request, exc: FacepairError) -> JSONResponse:
        return answer(exc)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "invalid_request", _validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(500, "internal_error", f"an internal error: {type(exc).__name__}")
