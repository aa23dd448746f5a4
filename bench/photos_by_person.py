"""How fast the photos of one person, and of several together, are found in a large library.

    .venv/bin/python -m bench.photos_by_person [--photos 100000] [--people 2000]
        [--store sqlite|postgresql] [--repeat 20] [--json]

A library of `--photos` tagged photos is recorded through the store as `facepair tag` records
it (`AlbumsRepository.record`: a photo and its faces, each with a 512-byte vector), 1 to 4
faces a photo. Who is in a photo follows a family album: the people are drawn with Zipf
weights (s = 1.1), so a few people are in thousands of photos and most in a handful; about
one face in five is nobody's. The photos' times are spread over ten years, in an order of
their own. The library is built once and kept in `bench.CACHE` (SQLite); PostgreSQL is built
again in a throwaway cluster each run.

Timed (median and 90th percentile of `--repeat` runs, one thread): the first page (60) of the
photos of the person in most photos, of a person in the middle, and of the two and the three
people in most photos together (`GET /v1/photos`' query, `AlbumsRepository.photos_with`); the
last page of the first; and, the anchor, the first page of the library's one folder as the
album view lists it (`photos_under`). Each answer's count is checked against the library as
it was drawn.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench import CACHE
from index.store import NewAlbumFace, PhotoRef, Store

PAGE = 60
ZIPF = 1.1
NOBODY = 0.2  # faces named as no one
FACES = (1, 2, 3, 4)
FACE_SHARES = (0.45, 0.3, 0.15, 0.1)


def draw(photos: int, people: int, seed: int = 0) -> tuple[list[list[int]], np.ndarray]:
    """Each photo's people (-1: nobody's face; a person at most once a photo) and its time."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, people + 1) ** ZIPF
    weights /= weights.sum()
    faces = rng.choice(FACES, size=photos, p=FACE_SHARES)
    who = []
    for n in faces.tolist():
        named = rng.random(n) >= NOBODY
        chosen = rng.choice(people, size=int(named.sum()), replace=False, p=weights)
        who.append(chosen.tolist() + [-1] * int((~named).sum()))
    times = 1_300_000_000 + rng.permutation(photos) * (10 * 365 * 86400 / photos)
    return who, times


def build(store: Store, who: list[list[int]], times: np.ndarray, people: int) -> list[int]:
    """The library in `store`; the people's ids, by their index in `who`."""
    ids = [store.people.add(f"person {i:05d}") for i in range(people)]
    root = store.roots.get_or_add("library", None)
    vector = np.zeros(128, dtype=np.float32)
    chip = bytes(64)
    for i, (faces, when) in enumerate(zip(who, times.tolist(), strict=True)):
        recorded = [NewAlbumFace(box=[10.0 * k, 10.0, 10.0 * k + 50, 60.0],
                                 landmarks=[[0.0, 0.0]] * 5, score=0.99, chip=chip,
                                 chip_landmarks=[[0.0, 0.0]] * 5, model="bench",
                                 vector=vector, person_id=None if p < 0 else ids[p],
                                 similarity=None if p < 0 else 0.95, quality=0.9)
                    for k, p in enumerate(faces)]
        store.albums.record(PhotoRef(root, f"{i // 1000:03d}/{i:06d}.jpg"), 1000, when,
                            f"{i:064x}", 4000, 3000, "bench", 0, "", recorded)
    return ids


def timed(run: Callable[[], int], repeat: int) -> dict[str, float | int]:
    """Milliseconds of `repeat` runs (median, 90th percentile) and the count answered."""
    spent, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = run()
        spent.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(spent), 2),
            "p90_ms": round(float(np.percentile(spent, 90)), 2), "count": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    who, times = draw(args.photos, args.people)
    with contextlib.ExitStack() as stack:
        if args.store == "postgresql":
            from bench.service_process import postgres

            store = Store(stack.enter_context(postgres()).new_database())
            fresh = True
        else:
            CACHE.mkdir(parents=True, exist_ok=True)
            path = CACHE / f"photos_by_person_{args.photos}_{args.people}.sqlite3"
            fresh = not path.exists()
            if fresh:  # built beside, then moved: an interrupted build is never reused
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=CACHE)))
                building = Store(tmp / "library.sqlite3")
                started = time.perf_counter()
                build(building, who, times, args.people)
                building.close()
                print(f"built {args.photos} photos in {time.perf_counter() - started:.0f} s")
                (tmp / "library.sqlite3").rename(path)
            store = Store(path)
        stack.callback(store.close)
        if args.store == "postgresql":
            started = time.perf_counter()
            build(store, who, times, args.people)
            print(f"built {args.photos} photos in {time.perf_counter() - started:.0f} s")
        ids = {p.name: p.id for p in store.people.all()}
        person = [ids[f"person {i:05d}"] for i in range(args.people)]
        in_photos = np.zeros(args.people, dtype=int)
        for faces in who:
            for p in faces:
                if p >= 0:
                    in_photos[p] += 1
        ranked = np.argsort(-in_photos, kind="stable")
        middle = int(ranked[args.people // 2])
        root = store.roots.get_or_add("library", None)

        def together(chosen: list[int]) -> int:
            return sum(set(chosen) <= set(faces) for faces in who)

        def first(chosen: list[int], offset: int = 0) -> Callable[[], int]:
            return lambda: store.albums.photos_with([person[c] for c in chosen], PAGE,
                                                    offset)[0]

        top = [int(c) for c in ranked[:3]]
        cases = {
            "person in most photos": ([top[0]], 0),
            "a person in the middle": ([middle], 0),
            "two together": (top[:2], 0),
            "three together": (top, 0),
            "last page, person in most photos": ([top[0]], int(in_photos[top[0]]) - PAGE),
        }
        figures: dict = {"photos": args.photos, "people": args.people, "store": args.store,
                         "page": PAGE, "faces": sum(len(f) for f in who), "cases": {}}
        anchor = timed(lambda: store.albums.photos_under([(root, "")], PAGE, 0)[0],
                       args.repeat)
        assert anchor["count"] == args.photos
        figures["anchor: a folder's first page"] = anchor
        print(f"{args.store}, {args.photos} photos, {figures['faces']} faces, {args.people} "
              f"people; anchor (a folder's first page): {anchor['median_ms']} ms median")
        for name, (chosen, offset) in cases.items():
            got = timed(first(chosen, max(0, offset)), args.repeat)
            assert got["count"] == together(chosen), (name, got, together(chosen))
            got["to_anchor"] = round(float(got["median_ms"]) / float(anchor["median_ms"]), 2)
            figures["cases"][name] = got
            print(f"{name} ({got['count']} photos): {got['median_ms']} ms median, "
                  f"{got['p90_ms']} ms p90, {got['to_anchor']}× the anchor")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
