"""The HTTP cost: `/v1/identify` on loopback with 1, 4 and 16 concurrent clients, against calling
`index.Gallery.identify` in-process with as many threads, on the same LFW photos and gallery.

    .venv/bin/python -m bench.http_load [--requests 64] [--json]

The gallery: 20 LFW DevTest people enrolled from 3 photos each. Requests: their other photos
and strangers' photos, in a fixed order. Reported per concurrency: requests/second, p50 and p99
latency for both, and HTTP's throughput as a share of in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from bench.open_set import devtest_split
from bench.service_process import running_service


def summary(latencies: list[float], seconds: float) -> dict:
    return {"rps": round(len(latencies) / seconds, 2),
            "p50_ms": round(float(np.percentile(latencies, 50)) * 1e3, 1),
            "p99_ms": round(float(np.percentile(latencies, 99)) * 1e3, 1)}


async def over_http(url: str, key: str, photos: list[bytes], clients: int) -> dict:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for p in photos:
        queue.put_nowait(p)
    latencies: list[float] = []

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            data = queue.get_nowait()
            start = time.perf_counter()
            r = await http.post("/v1/identify", files={"photo": ("p.jpg", data, "image/jpeg")})
            r.raise_for_status()
            latencies.append(time.perf_counter() - start)

    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"},
                                 timeout=300, limits=httpx.Limits(max_connections=64)) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return summary(latencies, time.perf_counter() - start)


def in_process(gallery, photos: list[bytes], clients: int) -> dict:
    def one(data: bytes) -> float:
        start = time.perf_counter()
        gallery.identify(data)
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(one, photos))
    return summary(latencies, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    enroll, mated, strangers = devtest_split()
    people = sorted(enroll)[:20]
    theirs = [p for n in people for p in mated[n]]
    half = min(len(theirs), args.requests // 2)
    photos = [p.read_bytes() for p in theirs[:half] + strangers[: args.requests - half]]
    levels = [int(c) for c in args.levels.split(",")]
    figures: dict = {"requests": len(photos), "people": len(people), "levels": {}}
    with tempfile.TemporaryDirectory() as home:
        with running_service(Path(home)) as (url, key):
            auth = {"Authorization": f"Bearer {key}"}
            for name in people:
                pid = httpx.post(url + "/v1/people", json={"name": name}, headers=auth).json()["id"]
                for p in enroll[name]:
                    httpx.post(f"{url}/v1/people/{pid}/photos", headers=auth, timeout=120,
                               files={"photo": (p.name, p.read_bytes(), "image/jpeg")})
            asyncio.run(over_http(url, key, photos[:4], 1))  # warm-up
            for c in levels:
                figures["levels"][c] = {"http": asyncio.run(over_http(url, key, photos, c))}
        from index.gallery import Gallery

        gallery = Gallery(home=Path(home))  # the same store, in this process
        in_process(gallery, photos[:4], 1)
        for c in levels:
            level = figures["levels"][c]
            level["in_process"] = in_process(gallery, photos, c)
            level["http_share"] = round(level["http"]["rps"] / level["in_process"]["rps"], 3)
        gallery.close()
    print(f"/v1/identify on loopback, {len(photos)} LFW photos, {len(people)}-person gallery")
    for c, level in figures["levels"].items():
        h, i = level["http"], level["in_process"]
        print(f"{c:3d} clients  HTTP {h['rps']:6.2f} req/s p50 {h['p50_ms']:7.1f} ms p99 "
              f"{h['p99_ms']:7.1f} ms | in-process {i['rps']:6.2f}/s p50 {i['p50_ms']:7.1f} ms "
              f"p99 {i['p99_ms']:7.1f} ms | HTTP keeps {level['http_share']:.0%}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
