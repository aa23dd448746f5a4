"""The gallery's persistent store: one repository per concern over one database.

    store.people      people (names, notes), merges and deletions
    store.faces       enrolled faces, their photos and chips
    store.embeddings  vectors per model, nearest faces (calibration), exclusions
    store.albums      tagged album photos and the faces found in them
    store.clusters    unknown album faces: clusters, suggestions, what a user says of one
    store.different   pairs of look-alikes a user said are different people
    store.jobs        the album-job queue, progress and problems
    store.roots       photo libraries by name, which album photos and jobs point into
    store.keys        API keys (hashes) and the collection each works in
    store.meta        named values and counts
    store.changes     the change feed: what changed of what identify answers, in order
    store.collections the collections beside the default one (in the default one's store)

Repositories hand out records (`index.store.records`), never a driver's row or connection;
vectors and boxes are decoded inside. `store.transaction()` groups writes that must land
together; a repository's write inside it joins it. The database (SQLite in
`FACEPAIR_HOME/gallery.sqlite3`, or PostgreSQL: `FACEPAIR_STORE`) is brought to the newest
schema (Alembic) when it is opened. Each collection (`index.store.collections`) is a store of
its own: `Store(location, collection)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from index.store import copy
from index.store.albums import AlbumsRepository
from index.store.changes import ChangesRepository
from index.store.clusters import ClustersRepository
from index.store.collections import (
    DEFAULT,
    CollectionsRepository,
    collection_location,
    collection_name,
    registered,
    schema_of,
)
from index.store.database import Database, url_of
from index.store.different import DifferentPeopleRepository
from index.store.embeddings import EmbeddingsRepository
from index.store.faces import FacesRepository
from index.store.jobs import JobsRepository
from index.store.keys import KeysRepository
from index.store.meta import MetaRepository
from index.store.people import PeopleRepository
from index.store.records import (
    AlbumFace,
    AlbumFaceSummary,
    AlbumJob,
    AlbumPhoto,
    ApiKey,
    Change,
    Chip,
    Cluster,
    Collection,
    Embedded,
    NearestFaces,
    NewAlbumFace,
    NewFace,
    Person,
    PhotoRef,
    PhotoState,
    Problem,
    ReportFace,
    Root,
    StoredFace,
    Suggestion,
    shown,
)
from index.store.roots import RootsRepository

__all__ = ["DEFAULT", "AlbumFace", "AlbumFaceSummary", "AlbumJob", "AlbumPhoto", "ApiKey",
           "Change", "Chip", "Cluster", "Collection", "Embedded", "NearestFaces",
           "NewAlbumFace", "NewFace", "Person", "PhotoRef", "PhotoState", "Problem",
           "ReportFace", "Root", "Store", "StoredFace", "Suggestion", "collection_name",
           "compare_stores", "copy_store", "gallery_file", "registered", "shown"]


class Store:
    """The gallery's database and its repositories. Thread-safe."""

    def __init__(self, location: str | Path, collection: str = DEFAULT) -> None:
        """`location`: the default collection's file (SQLite) or a `postgresql://…` address;
        `collection`: the collection opened (its tables are made when first opened)."""
        self.collection = collection_name(collection)
        self.db = Database(collection_location(location, self.collection),
                           schema_of(self.collection))
        self.people = PeopleRepository(self.db)
        self.faces = FacesRepository(self.db)
        self.embeddings = EmbeddingsRepository(self.db)
        self.albums = AlbumsRepository(self.db)
        self.clusters = ClustersRepository(self.db)
        self.different = DifferentPeopleRepository(self.db)
        self.jobs = JobsRepository(self.db)
        self.roots = RootsRepository(self.db)
        self.keys = KeysRepository(self.db)
        self.meta = MetaRepository(self.db)
        self.changes = ChangesRepository(self.db)
        self.collections = CollectionsRepository(self.db)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Writes that land together or not at all (their changes join the feed as one)."""
        with self.db.transaction():
            yield

    def compact(self) -> None:
        self.db.compact()

    def ping(self) -> None:
        """Whether the database answers: returns, or raises `StoreUnavailable`."""
        self.db.ping()

    def problems(self) -> list[str]:
        """What an integrity check of the database finds wrong (none: it is whole)."""
        return self.db.problems()

    def close(self) -> None:
        self.changes.close()
        self.db.close()


def copy_store(src: Store, dst: Store, progress: Callable[[str, int], None] | None = None
               ) -> dict[str, int]:
    """Copy a gallery into an empty store (`index.store.copy`): rows copied per table."""
    return copy.copy(src.db, dst.db, progress)


def compare_stores(src: Store, dst: Store) -> list[str]:
    """What differs between two stores (none: they hold the same gallery)."""
    return copy.differences(src.db, dst.db)


def gallery_file(location: str | Path) -> Path | None:
    """The SQLite file a store location names (None: a PostgreSQL database)."""
    url = url_of(location)
    return Path(url.database or "") if url.get_backend_name() == "sqlite" else None
