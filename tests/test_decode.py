"""faces.decode on every supported kind of photo and on bad input, with real LFW/ORL photos."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faces.decode import _to_rgb, decode
from faces.errors import (
    CorruptPhoto,
    EmptyPhoto,
    NotFound,
    PhotoError,
    PhotoTooLarge,
    UnsupportedPhoto,
)
from tests.conftest import upright


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def original(face_photo: Path) -> Image.Image:
    return Image.open(face_photo).convert("RGB")


@pytest.mark.parametrize(
    ("fmt", "kw", "max_diff"),
    [
        ("JPEG", {"quality": 95}, 6.0),
        ("PNG", {}, 0.0),
        ("WEBP", {"lossless": True}, 0.0),
        ("BMP", {}, 0.0),
        ("TIFF", {}, 0.0),
        ("GIF", {}, 25.0),  # 256-colour palette
        ("HEIF", {"quality": 90}, 8.0),
    ],
)
def test_each_format_decodes_and_shows_the_face(original, detector, fmt, kw, max_diff):
    photo = decode(_encode(original, fmt, **kw))
    assert photo.shape == (250, 250, 3) and photo.dtype == np.uint8
    diff = np.abs(photo.astype(float) - np.asarray(original, dtype=float)).mean()
    assert diff <= max_diff, f"{fmt}: mean pixel difference {diff:.2f}"
    faces = detector.detect(photo)
    assert faces and upright(faces[0])


def test_animated_gif_gives_its_first_frame(original, detector):
    blank = Image.new("RGB", original.size, (0, 0, 0))
    data = _encode(original, "GIF", save_all=True, append_images=[blank, blank], duration=100)
    photo = decode(data)
    assert photo.mean() > 40  # not the black frames
    assert detector.detect(photo)


def test_exif_rotated_jpeg_comes_out_upright(original, detector):
    wide = original.crop((0, 25, 250, 225))  # 250×200, so the rotation shows in the shape
    stored = wide.transpose(Image.Transpose.ROTATE_90)  # pixels on their side, 200×250
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = _encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    photo = decode(data)
    assert photo.shape == (200, 250, 3)
    faces = detector.detect(photo)
    assert faces and upright(faces[0])
    # The stored pixels alone show the face on its side: the EXIF step is what made it upright.
    sideways = detector.detect(np.asarray(stored))
    assert not sideways or not upright(sideways[0])


def test_grayscale_pgm_from_orl(orl_dir, detector):
    photo = decode(orl_dir / "s1" / "1.pgm")
    assert photo.shape == (112, 92, 3)
    assert np.array_equal(photo[..., 0], photo[..., 1])
    assert detector.detect(photo)


def test_cmyk_jpeg(original, detector):
    data = _encode(original.convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    photo = decode(data)
    diff = np.abs(photo.astype(float) - np.asarray(original, dtype=float)).mean()
    assert diff < 10, f"CMYK round trip differs by {diff:.1f}"
    assert detector.detect(photo)


def test_png_with_alpha_is_flattened_on_white(original, detector):
    rgba = original.convert("RGBA")
    alpha = np.full((250, 250), 255, dtype=np.uint8)
    alpha[:, :30] = 0  # a transparent band on the left
    rgba.putalpha(Image.fromarray(alpha))
    photo = decode(_encode(rgba, "PNG"))
    assert (photo[:, :30] == 255).all()
    assert np.array_equal(photo[:, 30:], np.asarray(original)[:, 30:])
    assert detector.detect(photo)


def test_sixteen_bit_grayscale_png(original):
    gray16 = (np.asarray(original.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    data = _encode(Image.fromarray(gray16), "PNG")
    photo = decode(data)
    assert np.abs(photo[..., 0].astype(int) - np.asarray(original.convert("L"))).max() <= 1


def test_palette_png_with_transparency(original):
    pal = original.convert("P")
    data = _encode(pal, "PNG", transparency=0)
    assert decode(data).shape == (250, 250, 3)


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def _refused_quickly_and_lightly(data: bytes, error: type[PhotoError]) -> str:
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(error) as info:
        decode(data)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert peak < 20 * 2**20, f"allocated {peak / 2**20:.0f} MiB"
    return info.value.message


def test_huge_png_header_is_refused_before_decoding():
    message = _refused_quickly_and_lightly(_png_header(30_000, 30_000), PhotoTooLarge)
    assert "pixels" in message and "limit" in message


def test_pixel_limit_is_a_setting():
    data = _png_header(8_000, 8_000)  # 64 MP: over the default 50 MP, under Pillow's own bomb check
    with pytest.raises(PhotoTooLarge, match="64,000,000 pixels"):
        decode(data)
    with pytest.raises(PhotoTooLarge):
        decode(_encode(Image.new("RGB", (100, 100)), "PNG"), max_pixels=5_000)


def test_empty_input():
    message = _refused_quickly_and_lightly(b"", EmptyPhoto)
    assert "empty" in message


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(EmptyPhoto, match="empty"):
        decode(path)


def test_truncated_jpeg(face_photo):
    data = face_photo.read_bytes()
    message = _refused_quickly_and_lightly(data[: len(data) // 2], CorruptPhoto)
    assert "truncated" in message


def test_text_file(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are my holiday notes, not a photo\n" * 20)
    with pytest.raises(UnsupportedPhoto, match="not a photo"):
        decode(path)
    _refused_quickly_and_lightly(path.read_bytes(), UnsupportedPhoto)


def test_missing_file(tmp_path):
    with pytest.raises(NotFound, match="no such file"):
        decode(tmp_path / "nope.jpg")


@pytest.mark.parametrize("mode", ["I;16", "I", "F", "RGBA", "P", "L", "CMYK"])
def test_large_photos_convert_band_by_band_as_a_whole(original, mode):
    """Photos over a band of rows are converted a band at a time (16-bit values in integers
    only): the result equals the whole-image conversion."""
    big = original.resize((700, 610))
    gray = np.asarray(big.convert("L"), dtype=np.int64)
    if mode in ("I;16", "I", "F"):
        values = {"I;16": (gray * 257).astype(np.uint16), "I": (gray * 257).astype(np.int32),
                  "F": gray.astype(np.float32)}[mode]
        im, want = Image.fromarray(values), np.repeat(gray.astype(np.uint8)[:, :, None], 3, 2)
        if mode == "I;16":
            assert im.mode.startswith("I;16")
    elif mode == "RGBA":
        im = big.convert("RGBA")
        im.putalpha(128)
        want = np.asarray(Image.alpha_composite(Image.new("RGBA", im.size, (255,) * 4), im)
                          .convert("RGB"))
    else:
        im = big.convert(mode)
        want = np.asarray(im.convert("RGB"))
    got = _to_rgb(im)
    assert got.shape == (610, 700, 3) and got.dtype == np.uint8 and got.flags.writeable
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def phone_photo(face_photo: Path, path: Path, face: int, orientation: int = 1) -> None:
    """A 4032×3024 photo (stored turned as `orientation` says) with an LFW photo pasted so that
    its face is about `face` pixels wide."""
    canvas = Image.new("RGB", (4032, 3024), (90, 110, 100))
    side = round(face / 0.42)
    canvas.paste(Image.open(face_photo).resize((side, side)), (2400, 900))
    stored = canvas.transpose(Image.Transpose.ROTATE_90) if orientation == 6 else canvas
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, quality=92, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_jpeg_decodes_reduced_and_upright(face_photo: Path, tmp_path: Path,
                                            orientation: int) -> None:
    from faces.decode import decode_reduced

    path = tmp_path / "phone.jpg"
    phone_photo(face_photo, path, 300, orientation)
    full = decode(path)
    reduced = decode_reduced(path, 1600)
    assert reduced.scale == 2.0 and reduced.size == (full.shape[1], full.shape[0])
    assert reduced.image.shape == (full.shape[0] // 2, full.shape[1] // 2, 3)
    assert max(reduced.image.shape) >= 1600
    # the same picture, the right way up: the reduced image is the full one at half size
    halved = np.asarray(Image.fromarray(full).resize(reduced.image.shape[1::-1],
                                                     Image.Resampling.BOX))
    assert np.abs(halved.astype(int) - reduced.image.astype(int)).mean() < 3
    assert decode_reduced(path, 5000).scale == 1.0  # never below what is asked
    png = tmp_path / "phone.png"
    Image.fromarray(full).save(png)
    assert decode_reduced(png, 1600).image.shape == full.shape  # other formats: in full


@pytest.mark.parametrize("read", ["reduced", "regions"])
def test_a_truncated_jpeg_is_refused_when_reduced_or_in_parts(face_photo: Path, tmp_path: Path,
                                                              read: str) -> None:
    from faces.decode import decode_reduced, decode_regions

    def decoded(path: Path) -> object:
        return (decode_reduced(path, 1600) if read == "reduced"
                else decode_regions(path, [(2400, 900, 2700, 1200)]))

    path = tmp_path / "phone.jpg"
    phone_photo(face_photo, path, 300)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(CorruptPhoto, match=r"cut\.jpg"):
        decoded(cut)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(path.read_bytes()[:600] + b"\x00" * 5000)
    with pytest.raises(PhotoError):
        decoded(garbage)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_regions_of_a_photo_are_its_upright_pixels(face_photo: Path, tmp_path: Path,
                                                   orientation: int) -> None:
    """decode_regions gives, for a box of the photo as shown, exactly the pixels that the
    whole photo decoded and turned upright holds there: every EXIF orientation, a box
    reaching past the edge clipped to it, and one outside the photo refused."""
    from faces.decode import _TRANSPOSE, decode_regions

    rng = np.random.default_rng(orientation)
    shown = Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    shown.paste(Image.open(face_photo), (100, 30))
    # stored so that applying the orientation shows `shown`
    undo = {2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
    stored = shown.transpose(_TRANSPOSE[undo[orientation]]) if orientation > 1 else shown
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"turned_{orientation}.jpg"
    stored.save(path, quality=95, exif=exif.tobytes())
    whole = decode(path)
    assert whole.shape == (300, 400, 3)
    boxes = [(120, 40, 260, 220.5), (-30, 250, 90, 340), (350.2, 0, 420, 60)]
    parts = decode_regions(path, boxes)
    for (x1, y1, x2, y2), (pixels, (left, top)) in zip(boxes, parts, strict=True):
        x1, y1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        x2, y2 = min(400, int(np.ceil(x2))), min(300, int(np.ceil(y2)))
        assert (left, top) == (x1, y1)
        assert np.array_equal(pixels, whole[y1:y2, x1:x2])
    with pytest.raises(ValueError, match="outside"):
        decode_regions(path, [(500, 10, 600, 50)])


def test_a_heic_decodes_reduced_from_its_thumbnail(face_photo: Path, tmp_path: Path) -> None:
    """A HEIC holding a thumbnail large enough for the size asked for is decoded from it;
    one asked for more than its thumbnail holds, or without one, is decoded in full."""
    import shutil
    import subprocess

    from faces.decode import decode_reduced

    if shutil.which("heif-enc") is None:
        pytest.skip("needs heif-enc (libheif-examples; `make system-deps`)")
    # a phone photo's shape at a quarter of its pixels (HEVC encoding is slow), with a
    # thumbnail half its width
    canvas = Image.new("RGB", (2016, 1512), (90, 110, 100))
    canvas.paste(Image.open(face_photo).resize((350, 350)), (1200, 450))
    canvas.save(tmp_path / "phone.png")
    for name, thumb in (("thumbnail.heic", ["-t", "1024"]), ("plain.heic", [])):
        subprocess.run(["heif-enc", "-q", "80", *thumb, "-o", str(tmp_path / name),
                        str(tmp_path / "phone.png")], check=True, capture_output=True)
    full = decode(tmp_path / "thumbnail.heic")
    reduced = decode_reduced(tmp_path / "thumbnail.heic", 800)
    assert reduced.image.shape == (768, 1024, 3) and reduced.size == (2016, 1512)
    assert abs(reduced.scale - 2016 / 1024) < 1e-9
    shrunk = np.asarray(Image.fromarray(full).resize((1024, 768), Image.Resampling.BOX))
    assert np.abs(shrunk.astype(int) - reduced.image.astype(int)).mean() < 3
    assert decode_reduced(tmp_path / "thumbnail.heic", 1250).scale == 1.0
    assert decode_reduced(tmp_path / "plain.heic", 800).scale == 1.0
