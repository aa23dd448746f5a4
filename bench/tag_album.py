"""Album tagging: `facepair tag --workers 2` against the face_recognition CLI
(`face_recognition --cpus 2 known/ album/`) on the same album, wall time of each command, and
the precision/recall of each one's name tags against the album's ground truth.

    .venv/bin/python -m bench.tag_album [--json]

The album (bench/album.py): LFW DevTest photos of 4 enrolled people (3 other photos each are
their enrollment / known images), group photos of 2–3 of them, 1024×768 scenes, strangers
photographed several times, and 400 photos of other people. face_recognition's CLI reads one
flat folder, so it gets the same files as links in one folder; facepair walks the folder tree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import anchor
from bench.album import ENROLL, KNOWN, build_album, lfw, precision_recall

BIN = Path(sys.executable).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--others", type=int, default=400, help="photos of never-enrolled "
                        "people added (a bigger album: steady-state speed, false names)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        album = tmp / "album"
        truth = build_album(album, per_person=12, groups=12, scenes=12, per_stranger=4,
                            others=args.others)
        photos = len(truth)

        # facepair: enroll, then time `facepair tag`
        env = {**os.environ, "FACEPAIR_HOME": str(tmp / "home")}
        for name in KNOWN:
            subprocess.run([str(BIN / "facepair"), "enroll", name,
                            *(str(lfw(name, i)) for i in ENROLL), "--json"], env=env,
                           check=True, capture_output=True)
        start = time.perf_counter()
        out = subprocess.run([str(BIN / "facepair"), "tag", str(album), "--workers",
                              str(args.workers), "--json"], env=env, check=True,
                             capture_output=True, text=True)
        ours_s = time.perf_counter() - start
        result = json.loads(out.stdout.strip().splitlines()[-1])
        import sqlite3

        with sqlite3.connect(tmp / "home" / "gallery.sqlite3") as conn:
            rows = conn.execute(
                "SELECT p.path, pe.name FROM album_photos p JOIN album_faces f ON f.photo_id = "
                "p.id JOIN people pe ON pe.id = f.person_id").fetchall()
        ours_tags: dict[str, list[str]] = {}
        for path, name in rows:
            ours_tags.setdefault(str(Path(path).relative_to(album.resolve())), []).append(name)

        # face_recognition: known/ holds the same enrollment photos; album as one flat folder
        known, flat = tmp / "known", tmp / "flat"
        known.mkdir()
        flat.mkdir()
        for name in KNOWN:
            for i in ENROLL:
                (known / f"{name}__{i}.jpg").symlink_to(lfw(name, i))
        for rel in truth:
            (flat / rel.replace("/", "__")).symlink_to(album / rel)
        cli = anchor.ensure_venv().parent / "face_recognition"
        start = time.perf_counter()
        fr = subprocess.run([str(cli), "--cpus", str(args.workers), str(known), str(flat)],
                            capture_output=True, text=True, check=True,
                            env=anchor.thread_env(1))
        theirs_s = time.perf_counter() - start
        their_tags: dict[str, list[str]] = {}
        for line in fr.stdout.splitlines():
            path, _, name = line.rpartition(",")
            rel = Path(path).name.replace("__", "/")
            if name not in ("unknown_person", "no_persons_found"):
                their_tags.setdefault(rel, []).append(name.split("__")[0])

    figures = {
        "photos": photos, "workers": args.workers,
        "facepair": {"seconds": round(ours_s, 1), "photos_per_s": round(photos / ours_s, 2),
                     **precision_recall(truth, ours_tags), "faces": result["faces"]},
        "face_recognition": {"seconds": round(theirs_s, 1),
                             "photos_per_s": round(photos / theirs_s, 2),
                             **precision_recall(truth, their_tags)},
    }
    figures["speedup"] = round(theirs_s / ours_s, 2)
    print(f"album of {photos} photos, {args.workers} workers/cpus, wall time of each command "
          "(model loading included)")
    for system in ("facepair", "face_recognition"):
        f = figures[system]
        print(f"{system:17s} {f['seconds']:6.1f} s  {f['photos_per_s']:5.2f} photos/s  "
              f"precision {f['precision']:.3f} recall {f['recall']:.3f}")
    print(f"facepair {figures['speedup']:.2f}× faster")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
