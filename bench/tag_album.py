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
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench import last_json
from bench.album import build_album, enrollment, precision_recall
from bench.harness import Contest, facepair_env, named_faces, their_names


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--others", type=int, default=1900, help="photos of never-enrolled "
                        "people added (400: the 484-photo album of earlier figures)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of both commands, taking "
                        "turns; the median of each run's ratio is reported")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--phone", action="store_true", help="the phone album instead: 100 "
                        "photos of 12 megapixels, JPEG and HEIC (bench/phone.py)")
    parser.add_argument("--ray", action="store_true", help="`tag --ray` on a local Ray "
                        "cluster of two one-CPU nodes against the local pool (bench/ray_album.py)")
    return parser.parse_args()


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """The wall time of a command from its start, and its output."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout


def one_run(contest: Contest, album: Path, workers: int, label: str) -> tuple[dict, dict]:
    """facepair's command, then face_recognition's: their times and ratio, and what each
    found (facepair's JSON result, the names of each by photo)."""
    home = contest.fresh_home(label)
    ours_s, out = timed(contest.facepair(album, workers), facepair_env(home))
    theirs_s, fr = timed(*contest.face_recognition(workers))
    return ({"facepair": round(ours_s, 1), "face_recognition": round(theirs_s, 1),
             "speedup": round(theirs_s / ours_s, 2)},
            {"result": last_json(out), "ours": named_faces(home, album),
             "theirs": their_names(fr)})


def main() -> None:
    args = parse_args()
    if args.ray:
        on_ray(args)
        return
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
        # facepair enrolls once and each run tags with a fresh copy of that gallery
        contest = Contest.prepare(tmp, enrollment(), album, truth)
        for run in range(args.repeat):
            times, found = one_run(contest, album, args.workers, f"home{run}")
            runs.append(times)
    report(truth, args.workers, runs, found, args.json)


def on_ray(args: argparse.Namespace) -> None:
    from bench import ray_album

    with tempfile.TemporaryDirectory() as tmp:
        if args.phone:
            from bench.phone_album import ALBUM_CACHE, build

            truth, album = build(), ALBUM_CACHE / "album"
        else:
            album = Path(tmp) / "album"
            truth = build_album(album, per_person=12, groups=12, scenes=12, per_stranger=4,
                                others=args.others)
        contest = Contest.prepare(Path(tmp), enrollment(), album, [])
        ray_album.compare(contest, album, truth, args.repeat, args.json,
                          "phone album" if args.phone else "LFW album")


def report(truth: dict[str, list[str]], workers: int, runs: list[dict], found: dict,
           as_json: bool) -> None:
    """The figures: the median times of the runs, the names of the last run."""
    photos = len(truth)
    ours_s = statistics.median(r["facepair"] for r in runs)
    theirs_s = statistics.median(r["face_recognition"] for r in runs)
    figures = {
        "photos": photos, "workers": workers,
        "facepair": {"seconds": ours_s, "photos_per_s": round(photos / ours_s, 2),
                     **precision_recall(truth, found["ours"]),
                     "faces": found["result"]["faces"]},
        "face_recognition": {"seconds": theirs_s,
                             "photos_per_s": round(photos / theirs_s, 2),
                             **precision_recall(truth, found["theirs"])},
        "speedup": statistics.median(r["speedup"] for r in runs),
        "runs": runs,
    }
    print(f"album of {photos} photos, {workers} workers/cpus, wall time of each command "
          f"(model loading included), median of {len(runs)} run(s)")
    for system in ("facepair", "face_recognition"):
        f = figures[system]
        print(f"{system:17s} {f['seconds']:6.1f} s  {f['photos_per_s']:5.2f} photos/s  "
              f"precision {f['precision']:.3f} recall {f['recall']:.3f}")
    each = ", ".join(f"{r['speedup']:.2f}×" for r in runs)
    print(f"facepair {figures['speedup']:.2f}× faster (each run: {each})")
    if as_json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
