"""Collections: the one a request works in; and, for an admin key of every collection, the
list of them with their sizes, a new one, and deleting one for good."""

from __future__ import annotations

from fastapi import APIRouter, Request

from index.collections import Galleries
from index.results import CollectionOut, DeletedCollectionOut
from service.deps import Collection, Run, need
from service.keys import Grant
from service.schemas import CollectionIn, CollectionsOut, CurrentCollectionOut

router = APIRouter(tags=["collections"])


def galleries(request: Request) -> Galleries:
    return request.app.state.galleries


@router.get("/v1/collection", dependencies=[need("read")])
async def current_collection(request: Request, name: Collection) -> CurrentCollectionOut:
    """The collection this request works in: the key's own, or, for a key of every
    collection, the one named in the `X-Facepair-Collection` header (else `default`)."""
    grant: Grant | None = getattr(request.state, "key_grant", None)
    return CurrentCollectionOut(name=name, scope=grant.scope if grant else None,
                                every_collection=grant is None or grant.collection is None)


@router.get("/v1/collections", dependencies=[need("admin", every_collection=True)])
async def list_collections(run: Run, request: Request) -> CollectionsOut:
    """Every collection, the default one first, with its size."""
    return CollectionsOut(collections=await run.work(galleries(request).all))


@router.post("/v1/collections", status_code=201,
             dependencies=[need("admin", every_collection=True)])
async def create_collection(run: Run, request: Request, body: CollectionIn) -> CollectionOut:
    """Make a collection: a gallery of its own (keys for it: `facepair keys create
    --collection NAME`)."""
    return await run.work(galleries(request).create, body.name, write=True)


@router.delete("/v1/collections/{name}", dependencies=[need("admin", every_collection=True)])
async def delete_collection(run: Run, request: Request, name: str) -> DeletedCollectionOut:
    """Delete a collection for good: its people, faces, albums, thresholds and keys (not
    `default`)."""
    return await run.work(galleries(request).delete, name, write=True)


