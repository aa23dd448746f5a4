"""What is settled before a request reaches a route: its key and its size (the `Gate`), and the
headers every answer carries; the page's Content-Security-Policy."""

from __future__ import annotations

import base64
import hashlib
import re

import anyio
from fastapi import Response

from faces.errors import FacepairError
from service import keys
from service.problems import answer, problem
from service.settings import ServiceSettings

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
HEADER = keys.HEADER.lower().encode()
DOCS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/metrics"})


class Gate:
    """What is settled before a request's body is read: its key, where the route needs one (a
    request without a known key is answered 401 unread) and the collection it works in (a
    key's own, or the one a key of every collection asks for), then its size (early by
    Content-Length, else while it streams in). Every answer gets the security headers."""

    def __init__(self, app, settings: ServiceSettings) -> None:
        self.app, self.settings, self.limit = app, settings, settings.max_upload_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_secured(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        refused = await self._refused(scope)
        if refused is not None:
            return await refused(scope, receive, send_secured)
        length = dict(scope.get("headers", [])).get(b"content-length")
        too_big = problem(
            413, "upload_too_large", f"the request body is over the limit of {self.limit:,} bytes"
        )
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
            return problem(
                401,
                "no_key",
                "send an API key: 'Authorization: Bearer <key>' "
                "(create one with `facepair keys create`)",
                challenge,
            )
        try:
            grant = await anyio.to_thread.run_sync(keys.grant_of, state.galleries.registry,
                                                   token.strip())
        except FacepairError as exc:  # the store away or busy: 503, come back later
            return answer(exc)
        if grant is None:
            return problem(401, "bad_key", "this API key is not known (revoked?)", challenge)
        if docs and not keys.allows(grant.scope, "read"):
            return problem(403, "scope", f"this key's scope is '{grant.scope}'; this needs "
                           "'read'")
        asked = dict(scope.get("headers", [])).get(HEADER, b"").decode("latin-1")
        try:
            collection = keys.collection_for(grant, asked.strip() or None)
        except FacepairError as exc:
            return answer(exc)
        if collection is None:
            return problem(403, "collection_not_allowed",
                           f"this key works in the collection '{grant.collection}' only")
        scope.setdefault("state", {}).update(key_grant=grant, collection=collection)
        return None


def page_policy(html: str) -> str:
    """The page's Content-Security-Policy: nothing from elsewhere; its own scripts and styles
    (served from /static, or inline by hash), no framing."""

    def sources(tag: str) -> str:
        return " ".join(["'self'"] + [
            "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
            for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
        ])

    return (
        f"default-src 'none'; script-src {sources('script')}; style-src {sources('style')}; "
        "img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
