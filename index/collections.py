"""Collections: galleries of their own on one server (`index.store.collections` keeps each in
tables of its own). Listed with their sizes, made and deleted here; `Galleries` holds a
service process's open galleries, one per collection, each with its album-job runner."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from index.album.queue import AlbumJobs
from index.gallery import Gallery
from index.results import CollectionOut, DeletedCollectionOut
from index.settings import IndexSettings
from index.store import DEFAULT, Store, collection_name


def settings_of(settings: IndexSettings, name: str) -> IndexSettings:
    """The settings with this collection's name in them."""
    return settings.model_copy(update={"collection": collection_name(name)})


def _size(name: str, created: str | None, store: Store) -> CollectionOut:
    counts = store.meta.counts()
    return CollectionOut(name=name, created=created, people=counts["people"],
                         faces=counts["faces"], photos=counts["photos"])


def listing(registry: Store, location: str | Path) -> list[CollectionOut]:
    """Every collection, the default one first, with its size (`registry`: the default
    collection's store, at `location`)."""
    found = [_size(DEFAULT, None, registry)]
    for made in registry.collections.all():
        store = Store(location, made.name)
        try:
            found.append(_size(made.name, made.created, store))
        finally:
            store.close()
    return found


def create(registry: Store, location: str | Path, name: str) -> CollectionOut:
    """Make a collection, its tables at once (`conflict` where it is there already)."""
    made = registry.collections.add(name)
    store = Store(location, made.name)
    try:
        return _size(made.name, made.created, store)
    finally:
        store.close()


def delete(registry: Store, settings: IndexSettings, home: Path, name: str
           ) -> DeletedCollectionOut:
    """Delete a collection for good: its people, faces, albums and keys, its tables and this
    host's search index of it."""
    name = collection_name(name)
    revoked = registry.collections.remove(name)
    shutil.rmtree(settings_of(settings, name).collection_home(home), ignore_errors=True)
    return DeletedCollectionOut(deleted_collection=name, revoked_keys=revoked)


class Galleries:
    """A service process's galleries, one per collection: the default one (given), the others
    opened when first asked for, sharing its model and detector, and closed together. Each
    runs its own album jobs (`AlbumJobs`)."""

    def __init__(self, default: Gallery, album_workers: int) -> None:
        self.default, self.workers = default, album_workers
        self.location = default.settings.store_location(default.home)
        # name → its gallery, its album jobs and when the collection was made
        default.follow()
        self._open: dict[str, tuple[Gallery, AlbumJobs, str | None]] = {
            DEFAULT: (default, AlbumJobs(default, album_workers), None)}
        self._lock = threading.Lock()
        self._opening: dict[str, threading.Lock] = {}  # a lock per collection being opened
        self._closed = False

    @property
    def registry(self) -> Store:
        """The default collection's store: the collections made and the keys."""
        return self.default.store

    def opened(self, name: str) -> tuple[Gallery, AlbumJobs, str | None]:
        """The collection's open gallery. Asked of the registry each time: a collection that
        another process deleted is not there (`no_collection`), and one it deleted and made
        again is opened afresh. A gallery being opened holds up only the requests for it."""
        name = collection_name(name)
        made = None if name == DEFAULT else self.registry.collections.get(name).created
        with self._lock:
            opening = self._opening.setdefault(name, threading.Lock())
        with opening:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the service is stopping")
                opened = self._open.get(name)
                if opened is not None and opened[2] == made:
                    return opened
            gallery = Gallery(settings_of(self.default.settings, name), home=self.default.home,
                              detector=self.default.detector, embedder=self.default.embedder)
            gallery.follow()
            with self._lock:
                stale = self._open.pop(name, None)
                self._open[name] = opened = gallery, AlbumJobs(gallery, self.workers), made
        if stale is not None:
            stale[1].close()
            stale[0].close(save=False)
        return opened

    def get(self, name: str) -> Gallery:
        """The collection's gallery (`no_collection` where it was never made)."""
        return self.opened(name)[0]

    def jobs(self, name: str) -> AlbumJobs:
        return self.opened(name)[1]

    def resume(self) -> list[str]:
        """Open the collections whose album jobs wait for a service process (queued, or
        stopped with the process that ran them), so that their jobs go on; their names."""
        resumed = []
        for made in self.registry.collections.all():
            store = Store(self.location, made.name)
            try:
                waiting = store.jobs.waiting()
            finally:
                store.close()
            if waiting and not self._closed:
                self.get(made.name)
                resumed.append(made.name)
        return resumed

    def all(self) -> list[CollectionOut]:
        return listing(self.registry, self.location)

    def create(self, name: str) -> CollectionOut:
        return create(self.registry, self.location, name)

    def delete(self, name: str) -> DeletedCollectionOut:
        """Delete a collection, its gallery closed in this process first."""
        name = collection_name(name)
        if name == DEFAULT:  # refused (`default_collection`), nothing closed
            return delete(self.registry, self.default.settings, self.default.home, name)
        self.registry.collections.get(name)  # `no_collection` before anything is closed
        with self._lock:
            opened = self._open.pop(name, None)
        if opened is not None:
            opened[1].close()
            opened[0].close(save=False)  # its index goes with it
        return delete(self.registry, self.default.settings, self.default.home, name)

    def close(self, keep_default: bool = False) -> None:
        """Stop every album-job runner and close the galleries (the default one's left open
        with `keep_default`: its caller's)."""
        with self._lock:
            self._closed = True
            opened, self._open = list(self._open.items()), {}
        for _, (_, jobs, _) in opened:
            jobs.close()
        for name, (gallery, _, _) in opened:
            if name != DEFAULT or not keep_default:
                gallery.close()
