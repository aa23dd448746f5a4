"""Identify latency: one 1024×768 photo with 3 faces against a 1,000-person gallery (3 faces
each), facepair's `Gallery.identify` against face_recognition (detect + encode + compare), same
threads, decoding included.

    .venv/bin/python -m bench.identify_latency [--threads N] [--runs 20] [--json]

The photo: three LFW DevTest faces (Alvaro Uribe, Amelie Mauresmo, Carlos Moya) pasted at about
260 px on a textured 1024×768 background. The gallery: those three people enrolled from 3 other
photos each (each system with its own pipeline) plus 997 synthetic people of 3 random faces.
Median seconds over the runs, and the names each system gave.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench import CACHE, anchor
from bench.photos import lfw_dir

PEOPLE = ["Alvaro_Uribe", "Amelie_Mauresmo", "Carlos_Moya"]
SYNTHETIC = 997


def group_photo() -> Path:
    path = CACHE / "group_1024x768.jpg"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, (25, 33, 3))
    canvas = Image.fromarray(np.uint8(np.clip(120 + 40 * noise, 0, 255))).resize((1024, 768))
    for i, name in enumerate(PEOPLE):
        face = Image.open(lfw_dir() / name / f"{name}_0010.jpg").convert("RGB")
        canvas.paste(face.resize((300, 300)), (30 + 335 * i, 200 + 60 * (i % 2)))
    canvas.save(path, quality=92)
    return path


def enroll_photos() -> list[tuple[str, Path]]:
    return [(n, lfw_dir() / n / f"{n}_{i:04d}.jpg") for n in PEOPLE for i in (1, 2, 3)]


def facepair(photo: Path, runs: int, threads: int) -> dict:
    import time

    import torch

    from index.gallery import Gallery
    from index.store import NewFace

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as home:
        g = Gallery(home=Path(home))
        for name, p in enroll_photos():
            g.enroll(name, p, face="center")
        rng = np.random.default_rng(0)
        store = g.store
        with store.transaction():  # synthetic people: rows and vectors only
            for k in range(SYNTHETIC):
                pid = store.people.add(f"synthetic {k}")
                for j in range(3):
                    photo_id = store.faces.add_photo(f"synthetic-{k}-{j}", "synthetic", 1, 1)
                    fid = store.faces.add(NewFace(photo_id, pid, [0, 0, 1, 1], [[0, 0]] * 5,
                                                  1.0, 0.0, b"", [[0, 0]] * 5))
                    v = rng.standard_normal(g.embedder.dim).astype(np.float32)
                    store.embeddings.put(g.model, [fid], v[None] / np.linalg.norm(v))
        g.reload()
        times, names = [], []
        for _ in range(runs + 1):
            start = time.perf_counter()
            matches = g.identify(photo)
            times.append(time.perf_counter() - start)
            names = [m.person.name if m.person else None for m in matches]
        people = len(g.people())
        g.close()
    return {"median_s": round(float(np.median(times[1:])), 4), "names": names,
            "gallery_people": people}


def face_recognition(photo: Path, runs: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        listing, enc = Path(tmp) / "enroll.txt", Path(tmp) / "enroll.npy"
        photos = enroll_photos()
        listing.write_text("\n".join(str(p) for _, p in photos))
        anchor.run("encode_center.py", [str(listing), str(enc)], threads)
        real = np.load(enc)
        rng = np.random.default_rng(0)
        # synthetic known faces: random vectors at the scale of dlib's (norm about 1)
        fake = rng.standard_normal((SYNTHETIC * 3, 128)) / np.sqrt(128)
        known = np.concatenate([real, fake])
        names = [n for n, _ in photos] + [f"synthetic {k // 3}" for k in range(SYNTHETIC * 3)]
        np.save(Path(tmp) / "known.npy", known)
        (Path(tmp) / "names.json").write_text(json.dumps(names))
        result = anchor.run("identify_photo.py", [str(photo), str(Path(tmp) / "known.npy"),
                                                  str(Path(tmp) / "names.json"), str(runs)],
                            threads)
    return {"median_s": round(float(np.median(result["seconds"])), 4),
            "names": result["names"], "gallery_people": len(set(names))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    os.environ.update(anchor.thread_env(args.threads))
    photo = group_photo()
    ours = facepair(photo, args.runs, args.threads)
    theirs = face_recognition(photo, args.runs, args.threads)
    ratio = theirs["median_s"] / ours["median_s"]
    figures = {"threads": args.threads, "photo": str(photo), "facepair": ours,
               "face_recognition": theirs, "speedup": round(ratio, 2)}
    print(f"identify one 1024×768 photo, 3 faces, {ours['gallery_people']}-person gallery, "
          f"{args.threads} thread(s): facepair {ours['median_s'] * 1e3:.0f} ms {ours['names']}, "
          f"face_recognition {theirs['median_s'] * 1e3:.0f} ms {theirs['names']}: "
          f"facepair {ratio:.2f}× faster")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
