"""A rate-limited, deduplicating work queue: client-go's ``workqueue``, on asyncio.

The contract (client-go ``util/workqueue/queue.go``), on one event loop:

- The queue is a FIFO ``deque`` plus two sets: ``dirty`` (items that need
  processing) and ``processing`` (items handed out by ``get`` and not yet
  ``done``).
- ``add(item)``: if the item is already dirty, nothing happens (deduplication:
  it is waiting). Otherwise it becomes dirty, and it is appended to the deque
  *only if it is not being processed*; an item in flight is deferred.
- ``get()`` waits for an item, pops the head, and moves it dirty → processing.
- ``done(item)`` ends processing; if the item was added again meanwhile
  (it is dirty), it is appended to the deque now.

Hence one item is never handed to two workers at once, and an item added while
it is being processed is processed again afterwards — once, however many times
it was added. ``shutdown()`` makes ``add`` a no-op and makes ``get`` raise
:class:`ShutDown` once the deque is empty (items already queued still drain).

On top of that (client-go's ``delaying_queue`` and ``rate_limiting_queue``):
``add_after(item, seconds)`` adds later (the earliest of several pending
delays wins); ``add_rate_limited(item)`` adds after the rate limiter's delay —
by default the max of a per-item exponential backoff (5 ms doubling per
failure, capped at 1000 s) and an overall token bucket (10 qps, burst 100);
``forget(item)`` clears the item's failure count (call it on success);
``num_requeues(item)`` reports it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Protocol

__all__ = [
    "ShutDown",
    "RateLimiter",
    "ItemExponentialFailureRateLimiter",
    "BucketRateLimiter",
    "MaxOfRateLimiter",
    "default_controller_rate_limiter",
    "WorkQueue",
]


class ShutDown(Exception):
    """``get()`` on a queue that is shut down and drained."""


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float:
        """Seconds to wait before the item may be added (counts as a failure)."""
        ...

    def forget(self, item: Hashable) -> None: ...

    def num_requeues(self, item: Hashable) -> int: ...


class ItemExponentialFailureRateLimiter:
    """``base * 2**failures`` per item, capped at ``max_delay``."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0):
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self.failures.get(item, 0)
        self.failures[item] = exp + 1
        if exp > 62:  # 2**exp would only overflow the cap anyway
            return self.max_delay
        return min(self.base_delay * (2 ** exp), self.max_delay)

    def forget(self, item: Hashable) -> None:
        self.failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self.failures.get(item, 0)


class BucketRateLimiter:
    """An overall token bucket: ``qps`` tokens a second, ``burst`` at most.

    Each ``when`` reserves a token and answers how long until it is there.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Callable[[], float] = time.monotonic):
        self.qps = qps
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.last = clock()

    def when(self, item: Hashable) -> float:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.qps)
        self.last = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.qps

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters."""

    def __init__(self, *limiters: RateLimiter):
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter() -> RateLimiter:
    """client-go's DefaultControllerRateLimiter."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100))


class WorkQueue:
    """See the module docstring for the contract. Not thread-safe: one loop."""

    def __init__(self, *, name: str = "", rate_limiter: RateLimiter | None = None):
        self.name = name
        self.rate_limiter = rate_limiter or default_controller_rate_limiter()
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._waiting: dict[Hashable, tuple[float, asyncio.TimerHandle]] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._idle: asyncio.Event | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def __repr__(self) -> str:
        return (f"<WorkQueue {self.name!r} queued={len(self._queue)} processing={len(self._processing)} "
                f"waiting={len(self._waiting)}>")

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def processing(self) -> frozenset[Hashable]:
        return frozenset(self._processing)

    def _wake_one(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    # -- the base contract --------------------------------------------------------
    def add(self, item: Hashable) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake_one()

    async def get(self) -> Hashable:
        """The next item (now processing; call ``done`` with it). Raises ShutDown."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            fut = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                # Our wake-up may have been meant for an item: pass it on.
                if fut.done() and not fut.cancelled():
                    self._wake_one()
                raise
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        if self._queue:
            self._wake_one()  # more work: keep another waiting worker busy
        return item

    def done(self, item: Hashable) -> None:
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one()
        elif not self._processing and not self._queue and self._idle is not None:
            self._idle.set()

    def shutdown(self) -> None:
        self._shutting_down = True
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)

    async def drain(self) -> None:
        """Wait until nothing is queued or processing (for tests and graceful stops)."""
        while self._queue or self._processing:
            self._idle = asyncio.Event()
            await self._idle.wait()

    # -- delays and rate limiting ---------------------------------------------------
    def add_after(self, item: Hashable, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        ready = loop.time() + delay
        pending = self._waiting.get(item)
        if pending is not None:
            if pending[0] <= ready:
                return  # already due sooner
            pending[1].cancel()
        self._waiting[item] = (ready, loop.call_at(ready, self._fire, item))

    def _fire(self, item: Hashable) -> None:
        self._waiting.pop(item, None)
        self.add(item)

    def add_rate_limited(self, item: Hashable) -> None:
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: Hashable) -> None:
        self.rate_limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return self.rate_limiter.num_requeues(item)
