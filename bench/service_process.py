"""A real `facepair serve` for the HTTP benchmarks: a fresh home, an admin key, a free port;
replicas over a throwaway PostgreSQL cluster (as the tests start one)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import FACEPAIR, last_json
from tests.postgres import Cluster, server_bin


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
        wait_ready(url, 180)
        yield url, key
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_ready(url: str, seconds: float) -> float:
    """Wait until the service at `url` answers `/readyz` with 200: the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"facepair serve at {url} did not become ready in {seconds:g} s")


@contextmanager
def postgres() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster, removed afterwards."""
    bindir = server_bin()
    if bindir is None:
        raise SystemExit("needs PostgreSQL's server (make system-deps)")
    cluster = Cluster(bindir)
    try:
        yield cluster
    finally:
        cluster.remove()


class Replica:
    """One `facepair serve` over a shared store (`FACEPAIR_STORE` in `env`), with a home and
    a port of its own, started again on the same ones after a kill."""

    def __init__(self, home: Path, env: dict[str, str], log: Path | None = None) -> None:
        self.env = {**os.environ, **env, "FACEPAIR_HOME": str(home)}
        self.log = log
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start it: the seconds until it was ready."""
        started = time.monotonic()
        self.process = subprocess.Popen(
            [FACEPAIR, "serve", "--port", self.url.rsplit(":", 1)[1]], env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab") if self.log else subprocess.DEVNULL)
        wait_ready(self.url, 1200)  # a million faces in HNSW graphs: minutes on 2 cores
        return time.monotonic() - started

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)

    def __enter__(self) -> Replica:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
