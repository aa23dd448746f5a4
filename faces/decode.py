"""Photo bytes → an upright RGB uint8 array. The project's one decoder.

Every supported kind of photo goes through `decode`: the header is read first and a photo over
the pixel limit is refused before its pixels are decoded (decompression bombs); EXIF orientation
is applied; grayscale, CMYK, palette, 16-bit and alpha photos come out as plain RGB.
"""

from __future__ import annotations

import io
import warnings
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from faces.errors import CorruptPhoto, EmptyPhoto, PhotoTooLarge, UnsupportedPhoto
from faces.settings import get_settings

pillow_heif.register_heif_opener()

# Pillow's names for the kinds we accept (PGM/PPM/PBM are "PPM").
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "HEIF", "PPM")
PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic",
     ".heif", ".pgm", ".ppm", ".pbm", ".mpo"}
)

Source = bytes | str | PathLike[str] | BinaryIO


def _open(source: Source, name: str | None = None) -> tuple[BinaryIO, str]:
    """A binary stream over the photo and a name for messages; refuses empty input."""
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise EmptyPhoto(f"{name or 'the photo'}: empty (0 bytes)")
        return io.BytesIO(source), name or "photo"
    if isinstance(source, str | PathLike):
        path = Path(source)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise EmptyPhoto(f"{path}: no such file") from exc
        if path.is_dir():
            raise UnsupportedPhoto(f"{path}: is a folder, not a photo")
        if size == 0:
            raise EmptyPhoto(f"{path}: the file is empty (0 bytes)")
        return path.open("rb"), str(path)
    return source, "photo"


def _to_rgb(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit / float grayscale
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.clip(arr * (255.0 / peak), 0, 255).round().astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode == "P" and "transparency" in im.info
    )
    if has_alpha:  # flatten onto white, as a photo viewer shows it
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def decode(source: Source, max_pixels: int | None = None, name: str | None = None) -> np.ndarray:
    """Decode a photo (bytes, a path or a binary stream) to an upright H×W×3 uint8 RGB array.

    Raises a `PhotoError` naming the problem: empty, not a photo of a supported kind,
    over `max_pixels` (checked from the header, before decoding), or corrupt/truncated.
    """
    limit = max_pixels or get_settings().max_pixels
    stream, name = _open(source, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                im = Image.open(stream, formats=FORMATS)
            except Image.DecompressionBombError as exc:
                raise PhotoTooLarge(
                    f"{name}: too many pixels (over the limit of {limit:,}); refused unread"
                ) from exc
            except UnidentifiedImageError as exc:
                raise UnsupportedPhoto(
                    f"{name}: not a photo of a supported kind "
                    f"(JPEG, PNG, WebP, BMP, TIFF, GIF, HEIC/HEIF, PGM)"
                ) from exc
            width, height = im.size
            if width <= 0 or height <= 0:
                raise CorruptPhoto(f"{name}: the header gives an empty size {width}×{height}")
            if width * height > limit:
                raise PhotoTooLarge(
                    f"{name}: {width}×{height} is {width * height:,} pixels, over the limit "
                    f"of {limit:,}"
                )
            try:
                im.load()
                im = ImageOps.exif_transpose(im) or im
                return _to_rgb(im)
            except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
                raise CorruptPhoto(f"{name}: the {im.format} data is corrupt or truncated "
                                   f"({exc})") from exc
    finally:
        if isinstance(source, str | PathLike):
            stream.close()


def is_photo_path(path: Path) -> bool:
    """Whether a file name looks like a photo we can decode (by suffix)."""
    return path.suffix.lower() in PHOTO_SUFFIXES
