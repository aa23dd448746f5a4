"""API keys: random tokens shown once, stored as SHA-256 hashes (a key has 256 random bits, so a
fast hash is enough). Scopes nest: read < write < admin."""

from __future__ import annotations

import hashlib
import secrets

from index.store import Store

SCOPES = ("read", "write", "admin")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(store: Store, scope: str, name: str = "") -> tuple[int, str]:
    """A new key of this scope: (id, the key itself — shown once, never stored)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    key = "fp_" + secrets.token_urlsafe(32)
    return store.keys.add(name, scope, digest(key)), key


def scope_of(store: Store, key: str) -> str | None:
    found = store.keys.scope_of(digest(key))
    return None if found is None else found[1]


def allows(scope: str, needed: str) -> bool:
    return SCOPES.index(scope) >= SCOPES.index(needed)
