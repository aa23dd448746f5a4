"""The actors that hold the models on a Ray cluster, kept warm between jobs.

An actor loads its detector and model once (seconds: a Python process, torch, the weights)
and then serves every job that asks for the same worker, reading each batch it is sent
(decoding photos on the cores it holds) and working on it: it is a named, detached actor in
facepair's namespace, bound to its node, and it leaves after `keep` seconds without work. The
first job on a cluster pays the start; the next ones find the pool warm. A pool of another
worker or model takes the cores of idle actors of other pools: they are asked to leave.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from faces.cluster import NAMESPACE, Pool
from faces.errors import NoCluster
from faces.memory import keep_freed_memory

# seconds without work after which an actor of another pool gives its cores up
YIELD_AFTER = 1.0


@ray.remote(concurrency_groups={"control": 1})  # type: ignore[call-overload]
class Warm:
    """An actor of a pool: `worker(**kwargs)` made once; each batch sent to it is read
    (`read(record, **read_kwargs)`, on `readers` threads) and worked on, one batch at a time;
    its control calls answer while it works."""

    def __init__(self, worker: Callable[..., Callable[[list], list]], kwargs: dict,
                 read: Callable[..., Any], read_kwargs: dict, readers: int,
                 keep: float) -> None:
        keep_freed_memory()
        self.worker = worker(**kwargs)
        self.read = functools.partial(read, **read_kwargs)
        self.readers = ThreadPoolExecutor(readers) if readers > 1 else None
        self.keep = keep
        self.busy = 0
        self.last = time.monotonic()
        threading.Thread(target=self._leave_when_idle, daemon=True).start()

    def work(self, records: list) -> list:
        self.busy += 1
        try:
            return self.worker(list(self.readers.map(self.read, records) if self.readers
                                    else map(self.read, records)))
        finally:
            self.busy -= 1
            self.last = time.monotonic()

    @ray.method(concurrency_group="control")
    def idle(self) -> float:
        """Seconds since its last batch (0 while it works on one)."""
        return 0.0 if self.busy else time.monotonic() - self.last

    def _leave_when_idle(self) -> None:
        while True:
            time.sleep(min(self.keep, 5.0))
            if not self.busy and time.monotonic() - self.last > self.keep:
                os._exit(0)


@dataclass(frozen=True)
class Member:
    """An actor of a pool: its name, its node, and a handle to call it."""

    name: str
    node: str
    handle: Any = field(compare=False, hash=False)


class WarmPool:
    """The actors of one pool as a job uses them: of `worker(device=, threads=, **kwargs)`,
    as many on each node alive as `shape` puts there (`Pool.slots`); found
    where a job made them before, else made. Batches go to actors that have started; while
    none has, idle actors of other pools are asked to leave (`make_room`)."""

    def __init__(self, cluster: ModuleType, shape: Pool,
                 worker: Callable[..., Callable[[list], list]], kwargs: dict,
                 read: Callable[..., Any], read_kwargs: dict, keep: float) -> None:
        self.cluster, self.shape, self.keep = cluster, shape, keep
        self.worker, self.kwargs, self.reading = worker, kwargs, (read, read_kwargs)
        # the pool's name: what its actors are made of, written out (reprs, not pickles, so
        # that every process names it alike)
        self.key = hashlib.sha1(repr((
            worker.__module__, worker.__qualname__, sorted(kwargs.items()), read.__module__,
            read.__qualname__, sorted(read_kwargs.items()), shape)).encode()).hexdigest()[:12]
        self.load: dict[Member, int] = {}  # started actors → their batches in flight
        self.starting: dict[Any, Member] = {}  # an answer due once the actor has started
        self.everyone: set[Member] = set()
        self.last_room = 0.0
        self.join()

    def join(self) -> None:
        """An actor for each slot of the nodes alive (those of this pool already there are
        found, the others made)."""
        known = {member.name for member in self.everyone}
        for node in (n for n in self.cluster.nodes() if n.get("Alive")):
            for slot in range(self.shape.slots(node["Resources"])):
                name = f"{self.key}-{node['NodeID']}-{slot}"
                if name in known:
                    continue
                handle = Warm.options(  # type: ignore[attr-defined]
                    name=name, namespace=NAMESPACE, lifetime="detached",
                    get_if_exists=True, num_cpus=self.shape.cpus, num_gpus=self.shape.gpus,
                    max_restarts=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
                        node["NodeID"], soft=False),
                ).remote(self.worker, {**self.kwargs, "device": self.shape.device,
                                       "threads": self.shape.threads}, *self.reading,
                         self.shape.readers, self.keep)
                member = Member(name, node["NodeID"], handle)
                self.everyone.add(member)
                self.starting[handle.idle.remote()] = member
        if not self.everyone:
            raise NoCluster("the Ray cluster has no node with a CPU or GPU to work on")

    def idlest(self, most: int) -> Member | None:
        """The started actor with the fewest batches in flight, if it has fewer than `most`."""
        member = min(self.load, key=self.load.__getitem__, default=None)
        return member if member is not None and self.load[member] < most else None

    def started(self, answer: Any) -> None:
        """An actor's first answer: it has started (or failed to, gone with its node)."""
        member = self.starting.pop(answer)
        try:
            ray.get(answer)
        except RayActorError:
            self.lost(member)
        else:
            self.load[member] = 0

    def lost(self, member: Member) -> None:
        """An actor gone (its node lost): no more batches for it; where none is left, the
        pool made again on the nodes there are now."""
        self.load.pop(member, None)
        self.everyone.discard(member)
        if not self.load and not self.starting:
            self.join()

    def make_room(self) -> None:
        """Idle actors of other pools asked to leave (at most once a second)."""
        if time.monotonic() - self.last_room >= 1.0:
            self.last_room = time.monotonic()
            _others_leave(self.key)

    def close(self) -> None:
        """The job done with the pool: actors still starting are called off (none starts
        for no job); with `keep` 0, every actor leaves."""
        for member in self.everyone if self.keep <= 0 else self.starting.values():
            with contextlib.suppress(ValueError, RayActorError):
                ray.kill(member.handle)


def _others_leave(key: str) -> None:
    """Actors of other pools that have had no work for YIELD_AFTER seconds leave."""
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["namespace"] != NAMESPACE or entry["name"].startswith(key):
            continue
        try:
            actor = ray.get_actor(entry["name"], namespace=NAMESPACE)
            idle: float = ray.get(actor.idle.remote(), timeout=2)  # type: ignore[assignment]
            if idle >= YIELD_AFTER:
                ray.kill(actor)
        except (ValueError, RayActorError, GetTimeoutError):
            continue  # gone already, or still starting: left be
