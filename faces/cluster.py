"""Batch work on a Ray cluster: connecting to it, the actor pool its nodes can hold, and
records streamed through that pool (`faces.warm_pool`: actors kept warm between jobs, so that
a job pays no start).

Ray is an optional extra (`pip install 'facepair[ray]'`): nothing here imports it until a
cluster is asked for. Every node runs the same facepair install and sees the photos at the
same paths (or under the same root names: `FACEPAIR_ROOTS`).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from faces.errors import NoCluster

# the namespace of facepair's actors on a cluster
NAMESPACE = "facepair"
# seconds an actor of a pool stays after its last batch, for the next job
KEEP = 600.0
# seconds a job waits for the first actor of its pool to start
START_WITHIN = 600.0


def connect(address: str) -> ModuleType:
    """Ray, connected to the cluster at `address` (`auto`: the one started on this host with
    `ray start`; `local`: a cluster of this process's own, for one machine)."""
    # nothing of this install's use leaves the cluster (Ray's usage reports)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise NoCluster("Ray is not installed: pip install 'facepair[ray]'") from None
    if not ray.is_initialized():
        try:
            ray.init(address=None if address == "local" else address, log_to_driver=False,
                     namespace=NAMESPACE,
                     logging_level=logging.WARNING, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise NoCluster(f"no Ray cluster at {address}: {exc}") from None
    return ray


@dataclass(frozen=True)
class Pool:
    """The actors a cluster holds: how many, what each asks for (a GPU and a share of its
    node's cores, or `cores` CPUs), the torch threads each runs and the threads that decode
    its photos."""

    actors: int
    cpus: float
    gpus: float
    threads: int
    readers: int

    @property
    def device(self) -> str:
        return "cuda" if self.gpus else "cpu"

    def slots(self, resources: dict[str, float]) -> int:
        """The actors a node with these resources holds: one per GPU, else one per `cpus`."""
        if self.gpus:
            return int(resources.get("GPU", 0))
        return int(resources.get("CPU", 0) // self.cpus)


def pool(ray: ModuleType, cores_per_actor: int) -> Pool:
    """One actor per GPU where the cluster has GPUs, with its share of the node's cores for
    decoding (as many threads); else one per `cores_per_actor` cores of each node."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if any(r.get("GPU", 0) >= 1 for r in nodes):
        share = min(int(r.get("CPU", 0)) // int(r["GPU"]) for r in nodes if r.get("GPU", 0) >= 1)
        shape = Pool(actors=0, cpus=max(1, share), gpus=1, threads=1, readers=max(1, share))
    else:
        cores = max(1, cores_per_actor)
        shape = Pool(actors=0, cpus=cores, gpus=0, threads=cores, readers=1)
    actors = sum(map(shape.slots, nodes))
    if not actors:
        raise NoCluster("the Ray cluster has no node with a CPU or GPU to work on")
    return replace(shape, actors=actors)


def disconnect() -> None:
    """This process's connection to its Ray cluster closed (a cluster of its own stopped)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def stream(address: str, records: Sequence[Any], read: Callable[..., Any], read_kwargs: dict,
           worker: Callable[..., Callable[[list], list]], worker_kwargs: dict, batch_size: int,
           cores_per_actor: int = 1, keep: float = KEEP) -> Iterator[list[Any]]:
    """`records` through the cluster at `address`, `batch_size` at a time: each batch sent to
    an actor of the pool (`faces.warm_pool`), which made `worker(device=, threads=,
    **worker_kwargs)` once, reads the batch's records (`read(record, **read_kwargs)`) and
    calls the worker on the list. Two batches an actor are in flight, so that it never waits
    for the next. The results come back a batch at a time, in no set order; a batch whose
    actor is lost (its node gone) goes to another. `keep`: seconds the actors stay after
    their last batch, for the next job (0: they leave with this one)."""
    ray = connect(address)
    from ray.exceptions import ObjectLostError, RayActorError

    from faces.warm_pool import WarmPool

    actors = WarmPool(ray, pool(ray, cores_per_actor), worker, worker_kwargs, read,
                      read_kwargs, keep)
    waiting = deque(list(records[i : i + batch_size])
                    for i in range(0, len(records), batch_size))
    flying: dict[Any, tuple[Any, list]] = {}  # a batch's result → (its actor, the batch)
    since = time.monotonic()  # the last answer
    try:
        while waiting or flying:
            while waiting and (actor := actors.idlest(2)) is not None:
                batch = waiting.popleft()
                flying[actor.handle.work.remote(batch)] = (actor, batch)
                actors.load[actor] += 1
            done, _ = ray.wait([*flying, *actors.starting], num_returns=1, timeout=1.0)
            if actors.starting:  # actors waiting for cores: idle ones of other pools leave
                actors.make_room()
            if not done:  # nothing back in a second
                if not flying and time.monotonic() - since > START_WITHIN:
                    raise NoCluster(f"no actor of facepair's pool started on the Ray cluster "
                                    f"within {START_WITHIN:.0f} s: no room for them (other "
                                    f"work holds its cores)")
                continue
            since = time.monotonic()
            if done[0] in actors.starting:
                actors.started(done[0])
                continue
            actor, batch = flying.pop(done[0])
            try:
                result = ray.get(done[0])
            except (RayActorError, ObjectLostError):
                # gone with its node (the actor, or the result it left there before the
                # driver read it): its batches go to the others
                actors.lost(actor)
                waiting.appendleft(batch)
                continue
            if actor in actors.load:
                actors.load[actor] -= 1
            yield result
    finally:
        actors.close()
