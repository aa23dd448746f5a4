"""Replicas over one PostgreSQL: how soon one replica names a face another just enrolled, and
identify throughput with one replica and with two.

    .venv/bin/python -m bench.replicas [--people 20] [--seconds 20] [--clients 4] [--json]

A throwaway PostgreSQL cluster (as the tests start one) and two `facepair serve` processes,
each with a home of its own, over it. Under a load of identify requests (`--clients` threads
sending real LFW photos to both replicas), people are enrolled one at a time, each on one
replica with one photo (alternating), and the other replica is asked to identify another
photo of them until it names them: the delay is from the enrollment's answer to the answer
that named them (so it holds that answer's own latency). Then identify throughput and
latency (p50, p99) for `--seconds` with the load on one replica, and on both.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

from bench.service_process import Replica, postgres


def lfw_people(count: int) -> list[tuple[str, Path, Path]]:
    """People of LFW with two photos or more: (name, a photo to enroll, another to find)."""
    lfw = Path(os.environ["FACEPAIR_DATA_DIR"]) / "lfw"
    names = (lfw / "lfw-names.txt").read_text().split("\n")
    chosen = [n.split("\t")[0] for n in names if n and int(n.split("\t")[1]) >= 2]
    root = next(lfw.glob("*/"))
    return [(n, root / n / f"{n}_0001.jpg", root / n / f"{n}_0002.jpg")
            for n in chosen[::7][:count]]


def named(client: httpx.Client, url: str, photo: bytes) -> set[str]:
    answer = client.post(url + "/v1/identify", files={"photo": ("p.jpg", photo)})
    answer.raise_for_status()
    return {f["person"]["name"] for f in answer.json()["faces"] if f.get("person")}


class Load:
    """Client threads sending identify requests to some replicas until stopped."""

    def __init__(self, urls: list[str], photos: list[bytes], clients: int) -> None:
        self.stop = threading.Event()
        self.times: list[float] = []
        self.errors = 0
        self.threads = [threading.Thread(target=self.client, args=(urls[i % len(urls)],
                                                                     photos, i))
                        for i in range(clients)]

    def client(self, url: str, photos: list[bytes], seed: int) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                start = time.perf_counter()
                try:
                    named(client, url, photos[int(rng.integers(len(photos)))])
                    self.times.append(time.perf_counter() - start)
                except httpx.HTTPError:
                    self.errors += 1

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def delays(urls: list[str], people: list[tuple[str, Path, Path]]) -> list[float]:
    """Per person: seconds from one replica's enrollment to the other naming them."""
    found = []
    with httpx.Client(timeout=60) as client:
        for k, (name, enroll, probe) in enumerate(people):
            here, there = urls[k % 2], urls[1 - k % 2]
            person = client.post(here + "/v1/people", json={"name": name})
            person.raise_for_status()
            added = client.post(f"{here}/v1/people/{person.json()['id']}/photos",
                                files={"photo": ("p.jpg", enroll.read_bytes())},
                                data={"face": "center"})
            added.raise_for_status()
            acked, data = time.perf_counter(), probe.read_bytes()
            while name not in named(client, there, data):
                if time.perf_counter() - acked > 30:
                    raise TimeoutError(f"{name} was not named by the other replica in 30 s")
            found.append(time.perf_counter() - acked)
    return found


def figures(load: Load, seconds: float) -> dict:
    ms = np.array(load.times) * 1e3
    return {"requests_per_s": round(len(ms) / seconds, 2), "errors": load.errors,
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    people = lfw_people(args.people + 8)
    load_photos = [p.read_bytes() for _, _, p in people[args.people:]]
    result: dict = {"cores": os.cpu_count(), "clients": args.clients}
    with postgres() as cluster, tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        env = {"FACEPAIR_STORE": cluster.new_database(), "FACEPAIR_AUTH": "false",
               "OMP_NUM_THREADS": "1"}
        urls = [stack.enter_context(Replica(Path(tmp) / name, env)).url
                for name in ("one", "two")]
        with Load(urls, load_photos, args.clients):
            found = np.array(delays(urls, people[: args.people]))
        result["enrolled_to_named_s"] = {
            "p50": round(float(np.percentile(found, 50)), 3),
            "p99": round(float(np.percentile(found, 99)), 3),
            "max": round(float(found.max()), 3)}
        for label, serving in (("one_replica", urls[:1]), ("two_replicas", urls)):
            with Load(serving, load_photos, args.clients) as load:
                time.sleep(args.seconds)
            result[label] = figures(load, args.seconds)
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
