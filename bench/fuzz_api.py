"""schemathesis against the running API's /openapi.json: generated requests to every operation
(with an admin key, after enrolling one real person so ids exist), counting server errors.

    .venv/bin/python -m bench.fuzz_api [--max-examples 100] [--json]

The counts come from the service's own Prometheus metrics (requests by status), so they include
every request schemathesis sent, whatever its report says.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench import BIN
from bench.photos import lfw_dir
from bench.service_process import running_service


def counts(url: str) -> dict[str, int]:
    text = httpx.get(url + "/metrics").text
    totals: dict[str, int] = {}
    for status, value in re.findall(r'facepair_requests_total\{[^}]*status="(\d+)"\} ([\d.e+]+)',
                                    text):
        totals[status] = totals.get(status, 0) + int(float(value))
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, running_service(Path(home)) as (url, key):
        auth = {"Authorization": f"Bearer {key}"}
        person = httpx.post(url + "/v1/people", json={"name": "Amelie"}, headers=auth).json()
        face = lfw_dir() / "Amelie_Mauresmo" / "Amelie_Mauresmo_0001.jpg"
        httpx.post(f"{url}/v1/people/{person['id']}/photos", headers=auth, timeout=60,
                   files={"photo": (face.name, face.read_bytes(), "image/jpeg")})
        before = counts(url)
        start = time.perf_counter()
        run = subprocess.run(
            [str(BIN / "schemathesis"), "run", url + "/openapi.json", "-H",
             f"Authorization: Bearer {key}", "--checks", "not_a_server_error",
             "--max-examples", str(args.max_examples)],
            capture_output=True, text=True)
        seconds = time.perf_counter() - start
        after = counts(url)
    sent = {s: after.get(s, 0) - before.get(s, 0) for s in after}
    sent = {s: n for s, n in sorted(sent.items()) if n}
    total = sum(sent.values())
    server_errors = sum(n for s, n in sent.items() if s.startswith("5"))
    summary = [line for line in run.stdout.splitlines() if "generated" in line]
    figures = {"requests": total, "server_errors": server_errors, "by_status": sent,
               "schemathesis_exit": run.returncode, "schemathesis": summary[-1:] or None,
               "seconds": round(seconds, 1)}
    print(f"schemathesis: {total} requests, {server_errors} server errors (5xx); by status "
          f"{sent}; {seconds:.0f} s")
    if run.returncode != 0:
        print(run.stdout[-3000:])
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
