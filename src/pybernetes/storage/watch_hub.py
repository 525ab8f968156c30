"""In-process watch fan-out shared by storage backends.

The write path publishes each committed batch of events, in revision order, on
the event loop (``WatchHub.publish``; the SQLite writer thread schedules it
with ``loop.call_soon_threadsafe``). Watchers subscribe with a key prefix.

A watch that starts from an old revision is served without gap or duplicate:
it subscribes FIRST (remembering ``boundary``, the last revision published at
that moment), replays history ``[start, boundary]`` from the backend page by
page while live events buffer, then drains the live buffer; anything at or
below the last delivered revision is dropped.

Slow watchers never stall the writer or other watchers: each live buffer is
bounded (``max_buffer`` events). On overflow the watcher is terminated and its
next ``__anext__`` raises :class:`WatchExpired`, a :class:`Compacted` subclass,
so the apiserver answers it like a compacted revision (an ERROR event with a
410 ``Expired`` Status) and clients relist.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from .interface import Compacted, Watch, WatchEvent

__all__ = ["HubWatch", "ReplayFn", "WatchExpired", "WatchHub"]

# replay(prefix, lo, hi, limit) -> events under prefix with lo <= revision <= hi,
# in revision order, at most ``limit`` of them.
ReplayFn = Callable[[str, int, int, int], Awaitable[list[WatchEvent]]]


class WatchExpired(Compacted):
    """The watcher fell too far behind (its buffer overflowed) and was ended.

    A subclass of :class:`Compacted` on purpose: the apiserver maps both to
    HTTP 410 ``Expired`` so the client relists and watches again.
    """


class _Subscription:
    __slots__ = ("prefix", "buffer", "error", "closed", "_wake", "_max")

    def __init__(self, prefix: str, max_buffer: int) -> None:
        self.prefix = prefix
        self.buffer: deque[WatchEvent] = deque()
        self.error: BaseException | None = None
        self.closed = False
        self._wake = asyncio.Event()
        self._max = max_buffer

    def offer(self, events: Sequence[WatchEvent]) -> bool:
        """Buffer ``events`` (already matched to the prefix); False on overflow,
        after which the caller unsubscribes and the reader gets WatchExpired."""
        if len(self.buffer) + len(events) > self._max:
            self.buffer.clear()
            self.error = WatchExpired(
                f"watch of {self.prefix!r} fell more than {self._max} events behind",
                key=self.prefix,
                revision=events[-1].revision,
            )
            self._wake.set()
            return False
        self.buffer.extend(events)
        self._wake.set()
        return True

    def end(self) -> None:
        self.closed = True
        self._wake.set()

    async def get(self) -> WatchEvent | None:
        """The next live event; None once ended; raises the overflow error."""
        while not self.buffer:
            if self.error is not None:
                raise self.error
            if self.closed:
                return None
            self._wake.clear()
            await self._wake.wait()
        return self.buffer.popleft()


class WatchHub:
    """Fan-out of committed events to live subscribers (event-loop only).

    ``revision`` is the last revision published; a backend sets it to its
    current revision when it opens, then calls :meth:`publish` for every
    committed batch, in order.
    """

    def __init__(self, *, revision: int = 0, max_buffer: int = 10_000) -> None:
        self.revision = revision
        self.max_buffer = max_buffer
        # Grouped by prefix: each event is matched once per distinct prefix, not
        # once per watcher (many clients watch the same resource).
        self._by_prefix: dict[str, set[_Subscription]] = {}
        self._closed = False

    def publish(self, events: Sequence[WatchEvent], *, revision: int) -> None:
        """Deliver committed ``events`` (ascending revisions); ``revision`` is the
        store revision after the batch (>= the last event's)."""
        self.revision = max(self.revision, revision)
        if not events:
            return
        overflowed: list[_Subscription] = []
        for prefix, subs in self._by_prefix.items():
            matched = events if not prefix else [e for e in events if e.key.startswith(prefix)]
            if matched:
                overflowed += [sub for sub in subs if not sub.offer(matched)]
        for sub in overflowed:
            self.unsubscribe(sub)

    def subscribe(self, prefix: str) -> tuple[_Subscription, int]:
        """A new live subscription and the boundary revision it starts after."""
        sub = _Subscription(prefix, self.max_buffer)
        if self._closed:
            sub.end()
        else:
            self._by_prefix.setdefault(prefix, set()).add(sub)
        return sub, self.revision

    def unsubscribe(self, sub: _Subscription) -> None:
        subs = self._by_prefix.get(sub.prefix)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_prefix[sub.prefix]
        sub.end()

    def close(self) -> None:
        """End every watcher (their iterators stop)."""
        self._closed = True
        for subs in list(self._by_prefix.values()):
            for sub in list(subs):
                self.unsubscribe(sub)

    @property
    def watcher_count(self) -> int:
        return sum(len(subs) for subs in self._by_prefix.values())


class HubWatch(Watch):
    """A :class:`Watch` over a hub subscription plus backend history replay.

    Created on the event loop; subscribes immediately, so no event committed
    after ``watch()`` returned can be missed. ``start_revision=0`` means "from
    now": only changes after the current revision.
    """

    def __init__(
        self,
        hub: WatchHub,
        prefix: str,
        *,
        start_revision: int,
        replay: ReplayFn,
        compacted_revision: Callable[[], Awaitable[int]],
        page: int = 1000,
    ) -> None:
        self._hub = hub
        self._prefix = prefix
        self._sub, boundary = hub.subscribe(prefix)
        self._next = start_revision if start_revision > 0 else boundary + 1
        self._replay_pos = self._next  # next revision to replay from the backend
        self._replay_hi = boundary  # replay covers [start, boundary]; live covers the rest
        self._replay = replay
        self._compacted_revision = compacted_revision
        self._page = page
        self._backlog: deque[WatchEvent] = deque()
        self._started = False
        self._closed = False

    async def __anext__(self) -> WatchEvent:
        if self._closed:
            raise StopAsyncIteration
        if not self._started:
            self._started = True
            compacted = await self._compacted_revision()
            if self._next <= compacted:
                await self.close()
                raise Compacted(
                    f"watch from revision {self._next}: compacted to {compacted}",
                    key=self._prefix,
                    revision=compacted,
                )
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._backlog:
                ev = self._backlog.popleft()
            elif self._replay_pos <= self._replay_hi:
                await self._replay_page()
                continue
            elif self._sub.buffer:  # fast path: no coroutine per buffered event
                ev = self._sub.buffer.popleft()
            else:
                try:
                    live = await self._sub.get()
                except WatchExpired:
                    self._closed = True
                    raise
                if live is None:
                    self._closed = True
                    raise StopAsyncIteration
                ev = live
            if ev.revision < self._next:  # replayed already (or before start)
                continue
            self._next = ev.revision + 1
            return ev

    def ready(self, limit: int) -> list[WatchEvent]:
        """Buffered live events, once replay is done (see :meth:`Watch.ready`)."""
        out: list[WatchEvent] = []
        if not self._started or self._closed or self._backlog or self._replay_pos <= self._replay_hi:
            return out
        buf = self._sub.buffer
        while buf and len(out) < limit:
            ev = buf.popleft()
            if ev.revision >= self._next:
                self._next = ev.revision + 1
                out.append(ev)
        return out

    async def _replay_page(self) -> None:
        lo = self._replay_pos
        events = await self._replay(self._prefix, lo, self._replay_hi, self._page)
        compacted = await self._compacted_revision()
        if compacted >= lo:  # rows we needed may have been deleted under us
            await self.close()
            raise Compacted(
                f"watch replay from revision {lo}: compacted to {compacted}",
                key=self._prefix,
                revision=compacted,
            )
        if len(events) >= self._page:
            self._replay_pos = events[-1].revision + 1
        else:
            self._replay_pos = self._replay_hi + 1
        self._backlog.extend(events)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._backlog.clear()
            self._hub.unsubscribe(self._sub)
