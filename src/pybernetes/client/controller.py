"""The controller pattern: informers feed keys into a work queue, N workers
call ``reconcile(key)``.

Subclass :class:`Controller`, wire informer handlers to ``self.queue.add(key)``
and implement ``async reconcile(key)``. Guarantees (from the work queue):
one key is never reconciled by two workers at once; a key added while it is
being reconciled is reconciled again afterwards, once. ``reconcile`` must be
level-triggered and idempotent: read the current state (from the informers'
caches), act, return. Outcomes:

- returns None: success; the key's failure count is forgotten;
- returns a number: success, and reconcile again after that many seconds;
- raises: logged, and the key is requeued with the rate limiter's backoff
  (per-key exponential + overall bucket), up to ``max_retries`` (None: forever).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Iterable
from typing import Any

from .workqueue import RateLimiter, ShutDown, WorkQueue

__all__ = ["Controller"]

log = logging.getLogger(__name__)


class Controller:
    name = "controller"

    def __init__(self, *, workers: int = 1, rate_limiter: RateLimiter | None = None,
                 max_retries: int | None = None):
        self.workers = workers
        self.max_retries = max_retries
        self.queue = WorkQueue(name=self.name, rate_limiter=rate_limiter)
        self._tasks: list[asyncio.Task] = []

    async def reconcile(self, key: Any) -> float | None:
        raise NotImplementedError

    async def run(self, *, wait_for: Iterable[Any] = (), sync_timeout: float | None = None) -> None:
        """Wait for the informers (or registrations) in ``wait_for`` to sync,
        then run the workers until ``stop()`` (or cancellation)."""
        for dep in wait_for:
            if not await dep.wait_for_sync(sync_timeout):
                raise TimeoutError(f"{self.name}: {dep!r} did not sync")
        self._tasks = [asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
                       for i in range(self.workers)]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for t in self._tasks:
                t.cancel()
            self._tasks = []

    def stop(self) -> None:
        """Shut the queue down: workers finish their current key and return."""
        self.queue.shutdown()

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self._process(key)
            finally:
                self.queue.done(key)

    async def _process(self, key: Hashable) -> None:
        try:
            after = await self.reconcile(key)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            retries = self.queue.num_requeues(key)
            if self.max_retries is not None and retries >= self.max_retries:
                log.error("%s: dropping %r after %d retries: %s", self.name, key, retries, e)
                self.queue.forget(key)
                return
            log.warning("%s: reconcile %r failed (retry %d): %s", self.name, key, retries + 1, e,
                        exc_info=log.isEnabledFor(logging.DEBUG))
            self.queue.add_rate_limited(key)
            return
        self.queue.forget(key)
        if after:
            self.queue.add_after(key, float(after))
