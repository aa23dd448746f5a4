"""A real `facepair serve` for the HTTP benchmarks: a fresh home, an admin key, a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import FACEPAIR, last_json


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_service(home: Path, workers: int = 1, env: dict[str, str] | None = None,
                    started: list[subprocess.Popen] | None = None,
                    log: Path | None = None) -> Iterator[tuple[str, str]]:
    """(base URL, admin key) of a service on 127.0.0.1 over `home`, stopped afterwards;
    `env` adds settings, `started` receives the server process, `log` its output."""
    env = {**os.environ, **(env or {}), "FACEPAIR_HOME": str(home)}
    made = subprocess.run([FACEPAIR, "keys", "create", "--scope", "admin", "--json"],
                          env=env, capture_output=True, text=True, check=True)
    key = last_json(made.stdout)["key"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([FACEPAIR, "serve", "--port", str(port),
                               "--workers", str(workers)], env=env,
                              stdout=subprocess.DEVNULL,
                              stderr=log.open("wb") if log else subprocess.DEVNULL)
    if started is not None:
        started.append(server)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise TimeoutError("facepair serve did not become ready")
        yield url, key
    finally:
        server.terminate()
        server.wait(timeout=30)
