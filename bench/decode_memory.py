"""Peak memory of decoding the largest photo allowed, the kinds that cost most per pixel.

    .venv/bin/python -m bench.decode_memory [--json]

Each photo (made once in `bench.CACHE`, compressing to little: a flat 16-bit grayscale PNG
of `FACEPAIR_MAX_PIXELS`, the size a 111 kB upload can claim) is decoded in a fresh process;
the figure is the peak resident memory that decoding added above the process after its
imports (`ru_maxrss`). The anchor, in the same run, is the decoded photo itself (H×W×3 bytes,
which any decoder must hand over) and, for 16-bit photos, a float64 conversion of the
pixels (what a naive scaling costs).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys

import numpy as np
from PIL import Image

from bench import CACHE
from service.settings import get_settings

PROBE = """
import resource, sys
import numpy as np
from PIL import Image
from faces.decode import decode
Image.MAX_IMAGE_PIXELS = None
path, how = sys.argv[1], sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if how == "facepair":
    photo = decode(path)
else:  # the anchor: 16-bit pixels scaled through float64
    im = Image.open(path); im.load()
    arr = np.asarray(im, dtype=np.float64)
    photo = np.repeat(np.clip(arr * (255.0 / 65535), 0, 255).round().astype(np.uint8)[:, :, None],
                      3, axis=2)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(after - before, photo.shape[0], photo.shape[1])
"""


def photo(kind: str, pixels: int) -> str:
    side = math.isqrt(pixels)
    path = CACHE / f"decode_memory_{kind}_{side}.png"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        if kind == "gray16":
            ramp = (np.arange(side, dtype=np.uint32) * 65535 // side).astype(np.uint16)
            Image.fromarray(np.tile(ramp, (side, 1))).save(path, optimize=True)
        else:
            Image.new("RGB", (side, side), (90, 120, 150)).save(path, optimize=True)
    return str(path)


def peak(path: str, how: str) -> tuple[float, int, int]:
    done = subprocess.run([sys.executable, "-c", PROBE, path, how], capture_output=True,
                          text=True, check=True)
    kb, h, w = map(int, done.stdout.split())
    return kb / 1024, h, w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pixels = get_settings().max_pixels
    rows = []
    for kind, hows in (("gray16", ("facepair", "float64")), ("rgb8", ("facepair",))):
        path = photo(kind, pixels)
        for how in hows:
            mb, h, w = peak(path, how)
            output = h * w * 3 / 2**20
            rows.append({"photo": kind, "decoder": how, "pixels": h * w,
                         "file_kb": round(CACHE.joinpath(path).stat().st_size / 1024),
                         "peak_added_mb": round(mb), "output_mb": round(output),
                         "peak_over_output": round(mb / output, 2)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for r in rows:
        print(f"{r['photo']:7s} {r['decoder']:9s} {r['pixels']:,} px, file {r['file_kb']} kB: "
              f"peak +{r['peak_added_mb']} MB = {r['peak_over_output']}× the decoded photo "
              f"({r['output_mb']} MB)")


if __name__ == "__main__":
    main()
