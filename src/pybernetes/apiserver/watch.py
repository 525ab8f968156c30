"""Serving a watch: a chunked stream of `{"type": ..., "object": ...}` lines.

resourceVersion semantics as Kubernetes: unset or "0" → synthetic ADDED events
for the current state, then changes; N → changes after N; N compacted → one
ERROR event with a 410 Expired Status. With selectors, an object moving into
the selection is ADDED and one moving out is DELETED. `timeoutSeconds` ends
the stream; `allowWatchBookmarks` adds periodic BOOKMARK events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

import orjson
from aiohttp import web

from ..storage import interface as st
from .store import GenericStore, ListOptions, decode, with_rv

__all__ = ["STOPPING_KEY", "WatchParams", "serve_watch"]

log = logging.getLogger(__name__)

BOOKMARK_INTERVAL = 10.0  # seconds between bookmarks on an idle stream
IDLE_CHECK = 2.0  # how often an idle stream checks that its client is still there
DEFAULT_TIMEOUT = 1800  # Kubernetes' minRequestTimeout; randomised to spread reconnects
BATCH = 500  # most events written in one chunk

# Set when the server shuts down: watches are dropped at once (clients
# re-establish them, elsewhere or after the restart) instead of holding the shutdown.
STOPPING_KEY = web.AppKey("watches_stopping", asyncio.Event)


@dataclass(frozen=True, slots=True)
class WatchParams:
    namespace: str | None
    resource_version: str
    timeout_seconds: int | None
    bookmarks: bool
    send_initial_events: bool
    options: ListOptions  # selectors only


def _line(event_type: bytes, obj: bytes) -> bytes:
    return b'{"type":"' + event_type + b'","object":' + obj + b"}\n"


def _error_line(status: dict) -> bytes:
    return _line(b"ERROR", orjson.dumps(status))


async def serve_watch(request: web.Request, store: GenericStore, params: WatchParams,
                      *, transform=None) -> web.StreamResponse:
    """Stream events to the client until timeout, client disconnect, or error.

    ``transform(event_type, obj_bytes) -> bytes`` may rewrite each object (Table output).
    """
    opts = params.options
    filtering = opts.label_selector is not None or opts.field_selector is not None
    initial: list[bytes] = []
    rv = params.resource_version
    if rv in ("", "0") or params.send_initial_events:
        items, list_rev, _ = await store.list(params.namespace, ListOptions(
            label_selector=opts.label_selector, field_selector=opts.field_selector,
            revision=int(rv) if rv not in ("", "0") and params.send_initial_events else 0))
        initial = items
        start = list_rev + 1
    else:
        try:
            start = int(rv) + 1
        except ValueError:
            from . import errors
            raise errors.bad_request(f'invalid resource version "{rv}"') from None

    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                   "Transfer-Encoding": "chunked"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)

    def emit(kind: bytes, obj: bytes) -> bytes:
        return _line(kind, transform(kind, obj) if transform else obj)

    timeout = params.timeout_seconds
    if timeout is None or timeout <= 0:
        timeout = DEFAULT_TIMEOUT * (1 + random.random())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    watch = store.watch(params.namespace, start)
    last_rev = start - 1
    pending: asyncio.Task | None = None
    stopping = request.app.get(STOPPING_KEY)
    stopped = asyncio.ensure_future(stopping.wait()) if stopping is not None else None
    try:
        if initial:
            await resp.write(b"".join(emit(b"ADDED", o) for o in initial))
        if params.send_initial_events and params.bookmarks:
            await resp.write(_line(b"BOOKMARK", _bookmark(store, last_rev, initial_end=True)))
        it = watch.__aiter__()
        last_bookmark = loop.time()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0 or (stopped is not None and stopped.done()):
                break
            # Events already at hand go out without a task per event.
            batch = watch.ready(BATCH) if pending is None else []
            if not batch:
                if pending is None:
                    pending = asyncio.ensure_future(it.__anext__())
                waits = {pending} if stopped is None else {pending, stopped}
                done, _ = await asyncio.wait(waits, timeout=min(remaining, IDLE_CHECK),
                                             return_when=asyncio.FIRST_COMPLETED)
                if stopped is not None and stopped.done():
                    break
                if not done:
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        break  # the client went away while the stream was idle
                    if params.bookmarks and last_rev > 0 and loop.time() - last_bookmark >= BOOKMARK_INTERVAL:
                        last_bookmark = loop.time()
                        await resp.write(_line(b"BOOKMARK", _bookmark(store, last_rev)))
                    continue
                task, pending = pending, None
                try:
                    batch = [task.result(), *watch.ready(BATCH)]
                except StopAsyncIteration:
                    break
                except st.Compacted as e:
                    await resp.write(_error_line(_expired(int(rv or 0), e.revision)))
                    break
                except st.StorageError as e:
                    await resp.write(_error_line(_expired(last_rev, getattr(e, "revision", 0), str(e))))
                    break
            # A burst goes out as one chunk: one send, not one per event per watcher.
            lines = []
            for ev in batch:
                last_rev = ev.revision
                line = _event_line(ev, filtering, opts)
                if line is not None:
                    lines.append(emit(*line))
            if lines:
                await resp.write(b"".join(lines))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        for task in (pending, stopped):
            if task is not None:
                task.cancel()
        with contextlib.suppress(Exception):
            await watch.close()
    if stopped is not None and stopped.done() and request.transport is not None:
        # The server is going away: drop the connection without ending the
        # body, so clients see a broken stream (not a finished one) and resume
        # from their last resourceVersion, on another apiserver or after the restart.
        request.transport.abort()
        return resp
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await resp.write_eof()
    return resp


def _event_line(ev: st.WatchEvent, filtering: bool, opts: ListOptions) -> tuple[bytes, bytes] | None:
    """(type, object bytes) for a storage event, or None when filtered out."""
    if ev.type == "DELETE":
        obj = with_rv(ev.prev_value, ev.revision)
        if filtering and not GenericStore._matches(decode(ev.prev_value, ev.revision), opts):
            return None
        return b"DELETED", obj
    obj = with_rv(ev.value, ev.revision)
    if not filtering:
        return (b"ADDED" if ev.is_create else b"MODIFIED"), obj
    now_in = GenericStore._matches(decode(ev.value, ev.revision), opts)
    was_in = ev.prev_value is not None and GenericStore._matches(decode(ev.prev_value, ev.revision), opts)
    if now_in:
        return (b"MODIFIED" if was_in else b"ADDED"), obj
    if was_in:
        # Moved out of the selection: clients see it deleted (with its new state).
        return b"DELETED", obj
    return None


def _bookmark(store: GenericStore, revision: int, initial_end: bool = False) -> bytes:
    meta: dict = {"resourceVersion": str(revision)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return orjson.dumps({"kind": store.resource.kind, "apiVersion": store.resource.api_version,
                         "metadata": meta})


def _expired(requested: int, compacted: int, detail: str = "") -> dict:
    msg = detail or f"too old resource version: {requested} ({compacted})"
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": msg, "reason": "Expired", "code": 410}
