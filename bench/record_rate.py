"""How fast a tagging job's driver names and records analysed photos: the rate at which a
cluster's analysed photos can go into the store, whatever the number of nodes.

    .venv/bin/python -m bench.record_rate [--photos 2000] [--store postgresql|sqlite] [--json]

32 LFW photos (DevTest people) are analysed once on this machine; copies of them under new
paths are then named against a gallery of the album's four enrolled people and recorded, 8 a
write, exactly as `facepair tag` does with what comes back from its workers or its Ray actors
(`AlbumTagger.record_chunk`: naming, the photos and their faces with chips and vectors, the job's
progress). Reported: photos and faces recorded a second, on one thread of the driver, into
a throwaway PostgreSQL 15 on this machine (or SQLite).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from bench.album import enrollment, passers_by
from index.album.analyse import CHUNK, analyse, lend_to_workers
from index.album.jobs import Job
from index.album.record import Tally
from index.album.scan import PhotoFile
from index.album.tagger import AlbumTagger
from index.gallery import Gallery
from index.settings import IndexSettings
from index.store import PhotoRef


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--store", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        home, folder = Path(tmp) / "home", Path(tmp) / "album"
        folder.mkdir()
        store = ""
        if args.store == "postgresql":
            from bench.service_process import postgres

            store = stack.enter_context(postgres()).new_database()
        g = Gallery(IndexSettings(home=home, store=store or str(home / "gallery.sqlite3")))
        stack.callback(g.close)
        for name, photos in enrollment().items():
            for photo in photos:
                g.enroll(name, photo, face="center")
        figures = measure(g, folder, args.photos)
    figures["store"] = args.store
    print(f"driver, one thread, {args.store}: {figures['photos_per_s']} photos/s, "
          f"{figures['faces_per_s']} faces/s recorded ({figures['photos']} photos, "
          f"{figures['faces']} faces, {figures['seconds']} s)")
    if args.json:
        print(json.dumps(figures))


def measure(g: Gallery, folder: Path, photos: int) -> dict:
    sources = [*(p for paths in enrollment().values() for p in paths[:2]), *passers_by(24)]
    lend_to_workers(g)
    place = g.roots.place(folder, register=True)
    analysed = analyse([PhotoFile(str(p), p.stat().st_size, p.stat().st_mtime, "",
                                  place.ref, "") for p in sources])
    tagger = AlbumTagger(g, workers=1)
    job = Job(g.store, tagger.start_job(folder))
    tally, start = Tally(), time.perf_counter()
    for first in range(0, photos, CHUNK):
        chunk = []
        for i in range(first, min(photos, first + CHUNK)):
            item = analysed[i % len(analysed)]
            chunk.append(dataclasses.replace(
                item, path=str(folder / f"{i:07d}.jpg"),
                ref=PhotoRef(place.ref.root_id, f"{i:07d}.jpg")))
        tagger.record_chunk(job, chunk, tally)
    seconds = time.perf_counter() - start
    job.end("done")
    return {"photos": tally.photos, "faces": tally.faces, "seconds": round(seconds, 2),
            "photos_per_s": round(tally.photos / seconds, 1),
            "faces_per_s": round(tally.faces / seconds, 1)}


if __name__ == "__main__":
    main()
