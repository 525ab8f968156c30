"""Periodic compaction for any :class:`Storage` backend.

Like the Kubernetes apiserver's etcd compactor: every ``interval`` seconds,
compact to the revision that was current at the PREVIOUS tick, so history
stays watchable for at least one interval (5 minutes by default), and never
compact away the newest ``keep_revisions`` revisions (kine keeps 1000).

A store that several apiservers share may define ``claim_compaction(target,
*, token) -> (won, token)``; the compactor then compacts only when it wins the
claim (etcd: a compare-and-swap on ``compact_rev_key``, as Kubernetes does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .interface import Compacted, Storage, StorageError

__all__ = ["Compactor", "start_compactor"]

log = logging.getLogger(__name__)


class Compactor:
    """Owns one background task; ``stop()``/``aclose()`` end it (idempotent)."""

    def __init__(self, store: Storage, *, interval: float = 300.0, keep_revisions: int = 1000):
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.store = store
        self.interval = interval
        self.keep_revisions = max(0, keep_revisions)
        self._seen: int | None = None  # current revision at the previous tick
        self._claim_token = 0  # the shared store's compaction clock, as last seen
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the periodic task on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="compactor")

    async def run_once(self) -> int | None:
        """One tick: returns the revision compacted to, or None if nothing was due."""
        current = await self.store.current_revision()
        seen, self._seen = self._seen, current
        if seen is None:
            return None
        target = min(seen, current - self.keep_revisions)
        if target <= await self.store.compacted_revision():
            return None
        # A store shared by several apiservers (etcd) lets only one compact per
        # interval: ``claim_compaction`` is its compare-and-swap turn-taking.
        claim = getattr(self.store, "claim_compaction", None)
        if claim is not None:
            won, self._claim_token = await claim(target, token=self._claim_token)
            if not won:
                return None
        try:
            await self.store.compact(target)
        except Compacted:  # someone else compacted further meanwhile
            return None
        return target

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                rev = await self.run_once()
            except (StorageError, RuntimeError):  # keep compacting on the next tick
                log.exception("storage compaction failed")
                continue
            if rev is not None:
                log.debug("compacted storage to revision %d", rev)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def start_compactor(
    store: Storage, *, interval: float = 300.0, keep_revisions: int = 1000
) -> Compactor:
    """Start periodic compaction of ``store`` on the running loop; returns its handle."""
    compactor = Compactor(store, interval=interval, keep_revisions=keep_revisions)
    compactor.start()
    return compactor
