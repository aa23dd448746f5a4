"""Faces in videos: frames a second decoded and faces a second named, as `facepair tag` runs
it, for a clip made from LFW photos (one photo after another, each slowly panned and zoomed:
`make_clip`), and the faces found at several sampling rates.

    python -m bench.video [--json] [--size 1920x1080] [--seconds 60] [--rates 1,2,4]

The clip is H.264 (libx264, or FFmpeg's own encoder where the wheel lacks it). A run tags a
folder holding only the clip, with the people of bench.album enrolled; the first rate's run is
the one timed for decoding on its own too.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
from PIL import Image

from bench.album import ENROLL, KNOWN, STRANGERS, lfw

H264 = ("libx264", "h264", "libopenh264")
HEVC = ("libx265", "hevc")


def encoder(candidates: Sequence[str]) -> str | None:
    """The first of these encoders the bundled FFmpeg has (None: none)."""
    for name in candidates:
        try:
            av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):
            continue
        return name
    return None


def _shot(photo: np.ndarray, size: tuple[int, int], t: float) -> np.ndarray:
    """One frame of a photo's shot at `t` in [0, 1]: the photo filling the frame's height,
    zoomed from 1.0 to 1.15 and panned across a tenth of its width."""
    width, height = size
    zoom = 1.0 + 0.15 * t
    h = int(height * zoom)
    w = int(photo.shape[1] * h / photo.shape[0])
    scaled = np.asarray(Image.fromarray(photo).resize((w, h), Image.Resampling.BILINEAR))
    canvas = np.full((height, width, 3), 96, dtype=np.uint8)
    x = (width - w) // 2 + int((t - 0.5) * 0.1 * w)
    y = (height - h) // 2
    sx, sy = max(0, -x), max(0, -y)
    dx, dy = max(0, x), max(0, y)
    cw, ch = min(w - sx, width - dx), min(h - sy, height - dy)
    canvas[dy : dy + ch, dx : dx + cw] = scaled[sy : sy + ch, sx : sx + cw]
    return canvas


def make_clip(path: Path, photos: Sequence[Path], codec: str, size: tuple[int, int] = (480, 360),
              fps: int = 12, seconds_each: float = 2.0) -> list[tuple[float, float]]:
    """A clip of these photos shown one after another, each for `seconds_each` with a slow
    pan and zoom; the (start, end) seconds of each photo's shot."""
    shots = []
    per = max(1, round(seconds_each * fps))
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if codec in ("libx264", "libx265"):
            stream.options = {"preset": "ultrafast"}
        if codec == "libx265":
            stream.options = {"preset": "ultrafast", "x265-params": "log-level=error"}
        n = 0
        for photo in photos:
            pixels = np.asarray(Image.open(photo).convert("RGB"))
            shots.append((n / fps, (n + per) / fps))
            for i in range(per):
                frame = av.VideoFrame.from_ndarray(_shot(pixels, size, i / max(1, per - 1)),
                                                   format="rgb24")
                out.mux(stream.encode(frame))
                n += 1
        out.mux(stream.encode(None))
    return shots


def bench_photos(count: int) -> list[Path]:
    """Photos of the enrolled people (not those enrolled) and of strangers, in turn."""
    photos = []
    for i in range(count):
        if i % 3 == 2:
            name = STRANGERS[(i // 3) % len(STRANGERS)]
            photos.append(lfw(name, 1 + (i // 9) % 2))
        else:
            name = KNOWN[i % len(KNOWN)]
            photos.append(lfw(name, ENROLL[-1] + 1 + (i // len(KNOWN)) % 3))
    return photos


def decode_rate(path: Path, rate: float, max_pixels: int) -> dict:
    """Frames a second decoded (every frame, `rate` of them a second kept as RGB)."""
    from faces.video import frames, probe

    info = probe(path, 1e9)
    start = time.perf_counter()
    kept = sum(1 for _ in frames(path, rate, 1e9, max_pixels))
    seconds = time.perf_counter() - start
    with av.open(str(path)) as c:
        total = c.streams.video[0].frames
    return {"frames": total, "kept": kept, "seconds": round(seconds, 2),
            "frames_per_second": round(total / seconds, 1), "video_seconds": info.duration}


def tag_rate(folder: Path, home: Path, rate: float) -> dict:
    """A tag run of `folder` at `rate` frames a second, from a gallery of the KNOWN people."""
    from faces.embed import Embedder
    from index.album.tagger import AlbumTagger
    from index.gallery import Gallery
    from index.settings import IndexSettings

    settings = IndexSettings(home=home, video_rate=rate)
    g = Gallery(home=home, settings=settings, embedder=Embedder())
    try:
        if not g.store.people.all():
            for name in KNOWN:
                for i in ENROLL:
                    g.enroll(name, lfw(name, i), face="center")
        g.store.albums.forget_under(g.roots.parts(folder)) if hasattr(
            g.store.albums, "forget_under") else None
        start = time.perf_counter()
        run = AlbumTagger(g, workers=1).run(folder)
        seconds = time.perf_counter() - start
        _, photos, faces = g.store.albums.photos_under(g.roots.parts(folder), 10, 0)
        named = sorted({f.name for f in faces if f.name})
        return {"rate": rate, "seconds": round(seconds, 2), "tracks": run["faces"],
                "named": run["named"], "unknown": run["unknown"], "people": named,
                "sampled_faces_per_second": None}
    finally:
        g.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rates", default="2")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    codec = encoder(H264)
    assert codec is not None, "no H.264 encoder in the bundled FFmpeg"
    rates = [float(r) for r in args.rates.split(",")]
    results: dict = {"size": args.size, "codec": codec, "cores": os.cpu_count(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clips"
        folder.mkdir()
        clip = folder / "clip.mp4"
        photos = bench_photos(max(1, round(args.seconds / 4)))
        start = time.perf_counter()
        make_clip(clip, photos, codec, size, fps=30, seconds_each=4.0)
        results["encode_seconds"] = round(time.perf_counter() - start, 1)
        results["decode"] = decode_rate(clip, rates[0], 50_000_000)
        for rate in rates:
            home = Path(tmp) / f"home-{rate}"
            run = tag_rate(folder, home, rate)
            run["faces_per_second"] = round(run["tracks"] / run["seconds"], 2)
            results["runs"].append(run)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for key, value in results.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
