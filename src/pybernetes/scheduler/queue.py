"""The scheduling queue: active heap, backoff heap, unschedulable pool.

Contract (kube-scheduler ``internal/queue.PriorityQueue``):
- ``pop()`` returns the active pod with the highest ``spec.priority``, FIFO
  among equals (by the time it entered the queue), waiting if there is none.
- A pod that failed goes back with ``add_unschedulable(qpi, cycle)``: to the
  unschedulable pool, or straight to backoff if a cluster event arrived while
  it was being scheduled (so that event is not missed).
- ``move_all_to_active_or_backoff(event)``: a node was added or changed, or a
  pod was deleted; every unschedulable pod the event may help leaves the pool,
  into backoff if its backoff has not expired yet, else into the active heap.
- Backoff doubles per attempt from ``initial_backoff`` to ``max_backoff``; a
  timer (not polling) moves pods whose backoff expired. Pods left in the pool
  longer than ``max_unschedulable`` are retried anyway (a 30 s sweep).
- A key is in at most one of active / backoff / unschedulable at any time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .pod_info import PodInfo

__all__ = ["SchedulingQueue", "QueuedPodInfo", "ClusterEvent", "QueueClosed",
           "NODE_ADD", "NODE_UPDATE", "POD_DELETE", "WILDCARD"]


class QueueClosed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    """What changed; ``helps`` names the plugins whose rejections it may lift (None = all)."""

    name: str
    helps: frozenset[str] | None = None


NODE_ADD = ClusterEvent("NodeAdd")
NODE_UPDATE = ClusterEvent("NodeUpdate")
# A deleted pod frees resources and ports; it does not change labels or taints.
POD_DELETE = ClusterEvent("AssignedPodDelete", frozenset({"NodeResourcesFit", "NodePorts"}))
WILDCARD = ClusterEvent("*")


@dataclass(slots=True)
class QueuedPodInfo:
    info: PodInfo
    timestamp: float  # when it (re-)entered the queue: FIFO order within a priority
    initial_attempt: float = 0.0  # first pop, for latency metrics
    attempts: int = 0
    unschedulable_plugins: frozenset[str] = field(default_factory=frozenset)
    backoff_expiry: float = 0.0


class SchedulingQueue:
    def __init__(self, *, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 max_unschedulable: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self.clock = clock
        self._seq = itertools.count()
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._items: dict[str, QueuedPodInfo] = {}
        self._where: dict[str, str] = {}  # key -> "active" | "backoff" | "unschedulable"
        self._unschedulable_since: dict[str, float] = {}
        self._wakeup = asyncio.Event()
        self._closed = False
        self.scheduling_cycle = 0
        self._move_request_cycle = -1
        self._backoff_timer: asyncio.TimerHandle | None = None
        self._sweep_timer: asyncio.TimerHandle | None = None

    # -- introspection ---------------------------------------------------------
    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: str) -> bool:
        return key in self._where

    def where(self, key: str) -> str | None:
        return self._where.get(key)

    def pending_counts(self) -> dict[str, int]:
        out = {"active": 0, "backoff": 0, "unschedulable": 0}
        for w in self._where.values():
            out[w] += 1
        return out

    # -- adding ------------------------------------------------------------------
    def add(self, pi: PodInfo) -> None:
        """A new pending pod (or a changed one): straight to the active heap."""
        qpi = self._items.get(pi.key)
        if qpi is None:
            qpi = QueuedPodInfo(pi, self.clock())
        else:
            qpi.info = pi
            self._detach(pi.key)
        self._push_active(qpi)

    def update(self, pi: PodInfo) -> None:
        """A queued pod changed. Unschedulable pods are retried (their spec may now fit)."""
        qpi = self._items.get(pi.key)
        if qpi is None:
            self.add(pi)
            return
        qpi.info = pi
        if self._where.get(pi.key) == "unschedulable":
            self._detach(pi.key)
            self._requeue(qpi)
        # active/backoff entries are found by key: the new info is used when popped

    def delete(self, key: str) -> None:
        self._detach(key)
        self._items.pop(key, None)

    def add_unschedulable(self, qpi: QueuedPodInfo, cycle: int) -> None:
        """After a failed attempt: unschedulable pool, or backoff if a move happened meanwhile."""
        key = qpi.info.key
        if key in self._where:
            return
        self._items[key] = qpi
        qpi.timestamp = self.clock()
        qpi.backoff_expiry = qpi.timestamp + self._backoff_duration(qpi)
        if self._move_request_cycle >= cycle:
            self._push_backoff(qpi)
        else:
            self._where[key] = "unschedulable"
            self._unschedulable_since[key] = qpi.timestamp
            self._arm_sweep()

    def add_backoff(self, qpi: QueuedPodInfo) -> None:
        """After an error (not a fit failure): retry once the backoff expires."""
        key = qpi.info.key
        if key in self._where:
            return
        self._items[key] = qpi
        qpi.timestamp = self.clock()
        qpi.backoff_expiry = qpi.timestamp + self._backoff_duration(qpi)
        self._push_backoff(qpi)

    def move_all_to_active_or_backoff(self, event: ClusterEvent) -> int:
        """Release unschedulable pods the event may help; returns how many moved."""
        moved = 0
        for key, w in list(self._where.items()):
            if w != "unschedulable":
                continue
            qpi = self._items[key]
            if event.helps is not None and qpi.unschedulable_plugins and \
                    not (qpi.unschedulable_plugins & event.helps):
                continue
            self._detach(key)
            self._requeue(qpi)
            moved += 1
        self._move_request_cycle = self.scheduling_cycle
        return moved

    # -- popping -------------------------------------------------------------------
    async def pop(self) -> QueuedPodInfo:
        while True:
            if self._closed:
                raise QueueClosed()
            while self._active:
                _, _, _, key = heapq.heappop(self._active)
                if self._where.get(key) != "active":
                    continue  # stale entry: the pod moved or was deleted
                del self._where[key]
                qpi = self._items.pop(key)
                qpi.attempts += 1
                if not qpi.initial_attempt:
                    qpi.initial_attempt = self.clock()
                self.scheduling_cycle += 1
                return qpi
            self._wakeup.clear()
            await self._wakeup.wait()

    def close(self) -> None:
        self._closed = True
        for h in (self._backoff_timer, self._sweep_timer):
            if h is not None:
                h.cancel()
        self._wakeup.set()

    # -- internals -----------------------------------------------------------------
    def _backoff_duration(self, qpi: QueuedPodInfo) -> float:
        d = self.initial_backoff * (2 ** max(qpi.attempts - 1, 0))
        return min(d, self.max_backoff)

    def _detach(self, key: str) -> None:
        # heap entries are left behind and skipped when popped (lazy deletion)
        self._where.pop(key, None)
        self._unschedulable_since.pop(key, None)

    def _requeue(self, qpi: QueuedPodInfo) -> None:
        if qpi.backoff_expiry > self.clock():
            self._push_backoff(qpi)
        else:
            self._push_active(qpi)

    def _push_active(self, qpi: QueuedPodInfo) -> None:
        key = qpi.info.key
        self._items[key] = qpi
        self._where[key] = "active"
        heapq.heappush(self._active, (-qpi.info.priority, qpi.timestamp, next(self._seq), key))
        self._wakeup.set()

    def _push_backoff(self, qpi: QueuedPodInfo) -> None:
        key = qpi.info.key
        self._items[key] = qpi
        self._where[key] = "backoff"
        heapq.heappush(self._backoff, (qpi.backoff_expiry, next(self._seq), key))
        self._arm_backoff()

    def _loop(self) -> asyncio.AbstractEventLoop | None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    def _arm_backoff(self) -> None:
        loop = self._loop()
        if loop is None or not self._backoff or self._closed:
            return
        delay = max(self._backoff[0][0] - self.clock(), 0.0)
        if self._backoff_timer is not None:
            if self._backoff_timer.when() <= loop.time() + delay:
                return
            self._backoff_timer.cancel()
        self._backoff_timer = loop.call_later(delay, self._flush_backoff)

    def _flush_backoff(self) -> None:
        self._backoff_timer = None
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            expiry, _, key = heapq.heappop(self._backoff)
            qpi = self._items.get(key)
            if self._where.get(key) != "backoff" or qpi is None or qpi.backoff_expiry != expiry:
                continue
            self._push_active(qpi)
        self._arm_backoff()

    def _arm_sweep(self) -> None:
        loop = self._loop()
        if loop is None or self._sweep_timer is not None or self._closed:
            return
        self._sweep_timer = loop.call_later(30.0, self._sweep)

    def _sweep(self) -> None:
        """Retry pods that sat in the unschedulable pool longer than ``max_unschedulable``."""
        self._sweep_timer = None
        now = self.clock()
        for key, since in list(self._unschedulable_since.items()):
            if now - since >= self.max_unschedulable:
                qpi = self._items[key]
                self._detach(key)
                self._requeue(qpi)
        if self._unschedulable_since:
            self._arm_sweep()
