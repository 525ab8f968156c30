"""Watch streams: async iterators of ``WatchEvent``.

Contract shared by the HTTP and fake clients:

- ``async for ev in watch`` yields ADDED / MODIFIED / DELETED events (and
  BOOKMARK when bookmarks were asked for), in the server's order;
- the iteration ends cleanly (StopAsyncIteration) when the server ends the
  stream — ``timeout_seconds`` elapsed — or when ``close()`` is called;
- a 410 (HTTP 410 on open, or an ERROR event carrying a 410 Status) raises
  :class:`~pybernetes.client.errors.Expired`: the caller must relist; any other
  ERROR event raises the matching APIError;
- a dropped connection raises :class:`~pybernetes.client.errors.ConnectionFailed`.

A watch opens lazily on first iteration and is also an async context manager
that closes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from . import errors

__all__ = ["WatchEvent", "Watch", "event_from_line"]

EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK"})


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        return ((self.object.get("metadata") or {}).get("resourceVersion")) or ""


def event_from_raw(raw: dict[str, Any]) -> WatchEvent:
    """A decoded event; ERROR events become the exception they carry."""
    typ = raw.get("type")
    obj = raw.get("object")
    if typ == "ERROR":
        raise errors.from_status(obj if isinstance(obj, dict) else None, 500,
                                 text="watch failed")
    if typ not in EVENT_TYPES or not isinstance(obj, dict):
        raise errors.InternalError(errors.status_for(500, f"malformed watch event: {raw!r:.200}"))
    return WatchEvent(typ, obj)


def event_from_line(line: bytes) -> WatchEvent:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise errors.InternalError(errors.status_for(500, f"malformed watch line: {e}")) from e
    typ = raw.get("type") if isinstance(raw, dict) else None
    obj = raw.get("object") if typ is not None else None
    if typ in EVENT_TYPES and isinstance(obj, dict):  # the common case, without a second lookup pass
        return WatchEvent(typ, obj)
    return event_from_raw(raw if isinstance(raw, dict) else {"object": raw})


class Watch:
    """Base class: subclasses implement ``_next()`` and ``_close()``."""

    def __init__(self) -> None:
        self._closed = False

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> WatchEvent:
        if self._closed:
            raise StopAsyncIteration
        try:
            ev = await self._next()
        except Exception:
            closed_by_us = self._closed
            await self.close()
            if closed_by_us:  # close() from elsewhere broke the stream: a clean end
                raise StopAsyncIteration from None
            raise
        except BaseException:
            await self.close()
            raise
        if ev is None:
            await self.close()
            raise StopAsyncIteration
        return ev

    async def _next(self) -> WatchEvent | None:
        raise NotImplementedError

    async def _close(self) -> None:
        """Release the stream (idempotent)."""

    async def close(self) -> None:
        self._closed = True
        await self._close()

    aclose = close

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
