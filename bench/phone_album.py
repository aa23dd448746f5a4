"""A phone-photo album with ground truth: 12-megapixel JPEGs and HEICs, built once from LFW
DevTest photos and cached in `phone-album/` in the benchmarks' cache (`bench.CACHE`).

Each photo is a blurred, upscaled LFW photo as its background, with LFW photos pasted on it so
that their faces are 60–600 pixels wide: one person in most photos, small faces side by side
in some group photos, and a few tight portraits whose face fills most of the frame. A fifth are
HEIC; some JPEGs are stored turned with an EXIF orientation (6 or 8), as phones store portrait
photos. The known people are bench/album.py's, enrolled from their photos 1–3; the others
never are.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bench import CACHE
from bench.album import ENROLL, KNOWN, lfw, passers_by

ALBUM_CACHE = CACHE / "phone-album"
SIZE = (4032, 3024)
FACE_SHARE = 0.42  # the labelled face's width in a 250-px deep-funneled LFW photo, roughly


def _background(path: Path, size: tuple[int, int]) -> Image.Image:
    small = Image.open(path).convert("RGB").resize((size[0] // 16, size[1] // 16))
    return small.filter(ImageFilter.GaussianBlur(3)).resize(size, Image.Resampling.BICUBIC)


def paste(canvas: Image.Image, source: Path, face: int, where: tuple[int, int]) -> None:
    """Paste an LFW photo scaled so that its face is about `face` pixels wide."""
    side = round(face / FACE_SHARE)
    canvas.paste(Image.open(source).convert("RGB").resize((side, side),
                                                          Image.Resampling.BICUBIC), where)


def build(dst: Path = ALBUM_CACHE, photos: int = 100, seed: int = 0) -> dict[str, list[str]]:
    """Write the album (once) under dst/album; return {relative path: known people in it}."""
    import pillow_heif

    truth_file = dst / "truth.json"
    if truth_file.exists():
        return json.loads(truth_file.read_text())
    rng = np.random.default_rng(seed)
    album = dst / "album"
    album.mkdir(parents=True, exist_ok=True)
    used = {n: max(ENROLL) for n in KNOWN}
    others = passers_by(photos * 2)
    truth: dict[str, list[str]] = {}

    def take(name: str) -> Path:
        used[name] += 1
        return lfw(name, used[name])

    for i in range(photos):
        canvas = _background(others[(i * 7) % len(others)], SIZE)
        names: list[str] = []
        kind = ("portrait" if i % 25 == 3 else "group" if i % 5 == 1 else "single")
        if kind == "single":
            known = i % 3 != 2
            name = KNOWN[i % len(KNOWN)]
            source = take(name) if known else others[i % len(others)]
            face = int(rng.integers(60, 601))
            side = round(face / FACE_SHARE)
            where = (int(rng.integers(0, SIZE[0] - side)), int(rng.integers(0, SIZE[1] - side)))
            paste(canvas, source, face, where)
            names += [name] if known else []
        elif kind == "group":
            people = list(rng.choice(KNOWN, size=2, replace=False))
            sources = [take(n) for n in people] + [others[(i + k) % len(others)] for k in (1, 2)]
            face = int(rng.integers(60, 121))
            side = round(face / FACE_SHARE)
            top = int(rng.integers(0, SIZE[1] - side))
            left = int(rng.integers(0, SIZE[0] - 4 * side))
            for k, source in enumerate(sources):
                paste(canvas, source, face, (left + k * side, top))
            names += people
        else:  # a tight portrait: the face fills most of the frame
            name = KNOWN[i % len(KNOWN)]
            canvas = Image.open(take(name)).convert("RGB").crop((30, 30, 220, 220)).resize(
                (SIZE[1], SIZE[1]), Image.Resampling.BICUBIC).crop((0, 0, SIZE[1], SIZE[1]))
            canvas = canvas.resize(SIZE, Image.Resampling.BICUBIC)
            names.append(name)
        rel = f"{2020 + i % 4}/IMG_{1000 + i:04d}"
        if i % 5 == 4:
            path = album / (rel + ".heic")
            path.parent.mkdir(parents=True, exist_ok=True)
            pillow_heif.from_pillow(canvas).save(path, quality=80)
        else:
            path = album / (rel + ".jpg")
            path.parent.mkdir(parents=True, exist_ok=True)
            orientation = {7: 6, 13: 8}.get(i % 20, 1)
            stored = canvas.transpose({6: Image.Transpose.ROTATE_90,
                                       8: Image.Transpose.ROTATE_270}[orientation]
                                      ) if orientation != 1 else canvas
            exif = Image.Exif()
            exif[0x0112] = orientation
            stored.save(path, quality=92, exif=exif.tobytes())
        truth[str(path.relative_to(album))] = sorted(names)
    truth_file.write_text(json.dumps(truth, indent=1))
    return truth
