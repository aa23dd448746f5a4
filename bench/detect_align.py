"""Detection + alignment speed: facepair (MTCNN + 5-point warp, batched) against face_recognition
(HOG face_locations + face_landmarks), same photos, same thread count, decoding included.

    .venv/bin/python -m bench.detect_align [--threads N]

Prints photos/second for both on 500 LFW photos (250×250) and on 100 photos of 1024×768,
and the ratio; the figures are the last lines printed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench import anchor
from bench.photos import canvas_photos, lfw_photos


def facepair_rate(paths: list[Path], threads: int) -> tuple[float, int]:
    import torch

    from faces.align import align
    from faces.decode import decode
    from faces.detect import Detector

    torch.set_num_threads(threads)
    detector = Detector()
    batch = detector.settings.detect_batch_size
    detector.detect(decode(paths[0]))  # warm-up
    faces = 0
    start = time.perf_counter()
    for i in range(0, len(paths), batch):
        photos = [decode(p) for p in paths[i : i + batch]]
        for photo, found in zip(photos, detector.detect_batch(photos), strict=True):
            for face in found:
                align(photo, face.landmarks)
                faces += 1
    return len(paths) / (time.perf_counter() - start), faces


def anchor_rate(paths: list[Path], threads: int) -> tuple[float, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(map(str, paths)))
    try:
        result = anchor.run("detect_landmarks.py", [listing.name], threads)
    finally:
        os.unlink(listing.name)
    return len(paths) / sum(result["seconds"]), result["faces"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    os.environ.update(anchor.thread_env(args.threads))

    sets = {"lfw_250x250": lfw_photos(500), "canvas_1024x768": canvas_photos(100)}
    figures = {"threads": args.threads}
    for name, paths in sets.items():
        ours, our_faces = facepair_rate(paths, args.threads)
        theirs, their_faces = anchor_rate(paths, args.threads)
        figures[name] = {
            "photos": len(paths),
            "facepair_photos_per_s": round(ours, 2),
            "face_recognition_photos_per_s": round(theirs, 2),
            "ratio": round(ours / theirs, 2),
            "faces_found": {"facepair": our_faces, "face_recognition": their_faces},
        }
    print(f"detection + alignment, {args.threads} thread(s), decoding included")
    for name in sets:
        f = figures[name]
        print(
            f"{name:16s} {f['photos']:4d} photos  facepair {f['facepair_photos_per_s']:7.2f}/s  "
            f"face_recognition {f['face_recognition_photos_per_s']:7.2f}/s  "
            f"ratio {f['ratio']:.2f}×  faces {f['faces_found']}"
        )
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
