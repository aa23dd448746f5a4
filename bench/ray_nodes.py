"""A real Ray cluster on this machine for the tests and benchmarks: a head node and worker
nodes started with `ray start` (one CPU each by default), each its own process group, so that
one node can be killed on its own and all of them are torn down afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.service_process import free_port

RAY = str(Path(sys.executable).parent / "ray")


def available() -> bool:
    return Path(RAY).exists()


@dataclass
class LocalCluster:
    address: str
    temp: Path
    nodes: list[subprocess.Popen] = field(default_factory=list)
    cpus: int = 1

    def add_node(self) -> subprocess.Popen:
        """One more worker node, joined once the cluster counts it (a node killed before is
        counted gone first: `kill(node, wait=True)`)."""
        before = self.alive()
        node = _start([RAY, "start", "--address", self.address, "--num-cpus", str(self.cpus),
                       "--block", "--disable-usage-stats"], self.temp)
        self.nodes.append(node)
        self.wait_nodes(before + 1)
        return node

    def kill(self, node: subprocess.Popen, wait: bool = False) -> None:
        """A node gone at once: its raylet, object store and workers killed (SIGKILL);
        `wait`: until the head counts it gone."""
        os.killpg(node.pid, signal.SIGKILL)
        node.wait(timeout=30)
        self.nodes.remove(node)
        if wait:
            deadline = time.monotonic() + 60
            while self.alive() > len(self.nodes):
                if time.monotonic() > deadline:
                    raise TimeoutError("the Ray cluster's head still counts a killed node")
                time.sleep(0.5)

    def alive(self) -> int:
        """The nodes the cluster's head counts as alive."""
        out = subprocess.run([RAY, "status", "--address", self.address], capture_output=True,
                             text=True, env=_env(self.temp)).stdout
        active = out.partition("Active:")[2].partition("Pending:")[0]
        return sum(line.split()[1].startswith("node_") for line in active.splitlines()
                   if len(line.split()) == 2)

    def wait_nodes(self, count: int, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while self.alive() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Ray cluster did not reach {count} nodes")
            time.sleep(0.5)


def _env(temp: Path) -> dict[str, str]:
    # the nodes' workers run this interpreter's packages, one thread of OpenMP each; the head
    # takes a node that stops answering for gone within seconds (Ray's default: a minute)
    return {**os.environ, "RAY_TMPDIR": str(temp), "OMP_NUM_THREADS": "1",
            "RAY_USAGE_STATS_ENABLED": "0", "RAY_health_check_period_ms": "1000",
            "RAY_health_check_failure_threshold": "3", "RAY_health_check_timeout_ms": "1000"}


def _start(command: list[str], temp: Path) -> subprocess.Popen:
    return subprocess.Popen(command, env=_env(temp), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def local_cluster(workers: int = 1, cpus: int = 1) -> Iterator[LocalCluster]:
    """A head and `workers` worker nodes of `cpus` CPUs each, torn down afterwards."""
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: its sockets' paths
    port = free_port()
    cluster = LocalCluster(f"127.0.0.1:{port}", temp, cpus=cpus)
    head = _start([RAY, "start", "--head", "--port", str(port), "--num-cpus", str(cpus),
                   "--temp-dir", str(temp), "--include-dashboard=false", "--block",
                   "--disable-usage-stats"], temp)
    cluster.nodes.append(head)
    try:
        cluster.wait_nodes(1)
        for _ in range(workers):
            cluster.add_node()
        yield cluster
    finally:
        for node in reversed(cluster.nodes):
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGTERM)
        for node in cluster.nodes:  # a throwaway cluster: a few seconds to stop, then killed
            try:
                node.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()
        shutil.rmtree(temp, ignore_errors=True)
