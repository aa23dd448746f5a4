"""Faces in videos: frames a second decoded and faces a second named, as `facepair tag` runs
it, for a clip made from LFW photos (one photo after another, each slowly panned and zoomed:
`make_clip`), and the faces found at several sampling rates.

    python -m bench.video [--json] [--size 1920x1080] [--seconds 60] [--rates 1,2,4]

The clip is H.264 (libx264, or FFmpeg's own encoder where the wheel lacks it), 30 frames a
second. Each rate's run tags a folder holding only the clip, in a new gallery of the people of
bench.album; decoding alone is timed once (every frame decoded, the first rate's kept).
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
              fps: int = 12, seconds_each: float | Sequence[float] = 2.0
              ) -> list[tuple[float, float]]:
    """A clip of these photos shown one after another, each for `seconds_each` (one for all,
    or one each) with a slow pan and zoom; the (start, end) seconds of each photo's shot."""
    lengths = ([float(seconds_each)] * len(photos) if isinstance(seconds_each, int | float)
               else list(seconds_each))
    shots = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        if codec == "libx265":
            stream.options = {"preset": "ultrafast", "x265-params": "log-level=error"}
        n = 0
        for photo, seconds in zip(photos, lengths, strict=True):
            pixels = np.asarray(Image.open(photo).convert("RGB"))
            per = max(1, round(seconds * fps))
            shots.append((n / fps, (n + per) / fps))
            for i in range(per):
                frame = av.VideoFrame.from_ndarray(_shot(pixels, size, i / max(1, per - 1)),
                                                   format="rgb24")
                out.mux(stream.encode(frame))
                n += 1
        out.mux(stream.encode(None))
    return shots


def bench_clip(seconds: float) -> tuple[list[Path], list[float], list[str | None]]:
    """The bench clip's photos, their shots' lengths and whom each shows (None: a stranger):
    the enrolled people's photos that were not enrolled and strangers' in turn, mostly 4 s
    shots, every third one a 1 s glimpse (what a sparse sampling misses)."""
    photos, lengths, who = [], [], []
    i = 0
    while sum(lengths) < seconds:
        stranger = i % 4 == 3
        name = STRANGERS[(i // 4) % len(STRANGERS)] if stranger else KNOWN[i % len(KNOWN)]
        number = 1 + (i // 4) % 2 if stranger else ENROLL[-1] + 1 + (i // len(KNOWN)) % 4
        photos.append(lfw(name, number))
        lengths.append(1.0 if i % 3 == 2 else 4.0)
        who.append(None if stranger else name)
        i += 1
    return photos, lengths, who


def decode_rate(path: Path, rate: float, max_pixels: int) -> dict:
    """Every frame decoded, `rate` of them a second kept as RGB: frames a second."""
    from faces.video import frames, probe

    info = probe(path, 1e9)
    start = time.perf_counter()
    kept = sum(1 for _ in frames(path, info, rate, 1e9, max_pixels))
    seconds = time.perf_counter() - start
    with av.open(str(path)) as c:
        total = c.streams.video[0].frames
    return {"frames": total, "kept": kept, "seconds": round(seconds, 2),
            "frames_per_second": round(total / seconds, 1), "video_seconds": info.duration}


def tag_rate(folder: Path, home: Path, rate: float, shots: list[tuple[float, float]],
             who: list[str | None]) -> dict:
    """`facepair tag` of `folder` (the clip alone) at `rate` frames a second, from a new
    gallery of the KNOWN people: its time, the faces seen and named, and the enrolled
    people's shots it found them in (a named face seen over part of the shot)."""
    from faces.embed import Embedder
    from index.album.tagger import AlbumTagger
    from index.gallery import Gallery
    from index.settings import IndexSettings

    settings = IndexSettings(home=home, video_rate=rate)
    g = Gallery(home=home, settings=settings, embedder=Embedder())
    try:
        for name in KNOWN:
            for i in ENROLL:
                g.enroll(name, lfw(name, i), face="center")
        start = time.perf_counter()
        run = AlbumTagger(g, workers=1).run(folder)
        seconds = time.perf_counter() - start
        faces = g.store.albums.photos_under(g.roots.parts(folder), 10, 0)[2]
    finally:
        g.close()
    found = sum(1 for (a, b), name in zip(shots, who, strict=True) if name is not None
                and any(f.name == name and any(min(y, b) > max(x, a) for x, y in f.times or [])
                        for f in faces))
    return {"rate": rate, "seconds": round(seconds, 2), "frames_sampled": run["frames"],
            "faces_seen": run["seen"], "tracks": run["tracks"], "named": run["named"],
            "unknown": run["unknown"], "unrecognisable": run["unrecognisable"],
            "shots_found": found, "shots": sum(1 for n in who if n is not None),
            "faces_per_second": round(run["seen"] / seconds, 2),
            "frames_per_second": round(run["frames"] / seconds, 2)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rates", default="1,2,4")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    codec = encoder(H264)
    assert codec is not None, "no H.264 encoder in the bundled FFmpeg"
    rates = [float(r) for r in args.rates.split(",")]
    results: dict = {"size": args.size, "codec": codec, "cores": os.cpu_count(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clips"
        folder.mkdir()
        clip = folder / "clip.mp4"
        photos, lengths, who = bench_clip(args.seconds)
        start = time.perf_counter()
        shots = make_clip(clip, photos, codec, (width, height), 30, lengths)
        results["encode_seconds"] = round(time.perf_counter() - start, 1)
        results["decode"] = decode_rate(clip, rates[0], 50_000_000)
        for rate in rates:
            results["runs"].append(tag_rate(folder, Path(tmp) / f"home-{rate}", rate, shots,
                                            who))
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"{args.size} {codec}, {results['decode']['video_seconds']:.0f} s: decoded at "
          f"{results['decode']['frames_per_second']} frames/s")
    for run in results["runs"]:
        print(f"{run['rate']:g}/s: {run['seconds']} s, {run['frames_per_second']} sampled "
              f"frames/s, {run['faces_per_second']} faces/s, {run['shots_found']}/"
              f"{run['shots']} shots of enrolled people found")


if __name__ == "__main__":
    main()
