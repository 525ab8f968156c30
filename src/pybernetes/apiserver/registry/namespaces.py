"""Namespaces: Terminating on delete until `spec.finalizers` empties; and the
NamespaceLifecycle admission check used by every namespaced create."""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from ...api.resources import ResourceInfo
from ...storage import interface as st
from .. import errors
from ..strategy import Strategy

__all__ = ["NamespaceStrategy", "NamespaceLifecycle", "SYSTEM_NAMESPACES"]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# How long a namespace deleted through this apiserver is read live while the cache says Active
# (Kubernetes' forceLiveLookupTTL).
FORCE_LIVE_LOOKUP_TTL = 30.0

log = logging.getLogger(__name__)


class NamespaceStrategy(Strategy):
    has_status = True
    return_deleted_object = True

    def __init__(self, resource: ResourceInfo, *, lifecycle: NamespaceLifecycle | None = None):
        super().__init__(resource)
        self.lifecycle = lifecycle

    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Active"}
        spec = obj.get("spec") or {}
        if not spec.get("finalizers"):
            obj["spec"] = {**spec, "finalizers": ["kubernetes"]}

    def blocks_deletion(self, obj: dict) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))

    def on_terminating(self, obj: dict) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"
        if self.lifecycle is not None:
            self.lifecycle.force_live_lookup(obj["metadata"]["name"])


class NamespaceLifecycle:
    """Refuses creates in a namespace that is missing or terminating.

    As Kubernetes' NamespaceLifecycle admission: namespaces are looked up in
    a local cache kept by a list and a storage watch (Kubernetes' lister),
    with a live read when the namespace is not in the cache (one created a
    moment ago), or when it was being deleted through this apiserver lately
    but the cache still shows it Active (``force_live_lookup``). Until the
    cache has its first list, every check reads storage.
    """

    def __init__(self, storage: st.Storage, namespaces: ResourceInfo):
        self.storage = storage
        self.namespaces = namespaces
        self._prefix = namespaces.prefix(None)
        self._terminating: dict[str, bool] = {}  # name -> terminating, as the watch saw it
        self._watch: st.Watch | None = None  # set while the cache is current
        self._listed = 0  # the revision of the cache's list
        self._task: asyncio.Task | None = None
        self._closed = False
        self._force_live: dict[str, float] = {}  # name -> monotonic deadline

    async def check_can_create(self, namespace: str | None, resource: ResourceInfo, name: str) -> None:
        ns_name = namespace or ""
        terminating = self._cached(ns_name)
        if terminating is None:
            terminating = await self._live_lookup(ns_name)
        if terminating:
            raise errors.forbidden(resource.plural, name,
                                   f"unable to create new content in namespace {namespace} "
                                   "because it is being terminated", resource.group)

    def force_live_lookup(self, name: str) -> None:
        """A namespace is being deleted: read it live while the cache may still
        say Active (Kubernetes' forceLiveLookupCache, on namespace DELETE)."""
        now = time.monotonic()
        self._force_live = {k: t for k, t in self._force_live.items() if t > now}
        self._force_live[name] = now + FORCE_LIVE_LOOKUP_TTL

    def _cached(self, name: str) -> bool | None:
        """Whether the cache says ``name`` is terminating; None when it cannot say."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._keep_cache())
        watch = self._watch
        if watch is None:
            return None
        for ev in watch.ready(10_000):  # events already committed: the cache is as new as storage says
            self._apply(ev)
        terminating = self._terminating.get(name)
        if terminating is False and name in self._force_live:
            if self._force_live[name] > time.monotonic():
                return None
            del self._force_live[name]
        return terminating

    async def _live_lookup(self, name: str) -> bool:
        try:
            kv = await self.storage.get(self.namespaces.key(None, name))
        except st.NotFound:
            raise errors.not_found("namespaces", name) from None
        return _is_terminating(orjson.loads(kv.value))

    def _apply(self, ev: st.WatchEvent) -> None:
        if ev.revision <= self._listed:
            return  # the list already reflects it
        name = ev.key[len(self._prefix):]
        if ev.type == "DELETE":
            self._terminating.pop(name, None)
        else:
            self._terminating[name] = _is_terminating(orjson.loads(ev.value))

    async def _keep_cache(self) -> None:
        """List, then follow the watch; relist when the watch expires. Ends when
        storage ends the watch (closed) or :meth:`close` is called."""
        while not self._closed:
            watch = None
            try:
                # List, then watch from the revision after the list's: no change is
                # missed or applied twice, whenever the backend's watch starts.
                res = await self.storage.list(self._prefix)
                watch = self.storage.watch(self._prefix, start_revision=res.revision + 1)
                self._terminating = {kv.key[len(self._prefix):]: _is_terminating(orjson.loads(kv.value))
                                     for kv in res.items}
                self._listed = res.revision
                self._watch = watch
                async for ev in watch:
                    self._apply(ev)
                    for more in watch.ready(10_000):
                        self._apply(more)
                return  # storage ended the watch: it is closing
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - compacted/expired watch, storage hiccup: relist
                log.debug("namespace cache: relisting after %s", e)
                self._watch = None
                await asyncio.sleep(0.5)
            finally:
                self._watch = None
                if watch is not None:
                    await watch.close()

    async def close(self) -> None:
        """Stop keeping the cache (checks read storage from now on)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass


def _is_terminating(ns: dict) -> bool:
    return bool(ns["metadata"].get("deletionTimestamp")) or \
        (ns.get("status") or {}).get("phase") == "Terminating"
