"""Photo bytes → an upright RGB uint8 array. The project's one decoder.

Every supported kind of photo goes through `decode`: the header is read first and a photo over
the pixel limit is refused before its pixels are decoded (decompression bombs); EXIF orientation
is applied; grayscale, CMYK, palette, 16-bit and alpha photos come out as plain RGB.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from faces.errors import CorruptPhoto, EmptyPhoto, NotFound, PhotoTooLarge, UnsupportedPhoto
from faces.settings import DEFAULTS

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
            raise NotFound(f"{path}: no such file") from exc
        if path.is_dir():
            raise UnsupportedPhoto(f"{path}: is a folder, not a photo")
        if size == 0:
            raise EmptyPhoto(f"{path}: the file is empty (0 bytes)")
        return path.open("rb"), str(path)
    return source, "photo"


BAND = 256  # rows converted at a time
ORIENTATION = 0x0112  # the EXIF tag


def _gray8(values: np.ndarray) -> np.ndarray:
    """16-bit, 32-bit integer or float grayscale values as 8 bits, in integers only (the high
    byte of 16-bit values; wider integers clipped to 16 bits first, floats to 0–255)."""
    if values.dtype.kind == "f":
        return np.clip(values, 0, 255).astype(np.uint8)
    if values.dtype != np.uint16:
        values = np.clip(values, 0, 65535).astype(np.uint16)
    return (values >> 8).astype(np.uint8)


def _band_rgb(band: Image.Image, wide: bool) -> np.ndarray:
    """One band of rows as RGB uint8."""
    if wide:  # 16-bit / 32-bit / float grayscale
        return np.repeat(_gray8(np.asarray(band))[:, :, None], 3, axis=2)
    if band.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            band.mode == "P" and "transparency" in band.info):
        # flattened onto white, as a photo viewer shows it
        rgba = band.convert("RGBA")
        band = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(band if band.mode == "RGB" else band.convert("RGB"))


def _to_rgb(im: Image.Image) -> np.ndarray:
    """The image as H×W×3 uint8 RGB, converted a band of rows at a time into the array that
    is returned: besides the decoded image, only that array and one band are held (never a
    float copy of a large photo, nor whole-image intermediates)."""
    width, height = im.size
    wide = im.mode in ("I;16", "I;16B", "I;16L", "I", "F")
    if height * width <= BAND * BAND:  # small photos: at once
        return np.array(_band_rgb(im, wide))
    out = np.empty((height, width, 3), dtype=np.uint8)
    for top in range(0, height, BAND):
        out[top : top + BAND] = _band_rgb(im.crop((0, top, width, min(height, top + BAND))),
                                          wide)
    return out


def decode(source: Source, max_pixels: int = DEFAULTS.max_pixels, name: str | None = None
           ) -> np.ndarray:
    """Decode a photo (bytes, a path or a binary stream) to an upright H×W×3 uint8 RGB array.

    Raises a `PhotoError` naming the problem: empty, not a photo of a supported kind,
    over `max_pixels` (checked from the header, before decoding), or corrupt/truncated.
    """
    return _decode(source, max_pixels, name, None)[0]


@dataclass(frozen=True)
class Reduced:
    """A photo decoded at a reduced size, upright: `image`, `scale` full-size pixels to one of
    its pixels (1.0: decoded in full), and the full upright size (width, height)."""

    image: np.ndarray
    scale: float
    size: tuple[int, int]


def decode_reduced(source: Source, longest: int, max_pixels: int = DEFAULTS.max_pixels,
                   name: str | None = None) -> Reduced:
    """As `decode`, at the smallest size whose longer side keeps at least `longest` pixels
    where the format decodes at reduced sizes: a JPEG's DCT scaling decodes it at 1/2, 1/4 or
    1/8 of its size in a fraction of the time and memory; a HEIC that holds a large enough
    thumbnail is decoded from it. Other formats are decoded in full. EXIF orientation is
    applied to the reduced image."""
    image, size = _decode(source, max_pixels, name, longest)
    return Reduced(image, size[0] / image.shape[1], size)


def _draft(im: Image.Image, longest: int) -> None:
    """Ask a JPEG for the largest DCT reduction that keeps `longest` pixels on its longer
    side; a HEIC for its smallest embedded thumbnail that keeps as many (pillow_heif's draft:
    a thumbnail that is a scaled copy of the image; none such, the image itself)."""
    width, height = im.size
    if im.format == "HEIF":
        share = min(1.0, longest / max(width, height))
        im.draft(None, (math.ceil(width * share), math.ceil(height * share)))
        return
    for step in (8, 4, 2):
        if max(width, height) / step >= longest:
            im.draft(None, (-(-width // step), -(-height // step)))
            return


def _decode(source: Source, limit: int, name: str | None, longest: int | None
            ) -> tuple[np.ndarray, tuple[int, int]]:
    """The upright RGB pixels (reduced where `longest` asks and the format allows) and the
    photo's full upright size (width, height)."""
    with _loaded(source, limit, name, longest) as (im, orientation, name, stored):
        try:
            ImageOps.exif_transpose(im, in_place=True)
            return _to_rgb(im), shown_size(stored, orientation)
        except _BROKEN as exc:
            raise _corrupt(name, im, exc) from exc


def decode_regions(source: Source, boxes: Sequence[Sequence[float]],
                   max_pixels: int = DEFAULTS.max_pixels, name: str | None = None
                   ) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Parts of a photo at full size, upright: for each box (x1, y1, x2, y2 in pixels of the
    photo as shown, clipped to it) its RGB pixels and where its top left corner lies. The
    photo is decoded once, in full, but only the parts become arrays, each turned upright on
    its own: the whole of a 12-megapixel photo as an array would be 36 MB more, and its EXIF
    orientation applied another copy."""
    with _loaded(source, max_pixels, name, None) as (im, orientation, name, _):
        stored = im.size
        shown = shown_size(stored, orientation)
        parts = []
        for box in boxes:
            x1, y1 = (max(0, math.floor(v)) for v in box[:2])
            x2, y2 = min(shown[0], math.ceil(box[2])), min(shown[1], math.ceil(box[3]))
            if x2 <= x1 or y2 <= y1:
                raise ValueError(f"{name}: the region {tuple(box)} lies outside the photo")
            # the box's corners in the stored image: the inverse of the orientation's turn
            corners = [turn(x / shown[0], y / shown[1], _INVERSE.get(orientation, orientation))
                       for x, y in ((x1, y1), (x2, y2))]
            us, vs = [c[0] * stored[0] for c in corners], [c[1] * stored[1] for c in corners]
            try:
                part = im.crop((round(min(us)), round(min(vs)), round(max(us)), round(max(vs))))
            except _BROKEN as exc:
                raise _corrupt(name, im, exc) from exc
            if orientation in _TRANSPOSE:
                part = part.transpose(_TRANSPOSE[orientation])
            parts.append((_to_rgb(part), (x1, y1)))
        return parts


def orientation_of(im: Image.Image) -> int:
    """A photo's EXIF orientation, 1–8 (1 where it has none, or a value out of range)."""
    value = int(im.getexif().get(ORIENTATION, 1) or 1)
    return value if value in range(1, 9) else 1


def shown_size(stored: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The width and height of a photo as shown (its EXIF orientation applied)."""
    return stored if orientation < 5 else (stored[1], stored[0])


def turn(u: float, v: float, orientation: int) -> tuple[float, float]:
    """Where a normalised point (u across, v down) of the stored image lies once the image
    is shown as EXIF `orientation` says."""
    return {
        1: (u, v), 2: (1 - u, v), 3: (1 - u, 1 - v), 4: (u, 1 - v),
        5: (v, u), 6: (1 - v, u), 7: (1 - v, 1 - u), 8: (v, 1 - u),
    }[orientation]


# what Pillow raises on corrupt or truncated data
_BROKEN = (OSError, SyntaxError, ValueError, EOFError, IndexError)


def _corrupt(name: str, im: Image.Image, exc: Exception) -> CorruptPhoto:
    return CorruptPhoto(f"{name}: the {im.format} data is corrupt or truncated ({exc})")


_INVERSE = {6: 8, 8: 6}  # the other orientations undo themselves
# what Pillow's exif_transpose does for each orientation
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


@contextmanager
def _loaded(source: Source, limit: int, name: str | None, longest: int | None
            ) -> Iterator[tuple[Image.Image, int, str, tuple[int, int]]]:
    """The photo opened, checked against the pixel limit and decoded (a JPEG at a reduced
    size where `longest` asks), with its EXIF orientation (1–8), a name for messages and its
    stored size in full (width, height).
    Raises a `PhotoError` naming the problem."""
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
                orientation = orientation_of(im)
                if longest is not None and im.format in ("JPEG", "HEIF"):
                    _draft(im, longest)
                im.load()
            except (*_BROKEN, TypeError) as exc:
                raise _corrupt(name, im, exc) from exc
            yield im, orientation, name, (width, height)
    finally:
        if isinstance(source, str | PathLike):
            stream.close()


def is_photo_path(path: Path) -> bool:
    """Whether a file name looks like a photo we can decode (by suffix)."""
    return path.suffix.lower() in PHOTO_SUFFIXES
