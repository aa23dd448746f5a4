"""The sidecar stage: facepair's part of a tagged photo's XMP (a sidecar, or the JPEG's own
packet) rewritten from what the store says; what another tool wrote is never touched."""

from __future__ import annotations

from index.gallery import Gallery
from index.store import PhotoRef

Problem = tuple[str, str, str]  # path, problem, detail


def write_xmp(gallery: Gallery, photos: list[PhotoRef], embed: bool = False
              ) -> tuple[int, list[Problem]]:
    """(Re)write facepair's regions of these tagged photos, making the sidecar (or, `embed`,
    the JPEG's packet) where there is none: how many changed, and their problems, in order
    (one look at where the roots are for all of them)."""
    return gallery.sync_sidecars(photos, create=True, embed=embed)
