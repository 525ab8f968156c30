"""The garbage collector: ownerReferences drive cascading deletion.

It watches every deletable kind (events aside) into informers indexed by uid
and by owner uid — together, Kubernetes' dependency graph. Keys are
``group/plural/namespace/name`` (namespace empty for cluster-scoped kinds).

``reconcile(key)``:
- an object being deleted with the ``orphan`` finalizer: remove its
  ownerReference from every dependent, then the finalizer;
- an object being deleted with ``foregroundDeletion``: while dependents with
  ``blockOwnerDeletion`` remain, have them deleted (in the foreground too if
  they have dependents of their own); then drop the finalizer;
- any object with owners: resolve each owner (cache, then a live GET before
  believing it absent); with no solid owner left, delete it (Background, or
  Foreground when an owner waits for it); with some, drop the dangling refs.
"""

from __future__ import annotations

import logging

from ..api.resources import RESOURCES, ResourceInfo, by_kind
from ..client import Controller, errors
from .garbage_collector_logic import (
    DANGLING,
    FOREGROUND,
    ORPHAN,
    Action,
    blocking_dependents,
    decide,
    is_deleting_dependents,
    owner_state,
    without_finalizer,
)

__all__ = ["GarbageCollector", "BY_OWNER", "BY_UID", "owner_uid_index", "uid_index", "monitored_resources"]

log = logging.getLogger(__name__)

BY_OWNER = "by-owner-uid"
BY_UID = "by-uid"
_IGNORED = {("", "events"), ("events.k8s.io", "events")}


def owner_uid_index(obj: dict) -> list[str]:
    return [r["uid"] for r in obj["metadata"].get("ownerReferences") or () if r.get("uid")]


def uid_index(obj: dict) -> list[str]:
    uid = obj["metadata"].get("uid")
    return [uid] if uid else []


def monitored_resources() -> list[ResourceInfo]:
    return [r for r in RESOURCES if "delete" in r.verbs and "watch" in r.verbs and (r.group, r.plural) not in _IGNORED]


def gc_key(res: ResourceInfo, obj: dict) -> str:
    return f"{res.group}/{res.plural}/{obj['metadata'].get('namespace') or ''}/{obj['metadata']['name']}"


def _parse_key(key: str) -> tuple[str, str, str, str]:
    group, plural, ns, name = key.split("/", 3)
    return group, plural, ns, name


def _group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


class GarbageCollector(Controller):
    """``informers`` maps (group, plural) to an informer with the
    :func:`uid_index` (``BY_UID``) and :func:`owner_uid_index` (``BY_OWNER``) indexes."""

    name = "garbage-collector"

    def __init__(self, client, *, informers: dict[tuple[str, str], object], workers: int = 5):
        super().__init__(workers=workers)
        self.client = client
        self.informers = informers
        self.resources = {(r.group, r.plural): r for r in RESOURCES if (r.group, r.plural) in informers}
        for gp, inf in informers.items():
            res = self.resources[gp]
            inf.add_event_handler(
                on_add=lambda o, res=res: self._changed(res, None, o),
                on_update=lambda old, new, res=res: self._changed(res, old, new),
                on_delete=lambda o, res=res: self._deleted(res, o))

    # ------------------------------------------------------------ graph lookups
    def dependents(self, uid: str) -> list[tuple[ResourceInfo, dict]]:
        out = []
        for gp, inf in self.informers.items():
            for obj in inf.by_index(BY_OWNER, uid):
                out.append((self.resources[gp], obj))
        return out

    def _by_uid(self, uid: str) -> list[tuple[ResourceInfo, dict]]:
        out = []
        for gp, inf in self.informers.items():
            for obj in inf.by_index(BY_UID, uid):
                out.append((self.resources[gp], obj))
        return out

    # ------------------------------------------------------------ event routing
    def _changed(self, res: ResourceInfo, old: dict | None, new: dict) -> None:
        meta = new["metadata"]
        if meta.get("ownerReferences") or meta.get("deletionTimestamp"):
            self.queue.add(gc_key(res, new))
        old_meta = (old or {}).get("metadata") or {}
        # An owner that started (foreground) deletion or changed identity: its dependents must look again.
        if meta.get("deletionTimestamp") and (not old_meta.get("deletionTimestamp")
                                              or old_meta.get("finalizers") != meta.get("finalizers")):
            self._enqueue_dependents(meta.get("uid"))
        # Refs removed from a dependent: an owner waiting in the foreground may be free now.
        if old is not None and old_meta.get("ownerReferences") != meta.get("ownerReferences"):
            self._enqueue_owners(old)

    def _deleted(self, res: ResourceInfo, obj: dict) -> None:
        self._enqueue_dependents(obj["metadata"].get("uid"))
        self._enqueue_owners(obj)

    def _enqueue_dependents(self, uid: str | None) -> None:
        if uid:
            for res, dep in self.dependents(uid):
                self.queue.add(gc_key(res, dep))

    def _enqueue_owners(self, obj: dict) -> None:
        for ref in obj["metadata"].get("ownerReferences") or ():
            for res, owner in self._by_uid(ref.get("uid", "")):
                if owner["metadata"].get("deletionTimestamp"):
                    self.queue.add(gc_key(res, owner))

    # ------------------------------------------------------------ reconcile
    async def reconcile(self, key: str) -> None:
        group, plural, ns, name = _parse_key(key)
        inf = self.informers.get((group, plural))
        if inf is None:
            return
        obj = inf.get(f"{ns}/{name}" if ns else name)
        if obj is None:
            return
        res = self.resources[(group, plural)]
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            finalizers = meta.get("finalizers") or ()
            if ORPHAN in finalizers:
                await self._orphan_dependents(res, obj)
                return
            if FOREGROUND in finalizers:
                await self._process_deleting_dependents(res, obj)
        if meta.get("ownerReferences"):
            await self._attempt_to_delete(res, obj)

    async def _orphan_dependents(self, res: ResourceInfo, owner: dict) -> None:
        uid = owner["metadata"]["uid"]
        for dres, dep in self.dependents(uid):
            await self._remove_refs(dres, dep, {uid})
        await self._remove_finalizer(res, owner, ORPHAN)

    async def _process_deleting_dependents(self, res: ResourceInfo, owner: dict) -> None:
        deps = [d for _, d in self.dependents(owner["metadata"]["uid"])]
        blocking = blocking_dependents(owner, deps)
        if not blocking:
            await self._remove_finalizer(res, owner, FOREGROUND)
            return
        for dres, dep in self.dependents(owner["metadata"]["uid"]):
            if not is_deleting_dependents(dep):
                self.queue.add(gc_key(dres, dep))

    async def _resolve(self, obj: dict, ref: dict) -> str | None:
        """State of one owner reference; None when its kind is unknown."""
        ores = by_kind(_group_of(ref.get("apiVersion") or ""), ref.get("kind") or "")
        if ores is None:
            return None
        ns = obj["metadata"].get("namespace") if ores.namespaced else None
        inf = self.informers.get((ores.group, ores.plural))
        cached = inf.get(f"{ns}/{ref['name']}" if ns else ref["name"]) if inf is not None else None
        state = owner_state(ref, cached)
        if state != DANGLING:
            return state
        # Never believe a cache about absence: ask the apiserver.
        try:
            live = await self.client.resource(ores.group, ores.version, ores.plural, ns).get(ref["name"])
        except errors.NotFound:
            live = None
        return owner_state(ref, live)

    async def _attempt_to_delete(self, res: ResourceInfo, obj: dict) -> None:
        states: dict[str, str] = {}
        for ref in obj["metadata"].get("ownerReferences") or ():
            state = await self._resolve(obj, ref)
            if state is not None:
                states[ref["uid"]] = state
        action = decide(obj, states, has_dependents=bool(self.dependents(obj["metadata"]["uid"])))
        if action.kind == "remove_refs":
            await self._remove_refs(res, obj, set(action.uids))
        elif action.kind == "delete":
            await self._delete(res, obj, action)

    def _api(self, res: ResourceInfo, obj: dict):
        return self.client.resource(res.group, res.version, res.plural, obj["metadata"].get("namespace"))

    async def _remove_refs(self, res: ResourceInfo, obj: dict, uids: set[str]) -> None:
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": u} for u in sorted(uids)],
                              "uid": obj["metadata"]["uid"]}}
        try:
            await self._api(res, obj).patch(obj["metadata"]["name"], patch, patch_type="strategic")
        except errors.NotFound:
            pass

    async def _delete(self, res: ResourceInfo, obj: dict, action: Action) -> None:
        api = self._api(res, obj)
        name, uid = obj["metadata"]["name"], obj["metadata"]["uid"]
        try:
            if action.unblock:
                patch = {"metadata": {"ownerReferences": [{"uid": u, "blockOwnerDeletion": False}
                                                          for u in action.unblock], "uid": uid}}
                await api.patch(name, patch, patch_type="strategic")
            log.debug("deleting %s/%s %s (%s)", res.plural, obj["metadata"].get("namespace"), name, action.policy)
            await api.delete(name, propagation_policy=action.policy, preconditions={"uid": uid})
        except errors.NotFound:
            pass

    async def _remove_finalizer(self, res: ResourceInfo, obj: dict, finalizer: str) -> None:
        api = self._api(res, obj)
        name = obj["metadata"]["name"]
        for _ in range(5):
            try:
                live = await api.get(name)
            except errors.NotFound:
                return
            if live["metadata"].get("uid") != obj["metadata"]["uid"] or finalizer not in (
                    live["metadata"].get("finalizers") or ()):
                return
            live["metadata"]["finalizers"] = without_finalizer(live, finalizer)
            try:
                await api.update(live)
                return
            except errors.Conflict:
                continue
            except errors.NotFound:
                return
        raise RuntimeError(f"could not remove finalizer {finalizer} from {res.plural} {name}")
