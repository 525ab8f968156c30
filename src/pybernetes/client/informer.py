"""Informers: list+watch one resource into an indexed local cache, and tell handlers.

Contract (client-go ``shared_informer.go``):

- **Eventually consistent.** The cache converges to the server's state. After
  a 410 (Expired) or a dropped connection the informer relists and diffs the
  new list against its cache, so handlers see an add for what appeared, an
  update for what changed, a delete for what vanished — nothing lost, nothing
  duplicated as far as the handlers' final state is concerned. A watch that
  simply times out is resumed from the last resourceVersion without relisting.
- **Ordered per object**, not across objects: a handler sees one object's
  events in the order they happened.
- ``add_event_handler(on_add=, on_update=, on_delete=)`` returns a
  :class:`Registration`. Each registration has its own buffer and delivery
  task, so a slow handler delays only itself; a handler added late first gets
  an add for every cached object; ``registration.has_synced`` turns true once
  it has been handed the initial state. Handlers may be plain or async
  functions; exceptions are logged, never stop the informer. ``on_update``
  gets ``(old, new)``; ``on_delete`` gets the last state known (for a delete
  noticed only by relisting, the last cached state). Keep handlers cheap:
  heavy work goes to a work queue.
- Periodic resync (``resync_period`` seconds, 0 = off) re-delivers every cached
  object as ``on_update(obj, obj)``, the level-triggered safety net.
- Cache reads (``get``, ``list``, ``by_index``...) return the cached dicts
  themselves: treat them as read-only.
- Indexes: ``namespace`` and ``label`` (``"key=value"``) are built in (unless
  ``builtin_indexes=False``: a cache read only by key, e.g. the scheduler's
  pods, then skips their upkeep on every event); add custom index functions
  ``obj -> list[str]`` with ``indexers=``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

from ..api import labels as label_selectors
from . import errors
from .objects import object_key
from .resource import ResourceClient

__all__ = ["Informer", "Registration", "InformerFactory", "IndexFunc", "NAMESPACE_INDEX", "LABEL_INDEX",
           "index_by_field"]

log = logging.getLogger(__name__)

IndexFunc = Callable[[dict], Iterable[str]]
NAMESPACE_INDEX = "namespace"
LABEL_INDEX = "label"
_SYNCED = object()  # marker in a registration's buffer: initial state delivered


def _namespace_index(obj: dict) -> list[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


def _label_index(obj: dict) -> list[str]:
    return [f"{k}={v}" for k, v in ((obj.get("metadata") or {}).get("labels") or {}).items()]


def index_by_field(*path: str) -> IndexFunc:
    """An index on one string field, e.g. ``index_by_field("spec", "nodeName")``."""
    def fn(obj: dict) -> list[str]:
        v: Any = obj
        for p in path:
            if not isinstance(v, dict):
                return []
            v = v.get(p)
        return [v] if isinstance(v, str) and v else []
    return fn


def _rv(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion") or ""


class Registration:
    """One ``add_event_handler`` call: its handlers, buffer and delivery task."""

    def __init__(self, informer: Informer, on_add, on_update, on_delete):
        self.informer = informer
        self.on_add = on_add
        self.on_update = on_update
        self.on_delete = on_delete
        # a plain deque and one waiter: asyncio.Queue's bookkeeping showed per event under load
        self._buffer: collections.deque = collections.deque()
        self._waiter: asyncio.Future | None = None
        self._task: asyncio.Task | None = None
        self._synced = asyncio.Event()

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._synced.wait()
        except TimeoutError:
            return False
        return True

    def _push(self, item: Any) -> None:
        self._buffer.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._deliver(), name="informer-handler")

    async def _deliver(self) -> None:
        handlers = {"add": self.on_add, "update": self.on_update, "delete": self.on_delete}
        buffer = self._buffer
        while True:
            if not buffer:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
                continue
            item = buffer.popleft()
            if item is _SYNCED:
                self._synced.set()
                continue
            kind, args = item
            fn = handlers[kind]
            if fn is None:
                continue
            try:
                result = fn(*args)
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("informer %s: %s handler failed", self.informer.name, kind)

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def pending(self) -> int:
        """Notifications buffered and not yet handled."""
        return len(self._buffer)


class Informer:
    """List+watch ``api`` (a ResourceClient; ``client.pods()`` for all namespaces)."""

    def __init__(self, api: ResourceClient, *, indexers: dict[str, IndexFunc] | None = None,
                 resync_period: float = 0.0, label_selector: str | None = None,
                 field_selector: str | None = None, page_size: int = 500, name: str | None = None,
                 max_backoff: float = 10.0, watch_timeout: float = 300.0, builtin_indexes: bool = True):
        self.api = api
        self.name = name or api.info.plural
        self.resync_period = resync_period
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        self.max_backoff = max_backoff
        self.watch_timeout = watch_timeout  # each watch lasts [t, 2t) seconds, then resumes
        self._items: dict[str, dict] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        if builtin_indexes:
            self._indexers = {NAMESPACE_INDEX: _namespace_index, LABEL_INDEX: _label_index}
            self._indices = {NAMESPACE_INDEX: {}, LABEL_INDEX: {}}
        self._registrations: list[Registration] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._resync_task: asyncio.Task | None = None
        self.resource_version = ""
        self.relists = 0  # how many times the informer listed (1 = the initial list)
        if indexers:
            self.add_indexers(indexers)

    def __repr__(self) -> str:
        return f"<Informer {self.name} items={len(self._items)} synced={self.has_synced}>"

    # -- indexes -----------------------------------------------------------------
    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        """Add one index (re-adding the same function under the same name is a no-op)."""
        self.add_indexers({name: fn})

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        for name, fn in indexers.items():
            if self._indexers.get(name) is fn:
                continue
            if name in self._indexers:
                raise ValueError(f"indexer {name!r} already exists")
            self._indexers[name] = fn
            idx: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for v in fn(obj):
                    idx.setdefault(v, set()).add(key)
            self._indices[name] = idx

    def _index(self, key: str, old: dict | None, new: dict | None) -> None:
        for name, fn in self._indexers.items():
            old_list = fn(old) if old is not None else ()
            new_list = fn(new) if new is not None else ()
            if old_list == new_list:  # the usual update: same index values, in the same order
                continue
            idx = self._indices[name]
            old_vals, new_vals = set(old_list), set(new_list)
            if old_vals == new_vals:
                continue
            for v in old_vals - new_vals:
                keys = idx.get(v)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del idx[v]
            for v in new_vals - old_vals:
                idx.setdefault(v, set()).add(key)

    # -- cache reads ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> dict | None:
        """The cached object for ``namespace/name`` (or ``name``), or None."""
        return self._items.get(key)

    get_by_key = get

    def keys(self) -> list[str]:
        return list(self._items)

    def list(self, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        if namespace:
            idx = self._indices.get(NAMESPACE_INDEX)
            if idx is None:
                objs = [o for o in self._items.values() if (o.get("metadata") or {}).get("namespace") == namespace]
            else:
                objs = [self._items[k] for k in idx.get(namespace, ())]
        else:
            objs = list(self._items.values())
        if label_selector:
            sel = label_selectors.parse(label_selector)
            objs = [o for o in objs if label_selectors.matches(sel, (o.get("metadata") or {}).get("labels") or {})]
        return objs

    def by_index(self, index_name: str, value: str) -> list[dict]:
        try:
            keys = self._indices[index_name].get(value, ())
        except KeyError:
            raise KeyError(f"no index {index_name!r} on informer {self.name}") from None
        return [self._items[k] for k in keys]

    def index_keys(self, index_name: str, value: str) -> list[str]:
        try:
            keys = self._indices[index_name].get(value, ())
        except KeyError:
            raise KeyError(f"no index {index_name!r} on informer {self.name}") from None
        return list(keys)

    def by_label(self, key: str, value: str) -> list[dict]:
        return self.by_index(LABEL_INDEX, f"{key}={value}")

    # -- handlers ----------------------------------------------------------------------
    def add_event_handler(self, on_add: Callable | None = None, on_update: Callable | None = None,
                          on_delete: Callable | None = None) -> Registration:
        reg = Registration(self, on_add, on_update, on_delete)
        self._registrations.append(reg)
        if self.has_synced:
            for obj in list(self._items.values()):
                reg._push(("add", (obj,)))
            reg._push(_SYNCED)
        return reg

    async def remove_event_handler(self, reg: Registration) -> None:
        if reg in self._registrations:
            self._registrations.remove(reg)
        await reg._stop()

    def _notify(self, kind: str, *args: dict) -> None:
        for reg in self._registrations:
            reg._push((kind, args))

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def has_synced(self) -> bool:
        """The initial list is in the cache (and queued to every handler)."""
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """True once synced (and every registration has been handed the initial
        state); False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._synced.wait()
                for reg in list(self._registrations):
                    await reg._synced.wait()
        except TimeoutError:
            return False
        return True

    async def start(self) -> None:
        """Start list+watch in a background task and return at once (idempotent);
        ``stop()`` ends it. Use ``wait_for_sync()`` to wait for the cache."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"informer-{self.name}")

    async def stop(self) -> None:
        for task in (self._task, self._resync_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._resync_task = None
        for reg in self._registrations:
            await reg._stop()

    async def __aenter__(self) -> Informer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def run(self) -> None:
        """List, then watch; relist on 410 or failures, with capped backoff. Runs until cancelled."""
        if self.resync_period > 0 and (self._resync_task is None or self._resync_task.done()):
            self._resync_task = asyncio.get_running_loop().create_task(self._resync_loop())
        backoff = 0.1
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    backoff = 0.1
                await self._watch()
            except asyncio.CancelledError:
                raise
            except errors.Expired as e:
                log.info("informer %s: watch expired (%s), relisting", self.name, e)
                need_list = True
            except (errors.ClientError, OSError) as e:
                log.info("informer %s: %s; relisting in %.1fs", self.name, e, backoff)
                need_list = True
                await asyncio.sleep(backoff * (1 + random.random() * 0.2))
                backoff = min(backoff * 2, self.max_backoff)

    async def _relist(self) -> None:
        """Replace the cache with a fresh list, telling handlers only what differs."""
        items: list[dict] = []
        cont = None
        while True:
            page = await self.api.list(label_selector=self.label_selector, field_selector=self.field_selector,
                                       limit=self.page_size, continue_=cont)
            items.extend(page.get("items") or ())
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                break
        list_rv = (page.get("metadata") or {}).get("resourceVersion") or ""
        self.relists += 1
        # Items of a List carry no kind/apiVersion; fill them so handlers see whole objects.
        kind, api_version = self.api.info.kind, self.api.info.api_version
        fresh: dict[str, dict] = {}
        for obj in items:
            obj.setdefault("kind", kind)
            obj.setdefault("apiVersion", api_version)
            fresh[object_key(obj)] = obj
        for key in [k for k in self._items if k not in fresh]:
            old = self._items.pop(key)
            self._index(key, old, None)
            self._notify("delete", old)
        for key, obj in fresh.items():
            old = self._items.get(key)
            self._items[key] = obj
            self._index(key, old, obj)
            if old is None:
                self._notify("add", obj)
            elif _rv(old) != _rv(obj):
                self._notify("update", old, obj)
        self.resource_version = list_rv
        if not self._synced.is_set():
            self._synced.set()
            for reg in self._registrations:
                reg._push(_SYNCED)

    async def _watch(self) -> None:
        timeout = max(1, int(self.watch_timeout * (1 + random.random())))  # spread reconnects, as client-go
        async with self.api.watch(resource_version=self.resource_version, timeout_seconds=timeout,
                                  label_selector=self.label_selector, field_selector=self.field_selector,
                                  allow_watch_bookmarks=True) as w:
            async for ev in w:
                self._apply(ev.type, ev.object)

    def _apply(self, typ: str, obj: dict) -> None:
        rv = _rv(obj)
        if typ == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return
        key = object_key(obj)
        old = self._items.get(key)
        if typ == "DELETED":
            if old is not None:
                del self._items[key]
                self._index(key, old, None)
                self._notify("delete", obj)
        else:
            self._items[key] = obj
            self._index(key, old, obj)
            if old is None:
                self._notify("add", obj)
            elif _rv(old) != rv:
                self._notify("update", old, obj)
        if rv:
            self.resource_version = rv

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_period)
            if self.has_synced:
                for obj in list(self._items.values()):
                    self._notify("update", obj, obj)


class InformerFactory:
    """Shared informers: one per (group, version, plural, namespace), so the
    controllers of one process share caches and watches."""

    def __init__(self, client: Any, *, resync_period: float = 0.0, namespace: str | None = None):
        self.client = client
        self.resync_period = resync_period
        self.namespace = namespace
        self._informers: dict[tuple[str, str, str, str | None], Informer] = {}

    def for_resource(self, group: str, version: str, plural: str, *,
                     indexers: dict[str, IndexFunc] | None = None) -> Informer:
        key = (group, version, plural, self.namespace)
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(self.client.resource(group, version, plural, self.namespace),
                           resync_period=self.resync_period)
            self._informers[key] = inf
        if indexers:
            inf.add_indexers(indexers)
        return inf

    def pods(self, **kw: Any) -> Informer:
        return self.for_resource("", "v1", "pods", **kw)

    def nodes(self, **kw: Any) -> Informer:
        return self.for_resource("", "v1", "nodes", **kw)

    def services(self, **kw: Any) -> Informer:
        return self.for_resource("", "v1", "services", **kw)

    def endpoints(self, **kw: Any) -> Informer:
        return self.for_resource("", "v1", "endpoints", **kw)

    def replication_controllers(self, **kw: Any) -> Informer:
        return self.for_resource("", "v1", "replicationcontrollers", **kw)

    def namespaces(self, **kw: Any) -> Informer:
        return self.for_resource("", "v1", "namespaces", **kw)

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    async def start(self) -> None:
        for inf in self._informers.values():
            await inf.start()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        results = await asyncio.gather(*(inf.wait_for_sync(timeout) for inf in self._informers.values()))
        return all(results)

    async def stop(self) -> None:
        for inf in self._informers.values():
            await inf.stop()
