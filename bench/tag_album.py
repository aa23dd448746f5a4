"""Album tagging: `facepair tag --workers 2` against the face_recognition CLI
(`face_recognition --cpus 2 known/ album/`) on the same album, wall time of each command, and
the precision/recall of each one's name tags against the album's ground truth. With `--repeat N`
the two commands take turns N times and the median ratio is reported: on this shared machine
one run's ratio on the small album moved between 3.4× and 4.4× for the same code.

    .venv/bin/python -m bench.tag_album [--others N] [--repeat N] [--json]

The album (bench/album.py): LFW DevTest photos of 4 enrolled people (3 other photos each are
their enrollment / known images), group photos of 2–3 of them, 1024×768 scenes, strangers
photographed several times, and photos of other people: by default 1,900 of the 1,939 DevTest
photos of people with under 4 photos (1,984 photos in all, about 4 minutes a run);
`--others 400` makes the 484-photo album of earlier figures. Each command's wall time includes
its start: facepair's is about 4 s (3 of them `import torch`), a third of its time on 484
photos, a tenth on 1,984; a library of years of photos pays it once.
face_recognition's CLI reads one flat folder, so it gets the same files as links in one folder;
facepair walks the folder tree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
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
    parser.add_argument("--others", type=int, default=1900, help="photos of never-enrolled "
                        "people added (400: the 484-photo album of earlier figures)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of both commands, taking "
                        "turns; the median of each run's ratio is reported")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--phone", action="store_true", help="the phone album instead: 100 "
                        "photos of 12 megapixels, JPEG and HEIC (bench/phone.py)")
    args = parser.parse_args()
    if args.phone:
        from bench import phone

        phone.main(args.json, args.workers)
        return
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        album = tmp / "album"
        truth = build_album(album, per_person=12, groups=12, scenes=12, per_stranger=4,
                            others=args.others)
        photos = len(truth)

        # facepair: enroll once; each run tags with a fresh copy of that gallery
        enrolled = tmp / "enrolled"
        for name in KNOWN:
            subprocess.run([str(BIN / "facepair"), "enroll", name,
                            *(str(lfw(name, i)) for i in ENROLL), "--json"],
                           env={**os.environ, "FACEPAIR_HOME": str(enrolled)}, check=True,
                           capture_output=True)
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

        for run in range(args.repeat):
            home = tmp / f"home{run}"
            shutil.copytree(enrolled, home)
            start = time.perf_counter()
            out = subprocess.run([str(BIN / "facepair"), "tag", str(album), "--workers",
                                  str(args.workers), "--json"],
                                 env={**os.environ, "FACEPAIR_HOME": str(home)}, check=True,
                                 capture_output=True, text=True)
            ours_s = time.perf_counter() - start
            result = json.loads(out.stdout.strip().splitlines()[-1])
            with sqlite3.connect(home / "gallery.sqlite3") as conn:
                rows = conn.execute(
                    "SELECT p.path, pe.name FROM album_photos p JOIN album_faces f ON "
                    "f.photo_id = p.id JOIN people pe ON pe.id = f.person_id").fetchall()
            ours_tags: dict[str, list[str]] = {}
            for path, name in rows:
                ours_tags.setdefault(str(Path(path).relative_to(album.resolve())),
                                     []).append(name)

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
            runs.append({"facepair": round(ours_s, 1), "face_recognition": round(theirs_s, 1),
                         "speedup": round(theirs_s / ours_s, 2)})

    ours_s = statistics.median(r["facepair"] for r in runs)
    theirs_s = statistics.median(r["face_recognition"] for r in runs)
    figures = {
        "photos": photos, "workers": args.workers,
        "facepair": {"seconds": ours_s, "photos_per_s": round(photos / ours_s, 2),
                     **precision_recall(truth, ours_tags), "faces": result["faces"]},
        "face_recognition": {"seconds": theirs_s,
                             "photos_per_s": round(photos / theirs_s, 2),
                             **precision_recall(truth, their_tags)},
        "speedup": statistics.median(r["speedup"] for r in runs),
        "runs": runs,
    }
    print(f"album of {photos} photos, {args.workers} workers/cpus, wall time of each command "
          f"(model loading included), median of {len(runs)} run(s)")
    for system in ("facepair", "face_recognition"):
        f = figures[system]
        print(f"{system:17s} {f['seconds']:6.1f} s  {f['photos_per_s']:5.2f} photos/s  "
              f"precision {f['precision']:.3f} recall {f['recall']:.3f}")
    each = ", ".join(f"{r['speedup']:.2f}×" for r in runs)
    print(f"facepair {figures['speedup']:.2f}× faster (each run: {each})")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
