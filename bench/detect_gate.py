"""The detector's gated search of large photos against its whole search: the faces each finds
and the time each takes, one thread.

    .venv/bin/python -m bench.detect_gate [--photos N] [--json]

In a large photo (faces.mtcnn: a first pyramid level of GATED_PIXELS or more) the finest
pyramid levels, where the smallest faces are found and most of the work is, are searched only
near where the next level up already gives a face probability of GATE. Two kinds of photos:

- **phone album**: bench/phone_album.py's 12-megapixel photos (LFW photos pasted on blurred
  backgrounds, faces 60–600 px), decoded as the album workers decode them;
- **mosaics**: 4032×3024 canvases tiled edge to edge with LFW DevTest photos, each shrunk or
  grown to 100–700 px (faces of about 40–300 px), with their real backgrounds: texture and
  faces everywhere, the least favourable case for the gate.

A face of the whole search is lost when no face of the gated search lies within a fifth of its
size of it, corner by corner.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from bench.detect_coverage import devtest_photos

if TYPE_CHECKING:
    from faces.decode import Reduced

SIZE = (4032, 3024)


def mosaic(seed: int) -> np.ndarray:
    """A canvas filled shelf by shelf with LFW DevTest photos of random sizes."""
    rng = np.random.default_rng(seed)
    paths = devtest_photos()
    canvas = Image.new("RGB", SIZE)
    y = 0
    while y < SIZE[1]:
        x, shelf = 0, int(rng.integers(100, 701))
        while x < SIZE[0]:
            side = int(rng.integers(100, shelf + 1))
            tile = Image.open(paths[int(rng.integers(len(paths)))]).convert("RGB")
            canvas.paste(tile.resize((side, side), Image.Resampling.BICUBIC), (x, y))
            x += side
        y += shelf
    return np.asarray(canvas)


def _lost(whole: list, gated: list) -> int:
    return sum(1 for f in whole if not any(
        np.abs(np.subtract(f.box, g.box)).max() < 0.2 * f.size for g in gated))


def compare(photos: list[Reduced]) -> dict:
    """Detect each photo with the whole search and the gated one."""
    import torch

    import faces.mtcnn as cascade
    from faces.detect import Detector
    from service.settings import get_settings

    torch.set_num_threads(1)
    detector = Detector(get_settings())
    fine_levels = cascade.FINE_LEVELS
    found: dict[str, list] = {}
    seconds: dict[str, float] = {}
    # no gated levels: the same pyramid, searched whole
    for mode, levels in (("whole", 0), ("gated", fine_levels)):
        cascade.FINE_LEVELS = levels
        detector.detect(photos[0].image)  # warm
        start = time.perf_counter()
        found[mode] = [detector.detect_reduced(photo) for photo in photos]
        seconds[mode] = time.perf_counter() - start
    cascade.FINE_LEVELS = fine_levels
    n = len(photos)
    return {"photos": n,
            "faces": {m: sum(map(len, f)) for m, f in found.items()},
            "lost": sum(_lost(w, g) for w, g in zip(found["whole"], found["gated"],
                                                    strict=True)),
            "added": sum(_lost(g, w) for w, g in zip(found["whole"], found["gated"],
                                                     strict=True)),
            "ms_per_photo": {m: round(1000 * s / n, 1) for m, s in seconds.items()},
            "speedup": round(seconds["whole"] / seconds["gated"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=100, help="phone-album photos")
    parser.add_argument("--mosaics", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from bench.phone_album import CACHE, build
    from faces.decode import Reduced, decode_reduced
    from service.settings import get_settings

    longest = get_settings().detect_max_side
    album = [decode_reduced(CACHE / "album" / rel, longest)
             for rel in sorted(build())[: args.photos]]
    mosaics = [Reduced(m, 1.0, (m.shape[1], m.shape[0])) for m in map(mosaic, range(args.mosaics))]
    figures = {kind: compare(photos) for kind, photos in (("phone_album", album),
                                                          ("mosaics", mosaics)) if photos}
    for kind, f in figures.items():
        print(f"{kind:12s} {f['photos']:4d} photos: faces whole {f['faces']['whole']}, gated "
              f"{f['faces']['gated']} (lost {f['lost']}, added {f['added']}); ms a photo "
              f"whole {f['ms_per_photo']['whole']}, gated {f['ms_per_photo']['gated']} "
              f"({f['speedup']}×)")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
