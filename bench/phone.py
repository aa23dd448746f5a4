"""Phone-sized photos: `facepair tag --workers 2` against the face_recognition CLI (`--cpus 2`)
on the phone album (bench/phone_album.py: 100 photos of 12 megapixels, JPEG and HEIC), both
commands timed from their start, with the peak resident memory of each of their processes (and,
in a run of facepair's of its own, each process's proportional share), the
precision and recall of their names, and where one photo's time goes in facepair (one thread,
in this process): decode, detect, align, embed, naming and writing.

    .venv/bin/python -m bench.tag_album --phone [--json]

The compute floor: the sum, over the album, of the least time each photo needs to be decoded
(at the size detection uses), detected and its faces embedded, on one thread; divided by the
workers, that is the fastest a run could go without overheads. facepair's share of it is
reported beside the ratio to face_recognition.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench import last_json
from bench.album import enrollment, precision_recall
from bench.harness import Contest, facepair_env, named_faces, their_names
from bench.phone_album import ALBUM_CACHE, build


class PeakMemory:
    """The peak resident memory (VmHWM) of a process and of every process it starts, by
    their command line, sampled every 50 ms while it runs; with `pss`, also the peak of their
    proportional share of it (PSS: pages shared between a forked worker and its parent count
    half to each). Reading PSS walks a process's page tables under its memory lock, which
    stalls its page faults: runs that are timed do not read it."""

    def __init__(self, pid: int, pss: bool = False) -> None:
        self.pid, self.stop, self.read_pss = pid, threading.Event(), pss
        self.peaks: dict[str, int] = {}
        self.pss: dict[str, int] = {}
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _tree(self) -> list[int]:
        found, frontier = [self.pid], [self.pid]
        while frontier:
            parent = frontier.pop()
            try:
                children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
            except OSError:
                continue
            found += [int(c) for c in children]
            frontier += [int(c) for c in children]
        return found

    def _watch(self) -> None:
        while not self.stop.is_set():
            for pid in self._tree():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                peak = next((int(line.split()[1]) for line in status.splitlines()
                             if line.startswith("VmHWM:")), 0)
                label = f"{pid} {cmd.decode(errors='replace')[:80].strip()}"
                self.peaks[label] = max(self.peaks.get(label, 0), peak // 1024)
                if not self.read_pss:
                    continue
                try:
                    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                    pss = int(rollup.split("\nPss:")[1].split()[0]) // 1024
                    self.pss[label] = max(self.pss.get(label, 0), pss)
                except (OSError, IndexError, ValueError):
                    pass
            time.sleep(0.05)

    def done(self) -> dict[str, dict[str, int]]:
        self.stop.set()
        self.thread.join()
        return {label: {"rss": rss, **({"pss": self.pss.get(label, 0)} if self.read_pss else {})}
                for label, rss in sorted(self.peaks.items(), key=lambda kv: -kv[1]) if rss}


def timed(cmd: list[str], env: dict, pss: bool = False
          ) -> tuple[float, subprocess.CompletedProcess, dict]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    memory = PeakMemory(proc.pid, pss)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    peaks = memory.done()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{err[-3000:]}")
    return seconds, subprocess.CompletedProcess(cmd, 0, out, err), peaks


def breakdown(album: Path, truth: dict, home: Path, sample: int = 100) -> dict:
    """Where one photo's time goes in facepair, one thread, on `sample` photos of the album (all),
    step by step as an album worker takes them (index.album.analyse), then naming and writing
    as the album job does them; and the least time of decoding, detecting and embedding each:
    the compute floor."""
    import numpy as np
    import torch

    from faces.align import face_chip
    from faces.decode import decode_reduced
    from index.album.analyse import analyse, face_sources, lend_to_workers
    from index.album.record import Tally
    from index.album.scan import PhotoFile
    from index.album.tagger import AlbumTagger
    from index.gallery import Gallery, encode_chip
    from service.settings import get_settings

    torch.set_num_threads(1)
    work = home.parent / "breakdown"
    shutil.copytree(home, work / "home")
    subset = work / "album"
    for rel in sorted(truth)[:sample]:
        (subset / rel).parent.mkdir(parents=True, exist_ok=True)
        (subset / rel).symlink_to(album / rel)
    settings = get_settings().model_copy(update={"home": work / "home"})
    gallery = Gallery(settings)
    detector, embedder = gallery.detector, gallery.embedder
    tagger = AlbumTagger(gallery, workers=1)
    lend_to_workers(gallery)
    job = tagger.start_job(subset)
    tally = Tally()
    rows = []
    for rel in sorted(truth)[:sample]:
        path = album / rel
        t0 = time.perf_counter()
        reduced = decode_reduced(path, settings.detect_max_side, settings.max_pixels)
        t1 = time.perf_counter()
        faces = detector.detect_reduced(reduced)
        t2 = time.perf_counter()
        sources = face_sources(path, reduced, faces, embedder.input_size, settings.max_pixels)
        full_s = time.perf_counter() - t2  # the parts at full size: decoding
        crops = []
        for source, points in sources:
            encode_chip(face_chip(source, points)[0])
            crops.append(embedder.crops_at(source, [points])[0])
        t3 = time.perf_counter()
        if crops:
            embedder.embed_crops(np.stack(crops))
        t4 = time.perf_counter()
        # naming and writing, as the album job does them, on the worker's analysis
        place = gallery.roots.finder()(subset / rel)
        assert place is not None
        (item,) = analyse([PhotoFile(str(path), path.stat().st_size, path.stat().st_mtime, "",
                                     place.ref, place.shown)])
        t5 = time.perf_counter()
        (naming,) = tagger.name([item])
        t6 = time.perf_counter()
        people = tagger.recorder.user_people(naming)
        with gallery.store.transaction():
            tagger.recorder.record(item, naming, people, job, tally)
        t7 = time.perf_counter()
        rows.append({"decode": t1 - t0 + full_s, "detect": t2 - t1, "align": t3 - t2 - full_s,
                     "embed": t4 - t3, "naming": t6 - t5, "writing": t7 - t6,
                     "faces": len(faces),
                     "full_decodes": any(source is not reduced.image for source, _ in sources),
                     "least_decode": t1 - t0})
    gallery.close()
    n = len(rows)
    mean = {k: round(1000 * sum(r[k] for r in rows) / n, 1)
            for k in ("decode", "detect", "align", "embed", "naming", "writing")}
    floor = sum(r["least_decode"] + r["detect"] + r["embed"] for r in rows) / n
    return {"photos": n, "ms_per_photo": mean,
            "faces_per_photo": round(sum(r["faces"] for r in rows) / n, 2),
            "decoded_in_full": sum(r["full_decodes"] for r in rows),
            "floor_ms_per_photo": round(1000 * floor, 1)}


def facepair_runs(contest: Contest, album: Path, truth: dict[str, list[str]], workers: int
                  ) -> tuple[dict[str, dict], dict]:
    """facepair timed on the whole album and on its JPEGs alone (the photos face_recognition
    reads), each with a fresh copy of the enrolled gallery: {"album" or "jpegs": its time,
    each process's peak memory, the names it gave, its JSON result}; then the peaks of the
    whole album's run once more, with each process's share (PSS)."""
    jpegs = contest.tmp / "jpegs"  # the photos face_recognition reads: it passes HEIC over
    for rel in truth:
        if not rel.endswith(".heic"):
            (jpegs / rel).parent.mkdir(parents=True, exist_ok=True)
            (jpegs / rel).symlink_to(album / rel)
    ours: dict[str, dict] = {}
    for label, folder in (("album", album), ("jpegs", jpegs)):
        home = contest.fresh_home(f"home-{label}")
        seconds, run, peaks = timed(contest.facepair(folder, workers), facepair_env(home))
        ours[label] = {"seconds": seconds, "peaks": peaks, "tags": named_faces(home, folder),
                       "result": last_json(run.stdout)}
    home = contest.fresh_home("home-memory")
    shares = timed(contest.facepair(album, workers), facepair_env(home), pss=True)[2]
    return ours, shares


def main(as_json: bool = False, workers: int = 2) -> None:
    truth = build()
    album = ALBUM_CACHE / "album"
    with tempfile.TemporaryDirectory() as tmp:
        contest = Contest.prepare(Path(tmp), enrollment(), album, truth)
        ours, shares = facepair_runs(contest, album, truth, workers)
        theirs_s, theirs, theirs_mem = timed(*contest.face_recognition(workers))
        parts = breakdown(album, truth, contest.enrolled)

    photos = len(truth)
    floor_s = parts["floor_ms_per_photo"] / 1000 * photos / workers
    jpeg_truth = {rel: names for rel, names in truth.items() if not rel.endswith(".heic")}
    mine = ours["album"]
    figures = {
        "photos": photos, "jpegs": len(jpeg_truth), "workers": workers,
        "facepair": {"seconds": round(mine["seconds"], 1),
                     "photos_per_s": round(photos / mine["seconds"], 2),
                     "faces": mine["result"]["faces"], **precision_recall(truth, mine["tags"]),
                     "peak_mb": mine["peaks"], "peak_mb_with_pss": shares},
        "facepair_jpegs": {"seconds": round(ours["jpegs"]["seconds"], 1),
                           "photos_per_s": round(len(jpeg_truth) / ours["jpegs"]["seconds"], 2),
                           **precision_recall(jpeg_truth, ours["jpegs"]["tags"]),
                           "peak_mb": ours["jpegs"]["peaks"]},
        "face_recognition": {"seconds": round(theirs_s, 1),
                             "photos_per_s": round(len(jpeg_truth) / theirs_s, 2),
                             **precision_recall(jpeg_truth, their_names(theirs.stdout)),
                             "peak_mb": theirs_mem},
        "speedup": round(theirs_s / mine["seconds"], 2),
        "speedup_same_photos": round(theirs_s / ours["jpegs"]["seconds"], 2),
        "breakdown": parts,
        "compute_floor_s": round(floor_s, 1),
        "share_of_floor": round(floor_s / mine["seconds"], 2),
    }
    report(figures, floor_s)
    if as_json:
        print(json.dumps(figures))


def report(figures: dict, floor_s: float) -> None:
    photos, jpegs, parts = figures["photos"], figures["jpegs"], figures["breakdown"]
    print(f"phone album: {photos} photos of 12 MP ({jpegs} JPEG, the rest HEIC), "
          f"{figures['workers']} workers/cpus, wall time of each command from its start; the "
          "face_recognition CLI reads only the JPEGs")
    for system, label in (("facepair", f"facepair, all {photos}"),
                          ("facepair_jpegs", f"facepair, {jpegs} JPEGs"),
                          ("face_recognition", f"face_recognition, {jpegs} JPEGs")):
        f = figures[system]
        print(f"{label:28s} {f['seconds']:6.1f} s  {f['photos_per_s']:5.2f} photos/s  "
              f"precision {f['precision']:.3f} recall {f['recall']:.3f}  peak resident MB "
              f"by process {sorted((m['rss'] for m in f['peak_mb'].values()), reverse=True)}")
    print(f"facepair, all {photos}, a run of its own reading each process's share (PSS): "
          + ", ".join(f"{m['rss']} MB resident, {m['pss']} PSS"
                      for m in figures["facepair"]["peak_mb_with_pss"].values()))
    print(f"facepair {figures['speedup_same_photos']:.2f}× faster on the same {jpegs} "
          f"photos ({figures['speedup']:.2f}× with the HEICs it reads as well); compute floor "
          f"of all {photos}: {floor_s:.1f} s ({figures['share_of_floor']:.0%} of it reached)")
    print(f"one photo, one thread (ms): {parts['ms_per_photo']}, "
          f"{parts['faces_per_photo']} faces a photo")
