"""LFW photos made to look like album photos: a domain shift built from LFW, for judging
thresholds and models on conditions no model card was measured on.

Every photo is shrunk so that its face is 24–48 px wide and enlarged back (the detail is
gone, the size is not), turned by up to ±25°, saved as a JPEG of quality 20–40, and, each
with a chance of one half, blurred (Gaussian, sigma 0.8–2 px), turned grey, or dimmed (its
brightness scaled by 0.25–0.6 under a gamma of 1.3–1.8). The draws are seeded by the photo's
name and a seed (default 0), so the same photo and seed always give the same degraded photo.
The photos are written once under `album_conditions/<seed>/` in the benchmarks' cache
(`bench.CACHE`) and reused.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bench import CACHE

FOLDER = CACHE / "album_conditions"
LFW_FACE = 105.0  # the width of an LFW deep-funneled face in its 250×250 photo, about


def degrade(photo: Image.Image, seed: int) -> bytes:
    """One album-like JPEG of an LFW photo."""
    rng = np.random.default_rng(seed)
    photo = photo.convert("RGB")
    w, h = photo.size
    shrink = rng.uniform(24, 48) / LFW_FACE
    small = photo.resize((max(8, round(w * shrink)), max(8, round(h * shrink))),
                         Image.Resampling.BILINEAR)
    photo = small.resize((w, h), Image.Resampling.BICUBIC)
    photo = photo.rotate(float(rng.uniform(-25, 25)), resample=Image.Resampling.BILINEAR,
                         fillcolor=(128, 128, 128))
    blur, grey, dim = rng.random(3) < 0.5
    sigma, factor, gamma = rng.uniform(0.8, 2.0), rng.uniform(0.25, 0.6), rng.uniform(1.3, 1.8)
    if blur:
        photo = photo.filter(ImageFilter.GaussianBlur(sigma))
    if grey:
        photo = photo.convert("L").convert("RGB")
    if dim:
        x = np.asarray(photo, dtype=np.float32) / 255.0
        photo = Image.fromarray(np.uint8(np.clip(factor * x**gamma * 255.0, 0, 255)))
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=int(rng.integers(20, 41)))
    return buffer.getvalue()


def album_photo(path: Path, seed: int = 0, where: str | None = None) -> Path:
    """The degraded twin of one photo (made on first use), kept as `where` in the cache
    (default: the LFW photo's folder and name)."""
    out = FOLDER / str(seed) / (where or f"{path.parent.name}/{path.name}")
    if not out.exists():
        name = where or path.name
        key = name if seed == 0 else f"{seed}:{name}"
        seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(degrade(Image.open(path), seed))
        tmp.replace(out)
    return out


Split = tuple[dict[str, list[Path]], dict[str, list[Path]], list[Path]]


def album_split(split: Split, seed: int = 0, where: Callable[[Path], str] | None = None
                ) -> Split:
    """The album-like twins of a split's photos (enrollments per person, mated probes per
    person, strangers), each kept as `where(photo)` in the cache (default: as LFW's)."""
    def twin(p: Path) -> Path:
        return album_photo(p, seed, where(p) if where else None)

    enroll, mated, strangers = split
    return ({n: [twin(p) for p in ps] for n, ps in enroll.items()},
            {n: [twin(p) for p in ps] for n, ps in mated.items()},
            [twin(p) for p in strangers])
