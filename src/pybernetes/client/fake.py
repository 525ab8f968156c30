"""FakeClient: the client interface over an in-memory store, for unit tests.

Semantics kept from the apiserver (the shared behaviour tests run against
both): a global resourceVersion bumped by every write; create → AlreadyExists;
get/update-status/patch/delete of a missing object → NotFound; PUT of a
missing object creates it (unless it carries a resourceVersion); a stale
``metadata.resourceVersion`` → Conflict; the status subresource and the main
resource each keep the other's part; generation bumps on spec changes
(replication controllers); finalizers, pods bound to a node (grace period)
and propagation policies make delete only mark ``deletionTimestamp``; an
update that clears the last finalizer of a marked object deletes it; label
and field selectors; limit/continue; watch from a resourceVersion (replayed
from history), from "0"/None (synthetic ADDED first), with timeouts, and
Expired for a compacted resourceVersion. No schema validation or defaulting.

Every call is recorded in ``actions`` as a tuple ``(verb, resource, namespace,
name)`` — e.g. ``("create", "pods", "default", "web-1")``,
``("update", "pods/status", "default", "web-1")``, ``("create", "pods/binding",
"default", "web-1")``, ``("list", "pods", None, None)``. Test hooks:
``compact()``, ``expire_watches()``, ``drop_watches()``, ``set_pod_log()`` and
``prepend_reactor()`` to inject failures.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from .. import KUBE_GIT_VERSION, __version__
from ..api import fields as field_selectors
from ..api import labels as label_selectors
from ..api.names import generate_name
from ..api.resources import RESOURCES, ResourceInfo
from . import errors
from .client import Interface
from .resource import PATCH_CONTENT_TYPES, ListOptions
from .watch import Watch, WatchEvent

__all__ = ["FakeClient", "FakeBackend", "Action"]

Action = tuple[str, str, str | None, str | None]

_HAS_STATUS = {("", "pods"), ("", "namespaces"), ("", "services"), ("", "replicationcontrollers"),
               ("", "nodes")}
_TRACKS_GENERATION = {("", "replicationcontrollers")}
_RETURNS_DELETED = {("", "pods"), ("", "services"), ("", "namespaces")}
_MODIFIED_MSG = "the object has been modified; please apply your changes to the latest version and try again"


def _now(delta: int = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _qualified(info: ResourceInfo) -> str:
    return f"{info.plural}.{info.group}" if info.group else info.plural


def _err(code: int, info: ResourceInfo, name: str, message: str, reason: str = "", **details: Any):
    return errors.from_status(errors.status_for(code, message, reason, name=name, group=info.group,
                                                kind=info.plural, **details))


def _not_found(info: ResourceInfo, name: str) -> errors.APIError:
    return _err(404, info, name, f'{_qualified(info)} "{name}" not found', "NotFound")


def _conflict(info: ResourceInfo, name: str, detail: str) -> errors.APIError:
    return _err(409, info, name, f'Operation cannot be fulfilled on {_qualified(info)} "{name}": {detail}',
                "Conflict")


def _clone(obj: Any) -> Any:
    return orjson.loads(orjson.dumps(obj))


@dataclass(frozen=True, slots=True)
class _Event:
    revision: int
    gp: tuple[str, str]
    namespace: str
    type: str  # ADDED | MODIFIED | DELETED
    object: dict
    prev: dict | None


class _Selector:
    def __init__(self, info: ResourceInfo, opts: ListOptions):
        try:
            self.labels = label_selectors.parse(opts.label_selector) if opts.label_selector else None
            self.fields = field_selectors.parse(opts.field_selector) if opts.field_selector else None
            if self.fields is not None:
                field_selectors.check_supported(self.fields, info.kind)
        except ValueError as e:
            raise errors.BadRequest(errors.status_for(400, str(e))) from e
        self.kind = info.kind

    @property
    def empty(self) -> bool:
        return self.labels is None and self.fields is None

    def matches(self, obj: dict) -> bool:
        if self.labels is not None and not label_selectors.matches(
                self.labels, (obj.get("metadata") or {}).get("labels") or {}):
            return False
        return self.fields is None or field_selectors.matches(self.fields, self.kind, obj)


class FakeBackend:
    """The in-memory store behind :class:`FakeClient` (one event loop)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self.revision = 1
        self.compacted = 0
        self.history: list[_Event] = []
        self.history_limit = 10000
        self.watches: set[FakeWatch] = set()
        self.actions: list[Action] = []
        self.reactors: list[tuple[str, str, Callable[[Action], Any]]] = []
        self.logs: dict[tuple[str, str], str] = {}

    # -- recording and reactors --------------------------------------------------
    def _record(self, verb: str, resource: str, ns: str | None, name: str | None) -> Any:
        action = (verb, resource, ns, name)
        self.actions.append(action)
        for v, r, fn in self.reactors:
            if v in ("*", verb) and r in ("*", resource):
                result = fn(action)
                if result is not None:
                    return result
        return None

    # -- storage helpers -----------------------------------------------------------
    def _table(self, info: ResourceInfo) -> dict[tuple[str, str], dict]:
        return self.objects.setdefault((info.group, info.plural), {})

    def _next_rev(self) -> int:
        self.revision += 1
        return self.revision

    def _emit(self, info: ResourceInfo, typ: str, obj: dict, prev: dict | None) -> None:
        ev = _Event(self.revision, (info.group, info.plural),
                    (obj.get("metadata") or {}).get("namespace") or "", typ, _clone(obj), prev)
        self.history.append(ev)
        if len(self.history) > self.history_limit:
            drop = len(self.history) - self.history_limit
            self.compacted = self.history[drop - 1].revision
            del self.history[:drop]
        for w in list(self.watches):
            w.offer(ev)

    def _store(self, info: ResourceInfo, ns: str, name: str, obj: dict, typ: str, prev: dict | None) -> dict:
        obj["metadata"]["resourceVersion"] = str(self._next_rev())
        self._table(info)[(ns, name)] = obj
        self._emit(info, typ, obj, prev)
        return _clone(obj)

    def _remove(self, info: ResourceInfo, ns: str, name: str, obj: dict) -> dict:
        del self._table(info)[(ns, name)]
        obj["metadata"]["resourceVersion"] = str(self._next_rev())
        self._emit(info, "DELETED", obj, obj)
        return _clone(obj)

    def _lookup(self, info: ResourceInfo, ns: str | None, name: str) -> dict:
        obj = self._table(info).get((ns or "", name))
        if obj is None:
            raise _not_found(info, name)
        return obj

    # -- reads -----------------------------------------------------------------------
    async def list(self, info: ResourceInfo, ns: str | None, opts: ListOptions) -> dict:
        hooked = self._record("list", info.plural, ns, None)
        if hooked is not None:
            return hooked
        sel = _Selector(info, opts)
        start = ""
        if opts.continue_:
            try:
                token = orjson.loads(base64.urlsafe_b64decode(opts.continue_ + "=" * (-len(opts.continue_) % 4)))
                start = token["start"]
            except (ValueError, KeyError, TypeError) as e:
                raise errors.BadRequest(errors.status_for(400, f"continue key is not valid: {e}")) from e
        keys = sorted(k for k in self._table(info) if (not ns or k[0] == ns) and "/".join(k) > start)
        items: list[dict] = []
        cont = None
        for i, k in enumerate(keys):
            obj = self._table(info)[k]
            if not sel.matches(obj):
                continue
            if opts.limit and len(items) >= opts.limit:
                cont = base64.urlsafe_b64encode(orjson.dumps(
                    {"rv": self.revision, "start": "/".join(keys[i - 1])})).decode().rstrip("=")
                break
            items.append(_clone(obj))
        meta: dict[str, Any] = {"resourceVersion": str(self.revision)}
        if cont:
            meta["continue"] = cont
        return {"kind": info.list_kind, "apiVersion": info.api_version, "metadata": meta, "items": items}

    async def get(self, info: ResourceInfo, ns: str | None, name: str, *,
                  resource_version: str | None) -> dict:
        hooked = self._record("get", info.plural, ns, name)
        if hooked is not None:
            return hooked
        return _clone(self._lookup(info, ns, name))

    def watch(self, info: ResourceInfo, ns: str | None, opts: ListOptions) -> Watch:
        self._record("watch", info.plural, ns, None)
        return FakeWatch(self, info, ns, opts)

    # -- writes ------------------------------------------------------------------------
    async def create(self, info: ResourceInfo, ns: str | None, obj: dict, *, query: dict[str, str]) -> dict:
        obj = _clone(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generate_name(meta["generateName"])
        name = meta.get("name") or ""
        hooked = self._record("create", info.plural, ns, name)
        if hooked is not None:
            return hooked
        if not name:
            raise errors.Invalid(errors.status_for(
                422, f'{info.kind} "" is invalid: metadata.name: Required value: name or generateName is required',
                "Invalid", kind=info.kind, group=info.group,
                causes=[{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required",
                         "field": "metadata.name"}]))
        if info.namespaced and meta.get("namespace") and meta["namespace"] != ns:
            raise errors.BadRequest(errors.status_for(
                400, "the namespace of the provided object does not match the namespace sent on the request"))
        key = (ns or "", name)
        if key in self._table(info):
            raise _err(409, info, name, f'{_qualified(info)} "{name}" already exists', "AlreadyExists")
        self._fill_metadata(info, obj, ns)
        if query.get("dryRun"):
            return obj
        return self._store(info, key[0], name, obj, "ADDED", None)

    def _fill_metadata(self, info: ResourceInfo, obj: dict, ns: str | None) -> None:
        meta = obj["metadata"]
        if info.namespaced:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(k, None)
        if (info.group, info.plural) in _TRACKS_GENERATION:
            meta["generation"] = 1
        if (info.group, info.plural) == ("", "pods"):
            obj.setdefault("status", {}).setdefault("phase", "Pending")
        obj["apiVersion"] = info.api_version
        obj["kind"] = info.kind

    async def update(self, info: ResourceInfo, ns: str | None, name: str, obj: dict, *,
                     subresource: str, query: dict[str, str]) -> dict:
        resource = f"{info.plural}/{subresource}" if subresource else info.plural
        hooked = self._record("update", resource, ns, name)
        if hooked is not None:
            return hooked
        return self._update(info, ns, name, _clone(obj), subresource=subresource,
                            dry_run=bool(query.get("dryRun")))

    def _update(self, info: ResourceInfo, ns: str | None, name: str, new: dict, *, subresource: str,
                dry_run: bool, allow_create: bool = True) -> dict:
        meta = new.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise errors.BadRequest(errors.status_for(
                400, f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"))
        meta["name"] = name
        want_rv = meta.get("resourceVersion") or ""
        old = self._table(info).get((ns or "", name))
        if old is None:
            if subresource or want_rv or not allow_create:
                raise _not_found(info, name)
            meta.pop("resourceVersion", None)
            self._fill_metadata(info, new, ns)
            if dry_run:
                return new
            return self._store(info, ns or "", name, new, "ADDED", None)
        if want_rv and want_rv != old["metadata"].get("resourceVersion"):
            raise _conflict(info, name, _MODIFIED_MSG)
        self._carry(info, new, old, ns)
        gp = (info.group, info.plural)
        if subresource == "status":
            for k, v in old.items():
                if k not in ("status", "metadata"):
                    new[k] = v
            for k in [k for k in new if k not in old and k not in ("status", "metadata")]:
                del new[k]
            for k in ("ownerReferences",):
                if k in old["metadata"]:
                    meta[k] = old["metadata"][k]
                else:
                    meta.pop(k, None)
        elif gp in _HAS_STATUS:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if gp in _TRACKS_GENERATION and subresource != "status":
            gen = old["metadata"].get("generation", 1)
            meta["generation"] = gen + 1 if new.get("spec") != old.get("spec") else gen
        if dry_run:
            return new
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and \
                meta.get("deletionGracePeriodSeconds") == 0:
            return self._remove(info, ns or "", name, new)
        old_rv = old["metadata"].pop("resourceVersion", None)
        unchanged = new == old
        old["metadata"]["resourceVersion"] = old_rv
        if unchanged:
            return _clone(old)
        return self._store(info, ns or "", name, new, "MODIFIED", old)

    @staticmethod
    def _carry(info: ResourceInfo, new: dict, old: dict, ns: str | None) -> None:
        meta, old_meta = new["metadata"], old["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        if info.namespaced:
            meta["namespace"] = ns
        meta.pop("resourceVersion", None)
        new["apiVersion"] = info.api_version
        new["kind"] = info.kind

    async def patch(self, info: ResourceInfo, ns: str | None, name: str, body: Any, *,
                    patch_type: str, subresource: str, query: dict[str, str]) -> dict:
        resource = f"{info.plural}/{subresource}" if subresource else info.plural
        hooked = self._record("patch", resource, ns, name)
        if hooked is not None:
            return hooked
        from ..apiserver import errors as server_errors
        from ..apiserver.patch import apply_patch

        old = self._table(info).get((ns or "", name))
        if old is None:
            if patch_type == "apply":  # server-side apply creates
                return self._update(info, ns, name, _clone(body), subresource="",
                                    dry_run=bool(query.get("dryRun")))
            raise _not_found(info, name)
        content_type = PATCH_CONTENT_TYPES["strategic" if patch_type == "apply" else patch_type]
        raw = body if isinstance(body, bytes | str) else orjson.dumps(body)
        try:
            patched = apply_patch(content_type, _clone(old), raw, definition=info.definition)
        except server_errors.APIError as e:
            raise errors.from_status(e.status(), e.code) from None
        # A resourceVersion in the patch is a precondition, as in Kubernetes.
        rv = (patched.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"].get("resourceVersion"):
            raise _conflict(info, name, _MODIFIED_MSG)
        return self._update(info, ns, name, patched, subresource=subresource,
                            dry_run=bool(query.get("dryRun")))

    async def delete(self, info: ResourceInfo, ns: str | None, name: str, options: dict) -> dict:
        hooked = self._record("delete", info.plural, ns, name)
        if hooked is not None:
            return hooked
        return self._delete(info, ns, name, options)

    def _delete(self, info: ResourceInfo, ns: str | None, name: str, options: dict) -> dict:
        obj = self._lookup(info, ns, name)
        meta = obj["metadata"]
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise _conflict(info, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                        f"UID in object meta: {meta.get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            raise _conflict(info, name, f"Precondition failed: ResourceVersion in precondition: "
                                        f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                        f"{meta.get('resourceVersion')}")
        dry = bool(options.get("dryRun"))
        new = _clone(obj)
        nmeta = new["metadata"]
        finalizers = list(nmeta.get("finalizers") or [])
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        grace = self._grace(info, obj, options.get("gracePeriodSeconds"))
        if not finalizers and grace == 0:
            if dry:
                return new
            gone = self._remove(info, ns or "", name, new)
            if (info.group, info.plural) in _RETURNS_DELETED:
                return gone
            return _success(info, name, meta.get("uid", ""))
        if meta.get("deletionTimestamp"):  # already marked: only shrink grace or add finalizers
            changed = False
            if finalizers != list(meta.get("finalizers") or []):
                nmeta["finalizers"] = finalizers
                changed = True
            if grace < (meta.get("deletionGracePeriodSeconds") or 0):
                nmeta["deletionGracePeriodSeconds"] = grace
                nmeta["deletionTimestamp"] = _now(grace)
                changed = True
            if not changed:
                return _clone(obj)
        else:
            if finalizers:
                nmeta["finalizers"] = finalizers
            nmeta["deletionTimestamp"] = _now(grace)
            nmeta["deletionGracePeriodSeconds"] = grace
            if (info.group, info.plural) in _TRACKS_GENERATION and nmeta.get("generation") is not None:
                nmeta["generation"] += 1
        if dry:
            return new
        nmeta.pop("resourceVersion", None)
        return self._store(info, ns or "", name, new, "MODIFIED", obj)

    @staticmethod
    def _grace(info: ResourceInfo, obj: dict, requested: int | None) -> int:
        if (info.group, info.plural) != ("", "pods"):
            return 0
        spec = obj.get("spec") or {}
        if not spec.get("nodeName") or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is None:
            requested = spec.get("terminationGracePeriodSeconds", 30)
        return max(int(requested), 0)

    async def delete_collection(self, info: ResourceInfo, ns: str | None, opts: ListOptions,
                                options: dict) -> dict:
        hooked = self._record("delete_collection", info.plural, ns, None)
        if hooked is not None:
            return hooked
        sel = _Selector(info, opts)
        out = []
        for (ons, name), obj in sorted(self._table(info).items()):
            if (not ns or ons == ns) and sel.matches(obj):
                deleted = self._delete(info, ons or None, name, options)
                out.append(deleted if deleted.get("kind") != "Status" else _clone(obj))
        return {"kind": info.list_kind, "apiVersion": info.api_version,
                "metadata": {"resourceVersion": str(self.revision)}, "items": out}

    async def create_subresource(self, info: ResourceInfo, ns: str | None, name: str,
                                 subresource: str, body: dict) -> dict:
        hooked = self._record("create", f"{info.plural}/{subresource}", ns, name)
        if hooked is not None:
            return hooked
        if (info.group, info.plural, subresource) != ("", "pods", "binding"):
            raise errors.NotFound(errors.status_for(404, "the server could not find the requested resource"))
        pod = self._lookup(info, ns, name)
        node = ((body.get("target") or {}).get("name")) or ""
        uid = (body.get("metadata") or {}).get("uid")
        if uid and uid != pod["metadata"].get("uid"):
            raise _conflict(info, name, f"Precondition failed: UID in precondition: {uid}, "
                                        f"UID in object meta: {pod['metadata'].get('uid')}")
        if pod["metadata"].get("deletionTimestamp"):
            raise _conflict(info, name, f"pod {name} is being deleted, cannot be assigned to a host")
        if (pod.get("spec") or {}).get("nodeName"):
            raise _conflict(info, name, f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"')
        new = _clone(pod)
        new.setdefault("spec", {})["nodeName"] = node
        status = new.setdefault("status", {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": _now()})
        status["conditions"] = conds
        new["metadata"].pop("resourceVersion", None)
        self._store(info, ns or "", name, new, "MODIFIED", pod)
        return _success(info, name, "", code=201)

    async def pod_log(self, ns: str, name: str, query: dict[str, str]) -> str:
        self._record("get", "pods/log", ns, name)
        self._lookup(_pods_info(), ns, name)
        text = self.logs.get((ns, name), "")
        if "tailLines" in query:
            lines = text.splitlines(keepends=True)
            n = int(query["tailLines"])
            text = "".join(lines[-n:] if n else [])
        return text

    async def pod_log_stream(self, ns: str, name: str, query: dict[str, str]) -> AsyncIterator[str]:
        for line in (await self.pod_log(ns, name, query)).splitlines(keepends=True):
            yield line

    async def version(self) -> dict:
        major, minor = KUBE_GIT_VERSION.lstrip("v").split(".")[:2]
        return {"major": major, "minor": minor, "gitVersion": KUBE_GIT_VERSION, "gitCommit": __version__,
                "gitTreeState": "clean", "platform": "linux/amd64"}

    async def server_resources(self) -> list[dict]:
        lists: dict[str, dict] = {}
        for r in RESOURCES:
            lst = lists.setdefault(r.group_version, {"kind": "APIResourceList", "apiVersion": "v1",
                                                     "groupVersion": r.group_version, "resources": []})
            lst["resources"].append({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                                     "kind": r.kind, "verbs": list(r.verbs),
                                     **({"shortNames": list(r.short_names)} if r.short_names else {})})
            for sub in r.subresources:
                lst["resources"].append({"name": f"{r.plural}/{sub}", "singularName": "",
                                         "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "update"]})
        return list(lists.values())


def _pods_info() -> ResourceInfo:
    from ..api.resources import by_plural
    return by_plural("", "pods")  # type: ignore[return-value]


def _success(info: ResourceInfo, name: str, uid: str, code: int = 200) -> dict:
    details: dict[str, Any] = {"name": name}
    if info.group:
        details["group"] = info.group
    details["kind"] = info.plural
    if uid:
        details["uid"] = uid
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                            "details": details}
    if code != 200:
        body["code"] = code
    return body


class FakeWatch(Watch):
    """A watch on the fake store; events arrive through ``offer`` in order."""

    def __init__(self, backend: FakeBackend, info: ResourceInfo, ns: str | None, opts: ListOptions):
        super().__init__()
        self.backend = backend
        self.info = info
        self.ns = ns or ""
        self.opts = opts
        self.selector = _Selector(info, opts)
        self.queue: asyncio.Queue[WatchEvent | BaseException | None] = asyncio.Queue()
        self.deadline: float | None = None
        self.started = False

    def _start(self) -> None:
        self.started = True
        loop = asyncio.get_running_loop()
        if self.opts.timeout_seconds:
            self.deadline = loop.time() + self.opts.timeout_seconds
        b = self.backend
        rv = self.opts.resource_version
        if rv in (None, "", "0"):
            for (ns, _), obj in sorted(b._table(self.info).items()):
                if (not self.ns or ns == self.ns) and self.selector.matches(obj):
                    self.queue.put_nowait(WatchEvent("ADDED", _clone(obj)))
        else:
            try:
                since = int(rv)
            except ValueError:
                self.queue.put_nowait(errors.BadRequest(errors.status_for(400, f'invalid resource version "{rv}"')))
                return
            if since < b.compacted:
                self.queue.put_nowait(errors.Expired(errors.status_for(
                    410, f"too old resource version: {since} ({b.compacted})", "Expired")))
                return
            for ev in b.history:
                if ev.revision > since:
                    self.offer(ev)
        b.watches.add(self)

    def offer(self, ev: _Event) -> None:
        if ev.gp != (self.info.group, self.info.plural) or (self.ns and ev.namespace != self.ns):
            return
        obj = _clone(ev.object)
        if self.selector.empty:
            self.queue.put_nowait(WatchEvent(ev.type, obj))
            return
        now_in = ev.type != "DELETED" and self.selector.matches(ev.object)
        was_in = ev.prev is not None and self.selector.matches(ev.prev)
        if ev.type == "DELETED":
            if was_in:
                self.queue.put_nowait(WatchEvent("DELETED", obj))
        elif now_in:
            self.queue.put_nowait(WatchEvent("MODIFIED" if was_in else "ADDED", obj))
        elif was_in:
            self.queue.put_nowait(WatchEvent("DELETED", obj))

    def fail(self, exc: BaseException) -> None:
        self.queue.put_nowait(exc)
        self.backend.watches.discard(self)

    async def _next(self) -> WatchEvent | None:
        if not self.started:
            self._start()
        if self.deadline is None:
            item = await self.queue.get()
        else:
            remaining = self.deadline - asyncio.get_running_loop().time()
            if remaining <= 0 and self.queue.empty():
                return None
            try:
                async with asyncio.timeout(max(remaining, 0)):  # not wait_for: it can swallow cancels
                    item = await self.queue.get()
            except TimeoutError:
                return None
        if isinstance(item, BaseException):
            raise item
        return item

    async def _close(self) -> None:
        self.backend.watches.discard(self)
        self.queue.put_nowait(None)


class FakeClient(Interface):
    """The client interface over :class:`FakeBackend`; see the module docstring."""

    def __init__(self, *objects: dict, namespace: str = "default"):
        self.namespace = namespace
        self.backend = FakeBackend()
        for obj in objects:
            self.add(obj)

    # -- test helpers ------------------------------------------------------------------
    def add(self, obj: dict) -> dict:
        """Seed an object without recording an action (kind/apiVersion pick the resource)."""
        info = _info_for(obj)
        ns = (obj.get("metadata") or {}).get("namespace") or (self.namespace if info.namespaced else None)
        b = self.backend
        obj = _clone(obj)
        meta = obj.setdefault("metadata", {})
        name = meta.get("name") or ""
        if (ns or "", name) in b._table(info):
            raise ValueError(f"{info.plural} {ns}/{name} already seeded")
        b._fill_metadata(info, obj, ns)
        return b._store(info, ns or "", name, obj, "ADDED", None)

    @property
    def actions(self) -> list[Action]:
        return self.backend.actions

    def actions_of(self, verb: str | None = None, resource: str | None = None) -> list[Action]:
        return [a for a in self.backend.actions
                if (verb is None or a[0] == verb) and (resource is None or a[1] == resource)]

    def clear_actions(self) -> None:
        self.backend.actions.clear()

    def prepend_reactor(self, verb: str, resource: str, fn: Callable[[Action], Any]) -> None:
        """``fn(action)`` runs first for matching calls ("*" matches any): raise to
        fail the call, return a value to answer it, None to carry on."""
        self.backend.reactors.insert(0, (verb, resource, fn))

    def objects(self, plural: str, group: str = "") -> list[dict]:
        return [_clone(o) for _, o in sorted(self.backend.objects.get((group, plural), {}).items())]

    def set_pod_log(self, namespace: str, name: str, text: str) -> None:
        self.backend.logs[(namespace, name)] = text

    @property
    def resource_version(self) -> str:
        return str(self.backend.revision)

    def compact(self, revision: int | None = None) -> None:
        """Forget history up to ``revision`` (default: now): older watches get Expired."""
        b = self.backend
        b.compacted = b.revision if revision is None else revision
        b.history = [e for e in b.history if e.revision > b.compacted]

    def expire_watches(self) -> None:
        """Every open watch ends with a 410 ERROR, as after compaction under a slow watcher."""
        for w in list(self.backend.watches):
            w.fail(errors.Expired(errors.status_for(410, "too old resource version", "Expired")))

    def drop_watches(self) -> None:
        """Every open watch fails as if the connection dropped."""
        for w in list(self.backend.watches):
            w.fail(errors.ConnectionFailed("connection dropped (fake)"))

    @property
    def open_watches(self) -> int:
        return len(self.backend.watches)


def _info_for(obj: dict) -> ResourceInfo:
    api_version = obj.get("apiVersion") or "v1"
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    for r in RESOURCES:
        if r.group == group and r.kind == obj.get("kind"):
            return r
    raise ValueError(f"unknown kind {obj.get('kind')!r} in {api_version!r}")

