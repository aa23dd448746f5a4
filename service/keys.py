"""API keys: random tokens shown once, stored as SHA-256 hashes (a key has 256 random bits, so a
fast hash is enough). Scopes nest: read < write < admin.

A key works in one collection (`default` unless made for another), with its scope there; an
admin key made for no collection works in every one (a request names it in the
`X-Facepair-Collection` header, else `default`) and alone manages the collections."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from index.store import DEFAULT, Store, collection_name

SCOPES = ("read", "write", "admin")
HEADER = "X-Facepair-Collection"


@dataclass(frozen=True)
class Grant:
    """What a key may do: its scope, in its collection (None: in every collection)."""

    scope: str
    collection: str | None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(store: Store, scope: str, name: str = "", collection: str | None = DEFAULT
               ) -> tuple[int, str]:
    """A new key of this scope in this collection (None: every collection, admin keys only):
    (id, the key itself — shown once, never stored). `store`: the default collection's, which
    keeps the keys."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if collection is None and scope != "admin":
        raise ValueError("only an admin key may work in every collection: name a collection")
    if collection is not None:
        collection = collection_name(collection)
        if collection != DEFAULT:
            store.collections.get(collection)  # `no_collection` where it was never made
    key = "fp_" + secrets.token_urlsafe(32)
    return store.keys.add(name, scope, digest(key), collection), key


def grant_of(store: Store, key: str) -> Grant | None:
    found = store.keys.grant_of(digest(key))
    return None if found is None else Grant(found[1], found[2])


def allows(scope: str, needed: str) -> bool:
    return SCOPES.index(scope) >= SCOPES.index(needed)


def collection_for(grant: Grant | None, asked: str | None) -> str | None:
    """The collection a request works in: the one its key works in, or, for a key of every
    collection (or no key: the service runs without keys), the one it asks for (`default`
    where it asks for none). None: the key may not work in the collection asked for."""
    name = collection_name(asked) if asked else None
    if grant is None or grant.collection is None:
        return name or DEFAULT
    return grant.collection if name in (None, grant.collection) else None
