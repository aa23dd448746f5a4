"""A throwaway PostgreSQL cluster for the tests: Debian's server binaries, `initdb` into a
temporary folder (as `nobody` when the tests run as root: PostgreSQL refuses root), a socket in
that folder and no TCP port, removed at the end. Each test gets a database of its own."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa


def server_bin() -> Path | None:
    """Where Debian keeps the newest PostgreSQL server's programs, if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Cluster:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="facepair-pg-"))
        self.user: list[str] = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            self.user = ["runuser", "-u", "nobody", "--"]
        with socket.socket() as s:  # a number no other cluster's socket has
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "facepair",
                  "-E", "UTF8", "--no-sync")
        self.start()
        self._names = itertools.count(1)

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self.user, str(self.bindir / program), *args], check=True,
                       capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w",
                  "-o", f"-k {self.dir} -p {self.port} -h '' -c fsync=off", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://facepair@/{database}?host={self.dir}&port={self.port}"

    def new_database(self) -> str:
        """A fresh, empty database's address."""
        name = f"gallery_{next(self._names)}"
        engine = sa.create_engine(self.url().replace("postgresql:", "postgresql+psycopg:", 1),
                                  isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        engine.dispose()
        return self.url(name)

    def remove(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def throwaway() -> Iterator[Cluster]:
    """A cluster of its own, removed afterwards; the test is skipped where PostgreSQL's server
    is not installed (`make system-deps` installs it)."""
    bindir = server_bin()
    if bindir is None:
        pytest.skip("PostgreSQL's server is not installed (make system-deps installs it)")
    cluster = Cluster(bindir)
    try:
        yield cluster
    finally:
        cluster.remove()
