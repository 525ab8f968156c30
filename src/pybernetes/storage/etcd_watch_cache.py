"""One etcd watch feeding every watcher of an :class:`~.etcd.EtcdStorage`.

Without it each watcher is its own etcd watch stream, so an event reaches the
process once per watcher (100 HTTP watchers: 100 gRPC copies to decode). With
it, as with Kubernetes' watch cache, one stream over the store's whole prefix
feeds an in-memory ring of recent events and the shared
:class:`~.watch_hub.WatchHub` fan-out that SQLite uses:

- a watch from a revision the ring still covers replays from the ring, then
  goes live on the hub — no gap, no repeat (:class:`~.watch_hub.HubWatch`);
- a watch from an older revision, or at or below a compaction this client
  knows of, gets its own etcd stream (exactly what etcd would answer);
- a watcher that falls ``max_buffer`` events behind is ended with
  :class:`~.watch_hub.WatchExpired` (410: the client relists), where a
  per-watcher stream would have made etcd hold the events instead;
- if the feed fails (etcd unreachable beyond the store's reconnect window) the
  hub is closed — live watchers end, clients resume from their last revision —
  and the next watch starts a fresh feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING

from .interface import Watch, WatchEvent
from .watch_hub import HubWatch, WatchHub

if TYPE_CHECKING:
    from .etcd import EtcdStorage

__all__ = ["EtcdWatchCache"]

log = logging.getLogger(__name__)


class EtcdWatchCache:
    """The feed, ring and hub of one store (event loop only). ``size``: events kept."""

    def __init__(self, store: EtcdStorage, *, size: int, max_buffer: int) -> None:
        self._store = store
        self._size = max(1, size)
        self._max_buffer = max_buffer
        self._ring: deque[WatchEvent] = deque()
        self._covered_from = 0  # every event with revision >= this is in the ring (0: not started)
        self._hub: WatchHub | None = None
        self._feed: Watch | None = None
        self._task: asyncio.Task[None] | None = None
        self._starting: asyncio.Lock | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the feed from etcd's current revision (idempotent; restarts a failed one)."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.running or self._closed:
                return
            from .etcd import EtcdWatch

            current = await self._store.current_revision()
            self._ring.clear()
            self._covered_from = current + 1
            self._hub = WatchHub(revision=current, max_buffer=self._max_buffer)
            self._feed = EtcdWatch(self._store, "", start_revision=current + 1)
            self._task = asyncio.get_running_loop().create_task(self._pump(self._hub, self._feed),
                                                                name="etcd-watch-cache")

    async def _pump(self, hub: WatchHub, feed: Watch) -> None:
        try:
            async for ev in feed:
                if len(self._ring) >= self._size:
                    self._covered_from = self._ring.popleft().revision + 1
                self._ring.append(ev)
                hub.publish((ev,), revision=ev.revision)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the feed gave up: watchers end and resume elsewhere
            log.warning("etcd watch cache feed failed (%s); watchers end and resume", exc)
        finally:
            self._covered_from = 0
            hub.close()
            with contextlib.suppress(Exception):
                await feed.close()

    async def watch(self, prefix: str, *, start_revision: int) -> Watch | None:
        """A hub watch for ``prefix`` from ``start_revision`` (0: after the newest
        revision known), or None when the ring cannot serve it (use etcd directly)."""
        await self.start()
        hub, store = self._hub, self._store
        if hub is None or not self.running:
            return None
        if start_revision <= 0:
            start_revision = max(hub.revision, store._rev) + 1
        if start_revision < self._covered_from or start_revision <= store._compacted:
            return None
        return HubWatch(hub, prefix, start_revision=start_revision, replay=self._replay,
                        compacted_revision=self._floor)

    async def _floor(self) -> int:
        """Below this the ring cannot serve (HubWatch treats it as compacted)."""
        if not self._covered_from:
            return self._store._rev  # the feed is gone: nothing can be replayed
        return max(self._covered_from - 1, self._store._compacted)

    async def _replay(self, prefix: str, lo: int, hi: int, limit: int) -> list[WatchEvent]:
        out: list[WatchEvent] = []
        for ev in reversed(self._ring):  # recent revisions are the ones asked for
            if ev.revision < lo:
                break
            if ev.revision <= hi and ev.key.startswith(prefix):
                out.append(ev)
        out.reverse()
        return out[:limit]

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._hub is not None:
            self._hub.close()
