"""Album tagging on a Ray cluster against the local pool, on the same cores: `facepair tag
--ray` with a head and a worker node of one CPU each on this machine (`bench.ray_nodes`)
against `facepair tag --workers 2`, taking turns; each command timed from its start, with the
names each gives every photo.

    .venv/bin/python -m bench.tag_album --phone --ray [--repeat N] [--json]
    .venv/bin/python -m bench.tag_album --ray [--others N] [--repeat N] [--json]

The cluster's actors stay warm between jobs (`FACEPAIR_RAY_KEEP`): the first `tag --ray` on
the fresh cluster starts them (`cold`), the next ones find them started (`warm`). Reported: the
wall time of each command (medians of the local runs and of the warm Ray runs), Ray's
overhead against the local pool, warm and cold, and whether both named the same faces in
every photo. Then, in this process (`steady`): the seconds from a run's start to its first
chunk of photos recorded, and the photos a second recorded after that, for each way.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

from bench import last_json
from bench.album import precision_recall
from bench.harness import Contest, facepair_env, named_faces
from bench.ray_nodes import local_cluster


def run(contest: Contest, album: Path, command: list[str], label: str
        ) -> tuple[float, dict, dict[str, list[str]]]:
    """One command on a fresh copy of the enrolled gallery: its wall time, its result and
    the names it gave by photo."""
    home = contest.fresh_home(label)
    start = time.perf_counter()
    done = subprocess.run(command, env=facepair_env(home), check=True, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    return seconds, last_json(done.stdout), named_faces(home, album)


def compare(contest: Contest, album: Path, truth: dict[str, list[str]], repeat: int,
            as_json: bool, title: str) -> dict:
    local_cmd = Contest.facepair(album, 2)
    runs = []
    with local_cluster(workers=1, cpus=1) as cluster:
        ray_cmd = [*local_cmd[:-3], "--ray", cluster.address, "--json"]
        for i in range(repeat + 1):
            local_s, local_result, local_names = run(contest, album, local_cmd, f"local{i}")
            ray_s, ray_result, ray_names = run(contest, album, ray_cmd, f"ray{i}")
            runs.append({"pool": "warm" if i else "cold",
                         "local_s": round(local_s, 1), "ray_s": round(ray_s, 1),
                         "local_run_s": local_result["seconds"],
                         "ray_run_s": ray_result["seconds"],
                         "same_names": local_names == ray_names,
                         "same_figures": all(local_result[k] == ray_result[k]
                                             for k in ("photos", "faces", "named", "unknown"))})
        steady = {"local": steady_rate(contest, album, None, "steady-local"),
                  "ray": steady_rate(contest, album, cluster.address, "steady-ray")}
    warm = runs[1:]
    local_s = statistics.median(r["local_s"] for r in runs)
    ray_s = statistics.median(r["ray_s"] for r in warm)
    figures = {
        "photos": len(truth), "runs": runs,
        "local": {"seconds": local_s, "photos_per_s": round(len(truth) / local_s, 2),
                  **precision_recall(truth, local_names)},
        "ray": {"seconds": ray_s, "photos_per_s": round(len(truth) / ray_s, 2),
                **precision_recall(truth, ray_names)},
        "overhead": round(ray_s / local_s - 1, 3),
        "overhead_cold": round(runs[0]["ray_s"] / local_s - 1, 3),
        "same_names_every_run": all(r["same_names"] for r in runs),
        "steady": steady,
    }
    print(f"{title}: {len(truth)} photos; 2 cores: `tag --workers 2` against `tag --ray` "
          f"(a head and a worker node of 1 CPU each), medians of {repeat + 1} local and "
          f"{repeat} warm Ray run(s)")
    for name in ("local", "ray"):
        f = figures[name]
        print(f"{name:6s} {f['seconds']:6.1f} s  {f['photos_per_s']:5.2f} photos/s  "
              f"precision {f['precision']:.3f} recall {f['recall']:.3f}")
    print(f"Ray's overhead {figures['overhead']:+.1%} with the pool warm, "
          f"{figures['overhead_cold']:+.1%} for the job that starts it; the same names on "
          f"every photo in every run: {figures['same_names_every_run']}; runs: {runs}")
    print(f"in this process: first chunk recorded after {steady['local']['first_chunk_s']} s "
          f"(local) and {steady['ray']['first_chunk_s']} s (Ray); after that "
          f"{steady['local']['photos_per_s']} and {steady['ray']['photos_per_s']} photos/s")
    if as_json:
        print(json.dumps(figures))
    return figures


def steady_rate(contest: Contest, album: Path, ray: str | None, label: str) -> dict:
    """One run in this process (2 local workers, or the cluster at `ray`): the seconds to its
    first recorded chunk and the photos a second recorded after it."""
    from faces.cluster import disconnect
    from index.album.tagger import AlbumTagger
    from index.gallery import Gallery
    from index.settings import IndexSettings

    marks: list[tuple[float, int]] = []
    g = Gallery(IndexSettings(home=contest.fresh_home(label)))
    try:
        start = time.perf_counter()
        AlbumTagger(g, workers=2, ray=ray,
                    progress=lambda done, _: marks.append((time.perf_counter(), done))
                    ).run(album)
    finally:
        g.close()
        disconnect()
    (first, done0), (last, done1) = marks[0], marks[-1]
    return {"first_chunk_s": round(first - start, 1),
            "photos_per_s": round((done1 - done0) / max(1e-9, last - first), 2)}
