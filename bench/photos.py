"""The benchmark photo sets, built from LFW the same way every run (fixed seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bench import CACHE
from service.settings import get_settings


def lfw_dir() -> Path:
    path = get_settings().data_dir / "lfw" / "lfw-deepfunneled"
    if not path.is_dir():
        raise SystemExit(f"LFW not found at {path}: set FACEPAIR_DATA_DIR to ../shared/data")
    return path


def lfw_photos(n: int = 500) -> list[Path]:
    """n LFW photos (250×250) spread over the alphabet."""
    photos = sorted(lfw_dir().glob("*/*.jpg"))
    return photos[:: max(1, len(photos) // n)][:n]


def canvas_photos(n: int = 100, size: tuple[int, int] = (1024, 768), seed: int = 0) -> list[Path]:
    """n JPEGs of `size` (w, h): a textured background with one LFW face pasted at a random
    place and scale. Written once in `bench.CACHE` and reused."""
    folder = CACHE / f"canvas_{size[0]}x{size[1]}_{n}_{seed}"
    paths = [folder / f"{i:04d}.jpg" for i in range(n)]
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = lfw_photos(2000)
    w, h = size
    for path in paths:
        base = rng.normal(0, 1, (h // 32 + 1, w // 32 + 1, 3))
        texture = Image.fromarray(np.uint8(np.clip(120 + 40 * base, 0, 255))).resize((w, h))
        face = Image.open(sources[int(rng.integers(len(sources)))]).convert("RGB")
        side = int(rng.integers(200, 400))
        face = face.resize((side, side))
        x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
        texture.paste(face, (x, y))
        texture.save(path, quality=92)
    return paths
