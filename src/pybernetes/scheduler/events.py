"""Scheduler events, written the way client-go's broadcaster writes them.

One writer task drains a bounded buffer in order; when the buffer is full new
events are dropped (client-go's ``DropIfChannelFull``). So a burst of
thousands of ``Scheduled`` events never competes with bindings for the
apiserver by more than one request at a time. Bodies are the core/v1 Events
of ``controllers.events.EventRecorder`` (same shape for every component).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..controllers.events import EventRecorder

__all__ = ["SerialEventRecorder"]

log = logging.getLogger(__name__)


class SerialEventRecorder:
    """``event(obj, type, reason, message)`` never blocks; writes happen one at a time."""

    def __init__(self, client, component: str, *, buffer: int = 1000) -> None:
        self._client = client
        self._builder = EventRecorder(client, component)
        self._queue: asyncio.Queue[dict] = asyncio.Queue(maxsize=buffer)
        self._writer: asyncio.Task | None = None
        self.dropped = 0

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())
        if self._queue.full():  # decided before building the body: a dropped event costs nothing
            self.dropped += 1
            log.debug("dropping event %s %s: buffer full", reason, message)
            return
        self._queue.put_nowait(self._builder.build(obj, type_, reason, message))

    async def _drain(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                await self._client.events(body["metadata"]["namespace"]).create(body)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - events are best effort
                log.debug("event %s not written: %s", body["reason"], e)
            finally:
                self._queue.task_done()

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every buffered event has been written (or tried)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)

    async def aclose(self) -> None:
        await self.flush(timeout=2.0)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
