"""The controller machinery the controllers are built on: Informer,
WorkQueue, Controller base, LeaderElector.

They belong to the client library (issue 3) and are taken from there when it
provides them. Until it does, the small stand-ins below (same contract) keep
the controllers runnable; delete them once `pybernetes.client` ships its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from .. import client as _client
from ..client import errors

__all__ = ["Informer", "WorkQueue", "Controller", "LeaderElector", "LeaderElectionConfig"]

log = logging.getLogger(__name__)


class _WorkQueue:
    """client-go's work queue: a deque plus ``dirty`` and ``processing`` sets.
    ``add`` skips dirty items and defers items in flight; ``get`` moves
    dirty→processing; ``done`` re-queues an item that became dirty meanwhile —
    so one key is never handed to two workers. Per-item exponential backoff
    (``add_rate_limited``) from 5 ms to 60 s; ``forget`` resets it."""

    def __init__(self, *, base_delay: float = 0.005, max_delay: float = 60.0):
        self._queue: collections.deque = collections.deque()
        self._dirty: set = set()
        self._processing: set = set()
        self._failures: dict = {}
        self._cond = asyncio.Condition()
        self._timers: list = []
        self._timer_task: asyncio.Task | None = None
        self._base, self._max = base_delay, max_delay
        self._shutdown = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, item) -> None:
        if self._shutdown or item in self._dirty:
            return
        self._dirty.add(item)
        if item not in self._processing:
            self._queue.append(item)
            self._notify()

    def _notify(self) -> None:
        async def wake():
            async with self._cond:
                self._cond.notify()
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(wake())

    def add_after(self, item, delay: float) -> None:
        if delay <= 0:
            self.add(item)
            return
        heapq.heappush(self._timers, (time.monotonic() + delay, id(item), item))
        if self._timer_task is None or self._timer_task.done():
            self._timer_task = asyncio.get_running_loop().create_task(self._run_timers())

    async def _run_timers(self) -> None:
        while self._timers and not self._shutdown:
            due, _, item = self._timers[0]
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(min(wait, 0.5))
                continue
            heapq.heappop(self._timers)
            self.add(item)

    def add_rate_limited(self, item) -> None:
        n = self._failures.get(item, 0)
        self._failures[item] = n + 1
        self.add_after(item, min(self._base * (2 ** n), self._max))

    def forget(self, item) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item) -> int:
        return self._failures.get(item, 0)

    async def get(self):
        async with self._cond:
            while not self._queue:
                if self._shutdown:
                    raise asyncio.CancelledError
                await self._cond.wait()
            item = self._queue.popleft()
        self._dirty.discard(item)
        self._processing.add(item)
        return item

    def done(self, item) -> None:
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._notify()

    def shutdown(self) -> None:
        self._shutdown = True
        if self._timer_task is not None:
            self._timer_task.cancel()


class _Informer:
    """List then watch one resource into a cache with indexes and handlers.
    Relists on 410 or a dropped watch; handlers see every change once, in
    order per object (a relist diffs against the cache)."""

    def __init__(self, api, *, resync: float = 0.0):
        self.api = api
        self._items: dict[str, dict] = {}
        self._indexers: dict[str, object] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}
        self._handlers: list[tuple] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task | None = None

    def add_indexer(self, name: str, fn) -> None:
        if name in self._indexers:
            return
        self._indexers[name] = fn
        idx = self._indexes[name] = {}
        for key, obj in self._items.items():
            for v in fn(obj):
                idx.setdefault(v, set()).add(key)

    def add_event_handler(self, *, on_add=None, on_update=None, on_delete=None):
        self._handlers.append((on_add, on_update, on_delete))
        for obj in list(self._items.values()):
            if on_add:
                on_add(obj)

    # -- cache reads
    def get(self, key: str) -> dict | None:
        return self._items.get(key)

    def list(self, namespace: str | None = None) -> list[dict]:
        if namespace is None:
            return list(self._items.values())
        prefix = namespace + "/"
        return [o for k, o in self._items.items() if k.startswith(prefix)]

    def by_index(self, name: str, value: str) -> list[dict]:
        keys = self._indexes.get(name, {}).get(value, ())
        return [self._items[k] for k in keys if k in self._items]

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        await self._synced.wait()

    # -- lifecycle
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    # -- internals
    @staticmethod
    def _key(obj: dict) -> str:
        return _client.object_key(obj)

    def _index(self, key: str, obj: dict | None, old: dict | None) -> None:
        for name, fn in self._indexers.items():
            idx = self._indexes[name]
            if old is not None:
                for v in fn(old):
                    s = idx.get(v)
                    if s is not None:
                        s.discard(key)
                        if not s:
                            del idx[v]
            if obj is not None:
                for v in fn(obj):
                    idx.setdefault(v, set()).add(key)

    def _emit(self, kind: int, *args) -> None:
        for h in self._handlers:
            fn = h[kind]
            if fn is not None:
                try:
                    fn(*args)
                except Exception:  # noqa: BLE001 - one bad handler must not stop the informer
                    log.exception("informer handler failed")

    def _upsert(self, obj: dict) -> None:
        key = self._key(obj)
        old = self._items.get(key)
        if old is not None and old["metadata"].get("resourceVersion") == obj["metadata"].get("resourceVersion"):
            return
        self._items[key] = obj
        self._index(key, obj, old)
        if old is None:
            self._emit(0, obj)
        else:
            self._emit(1, old, obj)

    def _remove(self, key: str) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._index(key, None, old)
            self._emit(2, old)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                listing = await self.api.list_all()
                rv = listing["metadata"]["resourceVersion"]
                fresh = {self._key(o): o for o in listing.get("items") or ()}
                for key in [k for k in self._items if k not in fresh]:
                    self._remove(key)
                for obj in fresh.values():
                    self._upsert(obj)
                self._synced.set()
                backoff = 0.1
                while True:
                    async with self.api.watch(resource_version=rv, timeout_seconds=300,
                                              allow_watch_bookmarks=True) as w:
                        async for ev in w:
                            if ev.type == "BOOKMARK":
                                rv = ev.resource_version or rv
                                continue
                            rv = ev.resource_version or rv
                            if ev.type == "DELETED":
                                self._remove(self._key(ev.object))
                            else:
                                self._upsert(ev.object)
            except asyncio.CancelledError:
                raise
            except errors.Expired:
                continue
            except Exception as e:  # noqa: BLE001 - reconnect on anything
                log.debug("informer %s: %s; relisting", self.api, e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


class _Controller:
    """``reconcile(key)`` driven by a work queue with N workers; an exception
    requeues the key with backoff, success forgets its failures."""

    name = "controller"

    def __init__(self, *, workers: int = 1):
        self.workers = workers
        self.queue = WorkQueue()

    async def reconcile(self, key) -> None:
        raise NotImplementedError

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.reconcile(key)
                self.queue.forget(key)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001
                log.warning("%s: reconcile %s failed: %s", self.name, key, e, exc_info=log.isEnabledFor(10))
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def run(self) -> None:
        try:
            await asyncio.gather(*(self._worker() for _ in range(self.workers)))
        finally:
            self.queue.shutdown()


@dataclass(frozen=True, slots=True)
class _LeaderElectionConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(ts: str | None) -> float:
    if not ts:
        return 0.0
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


class _LeaderElector:
    """Leader election on a coordination.k8s.io/v1 Lease (client-go's
    leaderelection): acquire when free or expired, renew every retry period,
    give up leading when a renewal has not succeeded within renew_deadline."""

    def __init__(self, client, config: _LeaderElectionConfig):
        self.client = client
        self.config = config
        self.api = client.resource("coordination.k8s.io", "v1", "leases", config.namespace)

    async def _try(self) -> bool:
        c = self.config
        now = _micro_now()
        try:
            lease = await self.api.get(c.name)
        except errors.NotFound:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": c.name, "namespace": c.namespace},
                    "spec": {"holderIdentity": c.identity, "leaseDurationSeconds": int(c.lease_duration),
                             "acquireTime": now, "renewTime": now, "leaseTransitions": 0}}
            try:
                await self.api.create(body)
                return True
            except errors.AlreadyExists:
                return False
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        expired = _parse(spec.get("renewTime")) + float(spec.get("leaseDurationSeconds") or c.lease_duration) \
            < time.time()
        if holder and holder != c.identity and not expired:
            return False
        if holder != c.identity:
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            spec["acquireTime"] = now
        spec.update(holderIdentity=c.identity, renewTime=now, leaseDurationSeconds=int(c.lease_duration))
        lease["spec"] = spec
        try:
            await self.api.update(lease)
            return True
        except (errors.Conflict, errors.NotFound):
            return False

    async def run(self, lead) -> bool:
        """Wait for the lease, then run ``lead()`` while renewing. Returns True
        when leadership was lost (``lead`` is cancelled), False if ``lead`` ended."""
        c = self.config
        while True:
            try:
                if await self._try():
                    break
            except errors.APIError as e:
                log.debug("leader election: %s", e)
            await asyncio.sleep(c.retry_period)
        task = asyncio.get_running_loop().create_task(lead())
        last_renew = time.monotonic()
        try:
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=c.retry_period)
                if done:
                    break
                try:
                    if await self._try():
                        last_renew = time.monotonic()
                except Exception as e:  # noqa: BLE001
                    log.debug("lease renewal failed: %s", e)
                if time.monotonic() - last_renew > c.renew_deadline:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                    return True
            task.result()
            return False
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._release()

    async def _release(self) -> None:
        """Give the lease up on the way out so a standby takes over at once."""
        with contextlib.suppress(Exception):
            lease = await self.api.get(self.config.name)
            if (lease.get("spec") or {}).get("holderIdentity") == self.config.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["renewTime"] = _micro_now()
                lease["spec"]["leaseDurationSeconds"] = 1
                await self.api.update(lease)


Informer = getattr(_client, "Informer", _Informer)
WorkQueue = getattr(_client, "WorkQueue", _WorkQueue)
Controller = getattr(_client, "Controller", _Controller)
LeaderElector = getattr(_client, "LeaderElector", _LeaderElector)
LeaderElectionConfig = getattr(_client, "LeaderElectionConfig", _LeaderElectionConfig)
