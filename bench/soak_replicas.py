"""The soak run (`bench.soak`) against replicas over one PostgreSQL, with a replica killed and
PostgreSQL stopped and started again during the run.

    .venv/bin/python -m bench.soak_replicas [--minutes 5] [--clients 12] [--replicas 3] [--json]

A throwaway PostgreSQL cluster (as the tests start one) and `--replicas` `facepair serve`
processes, each with a home of its own, over it; the photo library is the one folder they
share. `bench.soak`'s clients are spread over the replicas (the one that tags albums on the
first). At 30 % of the run the last replica is killed with SIGKILL and started again 10 s
later on the same port and home; at 60 % PostgreSQL is stopped for 15 s and started again.
Expected 5xx: timeouts (504), `busy` and `store_unavailable` (503). Afterwards every
acknowledged enrollment is looked for, deleted people must be gone, and the sidecars must
parse with the other tools' content kept. The figures are written to `soak-replicas.json` in
the benchmarks' cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

from bench import CACHE, FACEPAIR, last_json
from bench.service_process import Replica, postgres
from bench.soak import (
    EXPECTED_5XX,
    Client,
    Photos,
    answered,
    build_album,
    check_people,
    check_sidecars,
)
from tests.postgres import Cluster

EXPECTED = frozenset({*EXPECTED_5XX, (503, "store_unavailable")})


def faults(replicas: list[Replica], cluster: Cluster, begin: float, seconds: float
           ) -> list[str]:
    """A replica killed (and started again) at 30 %, PostgreSQL down for 15 s at 60 %."""
    events = []
    time.sleep(max(0.0, begin + seconds * 0.3 - time.monotonic()))
    victim = replicas[-1]
    victim.kill()
    events.append(f"{time.monotonic() - begin:.0f} s: SIGKILL to replica {victim.url}")
    time.sleep(10)
    victim.start()
    events.append(f"{time.monotonic() - begin:.0f} s: replica {victim.url} ready again")
    time.sleep(max(0.0, begin + seconds * 0.6 - time.monotonic()))
    cluster.stop()
    events.append(f"{time.monotonic() - begin:.0f} s: PostgreSQL stopped")
    time.sleep(15)
    cluster.start()
    events.append(f"{time.monotonic() - begin:.0f} s: PostgreSQL started again")
    return events


def run(args: argparse.Namespace, tmp: Path, photos: Photos, cluster: Cluster) -> dict:
    albums = tmp / "albums"
    foreign = build_album(albums / "family", photos)
    env = {**os.environ, "FACEPAIR_STORE": cluster.new_database(),
           "FACEPAIR_REQUEST_TIMEOUT": "5", "FACEPAIR_ALBUM_ROOTS": json.dumps([str(albums)]),
           "FACEPAIR_ALBUM_WORKERS": "1", "OMP_NUM_THREADS": "1", "FACEPAIR_JOB_LEASE": "10"}
    made = subprocess.run([FACEPAIR, "keys", "create", "--scope", "admin", "--json"],
                          env={**env, "FACEPAIR_HOME": str(tmp / "keys")},
                          capture_output=True, text=True, check=True)
    key = last_json(made.stdout)["key"]
    CACHE.mkdir(parents=True, exist_ok=True)
    replicas = [Replica(tmp / f"replica-{i}", env, CACHE / f"soak-replica-{i}.log")
                for i in range(args.replicas)]
    try:
        for r in replicas:
            r.start()
        seconds = args.minutes * 60
        begin = time.monotonic()
        clients = [Client(i, replicas[i % len(replicas)].url, key, photos, begin + seconds,
                          albums / "family" if i == 0 else None, args.seed * 1000 + i)
                   for i in range(args.clients)]
        for c in clients:
            c.start()
        events = faults(replicas, cluster, begin, seconds)
        for c in clients:
            c.join()
        time.sleep(5)  # the album job in hand ends its chunk
        return {"minutes": args.minutes, "clients": args.clients, "replicas": args.replicas,
                "events": events, **check_people(replicas[0].url, key, clients),
                **check_sidecars(albums / "family", foreign),
                **answered(clients, EXPECTED)}
    finally:
        for r in replicas:
            r.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    photos = Photos(random.Random(args.seed))
    with postgres() as cluster, tempfile.TemporaryDirectory(prefix="facepair-soak-") as tmp:
        result = run(args, Path(tmp), photos, cluster)
    (CACHE / "soak-replicas.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
