"""The sidecar stage: facepair's part of a tagged photo's XMP (a sidecar, or the JPEG's own
packet) rewritten from what the store says; what another tool wrote is never touched."""

from __future__ import annotations

from index.gallery import Gallery
from index.store import PhotoRef

Problem = tuple[str, str, str]  # path, problem, detail


def write_xmp(gallery: Gallery, photo: PhotoRef, embed: bool = False
              ) -> tuple[bool, list[Problem]]:
    """(Re)write facepair's regions of one tagged photo, making the sidecar (or, `embed`,
    the JPEG's packet) where there is none: whether it changed, and its problems."""
    changed, problems = gallery.sync_sidecars([photo], create=True, embed=embed)
    return bool(changed), problems
