"""A photo as the gallery takes it (its bytes, or a path to read), and a face chip as the
gallery stores it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from faces.errors import NotFound
from index.errors import Refused

PhotoInput = bytes | Path


def photo_name(photo: PhotoInput, source: str | None = None) -> str:
    """The name a photo goes by in answers and errors: `source`, else its path, else
    "upload"."""
    if source:
        return source
    return "upload" if isinstance(photo, bytes | bytearray) else str(Path(photo))


def read_photo(photo: PhotoInput, source: str | None = None) -> tuple[bytes, str]:
    """The bytes of a photo and its source name."""
    name = photo_name(photo, source)
    if isinstance(photo, bytes | bytearray):
        return bytes(photo), name
    path = Path(photo)
    try:
        return path.read_bytes(), name
    except FileNotFoundError as exc:
        raise NotFound(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise Refused("not_a_file", f"{path} is a folder, not a photo") from exc


def encode_chip(chip: np.ndarray) -> bytes:
    """A face chip as stored: JPEG, quality 95."""
    buffer = io.BytesIO()
    Image.fromarray(chip).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()
