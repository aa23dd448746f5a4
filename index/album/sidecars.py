"""The sidecar stage: facepair's part of a tagged photo's XMP (a sidecar, or the JPEG's own
packet) rewritten from what the store says; what another tool wrote is never touched."""

from __future__ import annotations

from pathlib import Path

from index.gallery import Gallery
from index.sidecars import sync_sidecars

Problem = tuple[str, str, str]  # path, problem, detail


def write_xmp(gallery: Gallery, path: Path, embed: bool = False) -> tuple[bool, list[Problem]]:
    """(Re)write facepair's regions of one tagged photo, making the sidecar (or, `embed`,
    the JPEG's packet) where there is none: whether it changed, and its problems."""
    changed, problems = sync_sidecars(gallery.store, [path], create=True, embed=embed)
    return bool(changed), problems
