"""Batch work on a Ray cluster: connecting to it, and the actor pool its nodes can hold.

Ray is an optional extra (`pip install 'facepair[ray]'`): nothing here imports it until a
cluster is asked for. Every node runs the same facepair install and sees the photos at the
same paths (or under the same root names: `FACEPAIR_ROOTS`).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from types import ModuleType

from faces.errors import NoCluster

# the share of a CPU a reading task asks for: the rest of a node's cores go to its actors
READ_CPUS = 0.25


def connect(address: str) -> ModuleType:
    """Ray, connected to the cluster at `address` (`auto`: the one started on this host with
    `ray start`; `local`: a cluster of this process's own, for one machine)."""
    # nothing of this install's use leaves the cluster (Ray's usage reports, Ray Data's
    # metrics queries)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DATA_USAGE_DISABLED", "1")
    try:
        import ray
    except ImportError:
        raise NoCluster("Ray is not installed: pip install 'facepair[ray]'") from None
    if not ray.is_initialized():
        try:
            ray.init(address=None if address == "local" else address, log_to_driver=False,
                     logging_level=logging.WARNING, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise NoCluster(f"no Ray cluster at {address}: {exc}") from None
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.issue_detectors_config.detectors = []  # advice for Ray's own logs
    return ray


@dataclass(frozen=True)
class Pool:
    """The actors a cluster holds: how many, and what each asks for (a GPU, or `cores` CPUs
    less the share left for reading), with the torch threads each runs."""

    actors: int
    cpus: float
    gpus: float
    threads: int

    @property
    def device(self) -> str:
        return "cuda" if self.gpus else "cpu"


def pool(ray: ModuleType, cores_per_actor: int) -> Pool:
    """One actor per GPU where the cluster has GPUs; else one per `cores_per_actor` cores of
    each node, each leaving READ_CPUS of a core to the reading tasks beside it."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    gpus = sum(int(r.get("GPU", 0)) for r in nodes)
    if gpus:
        return Pool(actors=gpus, cpus=1, gpus=1, threads=1)
    cores = max(1, cores_per_actor)
    actors = sum(max(1, int(r.get("CPU", 0)) // cores) for r in nodes if r.get("CPU", 0) >= 1)
    if not actors:
        raise NoCluster("the Ray cluster has no node with a CPU or GPU to work on")
    return Pool(actors=actors, cpus=max(READ_CPUS, cores - READ_CPUS), gpus=0,
                threads=max(1, math.floor(cores)))


def disconnect() -> None:
    """This process's connection to its Ray cluster closed (a cluster of its own stopped)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
