"""The scan stage: the photos under an album's folder, and which of them changed since they
were last tagged (root and path inside it, size, mtime; the content hash when only the mtime
moved)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from faces.decode import is_photo_path
from faces.tags import fingerprint, tagged_photo
from faces.video import is_video_path
from index.files import sha256_of
from index.roots import Place
from index.store import PhotoRef, Store

NOWHERE = PhotoRef(0, "")  # a photo read for a preview, in no root

Problem = tuple[str, str, str]  # path, problem, detail


class PhotoFile(NamedTuple):
    """A photo to analyse, as its file was found."""

    path: str  # its file on this host
    size: int
    mtime: float
    sha256: str
    ref: PhotoRef  # its root and path inside it
    shown: str  # `root:path`


class Changes(NamedTuple):
    """The photos to analyse, how many are as they were tagged, and those that cannot be
    read (counted as failed)."""

    todo: list[PhotoFile]
    unchanged: int
    unreadable: list[Problem]


def scan(root: Path) -> tuple[list[Path], int]:
    """Photos and videos under `root` (sorted) and the number of other files (our sidecars
    aside)."""
    photos, skipped = [], 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if is_photo_path(path) or is_video_path(path):
                photos.append(path)
            elif not name.endswith(".xmp") and not name.startswith("."):
                skipped += 1
    return photos, skipped


Finder = Callable[[Path], Place | None]  # the root a photo of this host lies in


def changes(store: Store, model: str, photos: list[Path], only_tagged: bool,
            find: Finder) -> Changes:
    """Which photos to analyse: those the store has not seen in their root with this model,
    size and tag files, or whose content changed. A photo only touched (same hash) is marked
    so and skipped; a broken link, a file gone or unreadable is a problem."""
    todo: list[PhotoFile] = []
    unchanged, unreadable = 0, []
    for path in photos:
        place = find(path)
        if place is None:  # (the folder scanned lies in a root: its photos do too)
            unreadable.append((str(path), "unreadable", "inside no root"))
            continue
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                raise IsADirectoryError(path)
        except OSError as exc:
            unreadable.append((place.shown, "unreadable", f"{type(exc).__name__}: {exc}"))
            continue
        if only_tagged and not tagged_photo(path):
            continue
        known = store.albums.state(place.ref)
        if (known is not None and known.model == model and known.size == st.st_size
                and known.tags == fingerprint(path)):
            if known.mtime == st.st_mtime:
                unchanged += 1
                continue
            sha = sha256_of(path)  # (read errors here end the job as failed)
            if sha == known.sha256:  # touched, not changed
                store.albums.touch(place.ref, st.st_mtime)
                unchanged += 1
                continue
        else:
            sha = sha256_of(path)
        todo.append(PhotoFile(str(path), st.st_size, st.st_mtime, sha, place.ref, place.shown))
    return Changes(todo, unchanged, unreadable)


def listed(photos: list[Path], only_tagged: bool, find: Finder) -> list[PhotoFile]:
    """Photos to read without recording anything (a preview): every one that can be
    stat'ed, unhashed."""
    found = []
    for path in photos:
        if only_tagged and not tagged_photo(path):
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        place = find(path)
        found.append(PhotoFile(str(path), st.st_size, st.st_mtime, "",
                               place.ref if place else NOWHERE,
                               place.shown if place else str(path)))
    return found
