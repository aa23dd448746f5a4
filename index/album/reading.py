"""What the analyse stage finds in a photo, and the reading half of it: a photo decoded at the
size detection works at. Torch-free, so that a process that only reads photos (a reading task
on a Ray node) starts in a fraction of a second."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faces.decode import Reduced, decode_reduced
from faces.errors import FacepairError
from index.album.scan import NOWHERE, PhotoFile
from index.store import PhotoRef

if TYPE_CHECKING:
    from faces.detect import Face


@dataclass
class AnalysedPhoto:
    """What a worker found in one photo."""

    path: str
    size: int
    mtime: float
    sha256: str
    width: int = 0
    height: int = 0
    faces: list[Face] = field(default_factory=list)
    vectors: np.ndarray | None = None
    chips: list[tuple[bytes, list]] = field(default_factory=list)
    error: str | None = None
    ref: PhotoRef = NOWHERE  # its root and path inside it
    shown: str = ""  # `root:path`
    # a video's (`index.album.video`): its length in seconds (None: a photo), and for each of
    # its faces (its tracks) the spans it was seen over (start, end seconds) and the time of
    # the frame its face is from; the faces seen in its sampled frames
    duration: float | None = None
    ranges: list[list[tuple[float, float]]] | None = None
    times: list[float] = field(default_factory=list)
    frames: int = 0
    sampled: int = 0


def decoded(item: PhotoFile, longest: int, limit: int) -> tuple[AnalysedPhoto, Reduced | None]:
    """A photo decoded at the size detection works at (a JPEG at a DCT-reduced size:
    `decode_reduced`); None, and the photo's error, where it cannot be read."""
    photo = AnalysedPhoto(item.path, item.size, item.mtime, item.sha256, ref=item.ref,
                          shown=item.shown)
    try:
        reduced = decode_reduced(Path(item.path), longest, limit)
    except FacepairError as exc:
        photo.error = exc.message
        return photo, None
    photo.width, photo.height = reduced.size
    return photo, reduced

