"""Batch work on a Ray cluster: connecting to it, and the actor pool its nodes can hold.

Ray is an optional extra (`pip install 'facepair[ray]'`): nothing here imports it until a
cluster is asked for. Every node runs the same facepair install and sees the photos at the
same paths (or under the same root names: `FACEPAIR_ROOTS`).
"""

from __future__ import annotations

import logging
import math
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from faces.errors import NoCluster
from faces.memory import keep_freed_memory

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


def _dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _read(batch: dict[str, Any], read: Callable[..., Any], kwargs: dict) -> dict[str, list]:
    """A reading task: `read` on each record of a batch."""
    keep_freed_memory()
    return {"record": [_dumps(read(pickle.loads(raw), **kwargs)) for raw in batch["record"]]}


class _Actor:
    """An actor of the pool: `worker(**kwargs)` made once, called on each batch's records."""

    def __init__(self, worker: Callable[..., Callable[[list], list]], kwargs: dict) -> None:
        keep_freed_memory()
        self.worker = worker(**kwargs)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        return {"record": [_dumps(r) for r in
                           self.worker([pickle.loads(raw) for raw in batch["record"]])]}


def stream(address: str, records: Sequence[Any], read: Callable[..., Any], read_kwargs: dict,
           worker: Callable[..., Callable[[list], list]], worker_kwargs: dict, batch_size: int,
           blocks: Callable[[int], int], cores_per_actor: int = 1) -> Iterator[list[Any]]:
    """`records` through the cluster at `address` with Ray Data: `read(record, **read_kwargs)`
    in reading tasks of READ_CPUS each, then batches of `batch_size` through an actor pool
    (`pool`) whose actors each make `worker(device=, threads=, **worker_kwargs)` once and
    call it on a batch's list; the results come back a batch at a time, in no set order.
    `blocks(actors)`: how many blocks the records are cut into."""
    ray = connect(address)
    actors = pool(ray, cores_per_actor)
    dataset: Any = ray.data.from_items([{"record": _dumps(r)} for r in records],
                                       override_num_blocks=blocks(actors.actors))
    dataset = dataset.map_batches(_read, batch_size=batch_size, num_cpus=READ_CPUS,
                                  batch_format="numpy",
                                  fn_kwargs={"read": read, "kwargs": read_kwargs})
    dataset = dataset.map_batches(
        _Actor, batch_size=batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(actors.actors, len(records))),
        num_cpus=actors.cpus, num_gpus=actors.gpus,
        fn_constructor_kwargs={"worker": worker, "kwargs": {
            **worker_kwargs, "device": actors.device, "threads": actors.threads}})
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy",
                                      prefetch_batches=1):
        yield [pickle.loads(raw) for raw in batch["record"]]
