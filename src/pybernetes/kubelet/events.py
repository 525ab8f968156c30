"""The kubelet's event recorder: the shared recorder's Event bodies plus the
kubelet's touches (``source.host``, the container's ``fieldPath``), written by
a small fixed set of writers from a bounded queue — so a burst of pod starts
(three events each) never crowds the status writes out of the connection pool.
Events never delay status: given ``idle`` (set while no pod sync, and so no
status write, is under way), writers hold queued events until it is set, for
at most ``max_defer`` seconds per batch. Events are best effort: beyond
``buffer`` pending, new ones are dropped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from ..controllers.events import EventRecorder

__all__ = ["KubeletEventRecorder"]

log = logging.getLogger(__name__)


class KubeletEventRecorder(EventRecorder):
    def __init__(self, client, *, node_name: str, writers: int = 2, buffer: int = 2000,
                 idle: asyncio.Event | None = None, max_defer: float = 1.0):
        super().__init__(client, "kubelet", host=node_name)
        self.node_name = node_name
        self._idle = idle
        self._max_defer = max_defer
        self._deferred_since: float | None = None
        self._queue: deque[dict] = deque()
        self._buffer = buffer
        self._writers = writers
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []

    def build(self, obj: dict, type_: str, reason: str, message: str) -> dict:
        obj = {"kind": "Pod", "apiVersion": "v1", **obj}
        body = super().build(obj, type_, reason, message)
        body["source"]["host"] = self.node_name
        return body

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        self._submit(self.build(obj, type_, reason, message))

    def container_event(self, pod: dict, container: str, type_: str, reason: str, message: str,
                        *, init: bool = False) -> None:
        """An event about one container (``involvedObject.fieldPath`` names it). Never blocks."""
        body = self.build(pod, type_, reason, message)
        body["involvedObject"]["fieldPath"] = f"spec.{'initContainers' if init else 'containers'}{{{container}}}"
        self._submit(body)

    def _submit(self, body: dict) -> None:
        if len(self._queue) >= self._buffer:
            log.debug("dropping event %s: too many pending", body["reason"])
            return
        self._queue.append(body)
        if self._wake is None:
            self._wake = asyncio.Event()
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._drain()) for _ in range(self._writers)]
        self._wake.set()

    async def _drain(self) -> None:
        while True:
            while self._queue:
                await self._yield_to_status()
                if self._queue:
                    await self._write(self._queue.popleft())
            self._deferred_since = None
            self._wake.clear()
            await self._wake.wait()

    async def _yield_to_status(self) -> None:
        """Wait until no pod sync runs, unless this batch already waited ``max_defer``."""
        if self._idle is None or self._idle.is_set():
            return
        loop = asyncio.get_running_loop()
        if self._deferred_since is None:
            self._deferred_since = loop.time()
        left = self._deferred_since + self._max_defer - loop.time()
        if left > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=left)

    async def aclose(self) -> None:
        """Write what is queued (up to 5 s), then stop the writers."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while self._queue:
                    await asyncio.sleep(0.05)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
