"""Typed per-resource clients: ``client.pods(ns).list()`` and friends.

A :class:`ResourceClient` knows its kind (a ``ResourceInfo`` row) and its
namespace, checks arguments, and hands each verb to a backend — HTTP for
:class:`~pybernetes.client.Client`, in-memory for
:class:`~pybernetes.client.FakeClient` — so both have one surface.

Objects are plain dicts as on the wire. ``namespace=None`` on a namespaced
kind means all namespaces: lists and watches span them, and writes take the
namespace from the object (``metadata.namespace``); name-addressed verbs
(get, delete, ...) then need ``namespace=`` per call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..api.resources import ResourceInfo
from .watch import Watch

__all__ = ["ResourceClient", "PodClient", "Backend", "ListOptions", "PATCH_CONTENT_TYPES", "PatchType",
           "delete_options"]

PatchType = Literal["strategic", "merge", "json", "apply"]
PATCH_CONTENT_TYPES: dict[str, str] = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


@dataclass(frozen=True, slots=True)
class ListOptions:
    label_selector: str | None = None
    field_selector: str | None = None
    limit: int | None = None
    continue_: str | None = None
    resource_version: str | None = None
    resource_version_match: str | None = None
    timeout_seconds: int | None = None
    allow_watch_bookmarks: bool = False

    def query(self) -> dict[str, str]:
        q: dict[str, str] = {}
        if self.label_selector:
            q["labelSelector"] = self.label_selector
        if self.field_selector:
            q["fieldSelector"] = self.field_selector
        if self.limit:
            q["limit"] = str(self.limit)
        if self.continue_:
            q["continue"] = self.continue_
        if self.resource_version is not None:
            q["resourceVersion"] = str(self.resource_version)
        if self.resource_version_match:
            q["resourceVersionMatch"] = self.resource_version_match
        if self.timeout_seconds is not None:
            q["timeoutSeconds"] = str(int(self.timeout_seconds))
        if self.allow_watch_bookmarks:
            q["allowWatchBookmarks"] = "true"
        return q


def delete_options(*, grace_period_seconds: int | None = None, propagation_policy: str | None = None,
                   preconditions: Mapping[str, str] | None = None, orphan_dependents: bool | None = None,
                   dry_run: bool = False) -> dict[str, Any]:
    """A meta/v1 DeleteOptions body."""
    body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if grace_period_seconds is not None:
        body["gracePeriodSeconds"] = int(grace_period_seconds)
    if propagation_policy is not None:
        if propagation_policy not in ("Orphan", "Background", "Foreground"):
            raise ValueError(f"propagation_policy must be Orphan, Background or Foreground, "
                             f"not {propagation_policy!r}")
        body["propagationPolicy"] = propagation_policy
    if preconditions:
        body["preconditions"] = {k: v for k, v in preconditions.items() if k in ("uid", "resourceVersion")}
    if orphan_dependents is not None:
        body["orphanDependents"] = bool(orphan_dependents)
    if dry_run:
        body["dryRun"] = ["All"]
    return body


class Backend(Protocol):
    """What a client implementation provides; ``ns`` is None for cluster scope/all namespaces."""

    async def list(self, info: ResourceInfo, ns: str | None, opts: ListOptions) -> dict: ...
    async def get(self, info: ResourceInfo, ns: str | None, name: str, *,
                  resource_version: str | None) -> dict: ...
    async def create(self, info: ResourceInfo, ns: str | None, obj: dict, *, query: dict[str, str]) -> dict: ...
    async def update(self, info: ResourceInfo, ns: str | None, name: str, obj: dict, *,
                     subresource: str, query: dict[str, str]) -> dict: ...
    async def patch(self, info: ResourceInfo, ns: str | None, name: str, body: Any, *,
                    patch_type: str, subresource: str, query: dict[str, str]) -> dict: ...
    async def delete(self, info: ResourceInfo, ns: str | None, name: str, options: dict) -> dict: ...
    async def delete_collection(self, info: ResourceInfo, ns: str | None, opts: ListOptions,
                                options: dict) -> dict: ...
    def watch(self, info: ResourceInfo, ns: str | None, opts: ListOptions) -> Watch: ...
    async def create_subresource(self, info: ResourceInfo, ns: str | None, name: str,
                                 subresource: str, body: dict) -> dict: ...
    async def pod_log(self, ns: str, name: str, query: dict[str, str]) -> str: ...
    def pod_log_stream(self, ns: str, name: str, query: dict[str, str]) -> AsyncIterator[str]: ...


def _write_query(dry_run: bool, field_manager: str | None, field_validation: str | None) -> dict[str, str]:
    q: dict[str, str] = {}
    if dry_run:
        q["dryRun"] = "All"
    if field_manager:
        q["fieldManager"] = field_manager
    if field_validation:
        q["fieldValidation"] = field_validation
    return q


class ResourceClient:
    """The verbs on one kind, in one namespace (or cluster-wide / all namespaces)."""

    __slots__ = ("backend", "info", "namespace")

    def __init__(self, backend: Backend, info: ResourceInfo, namespace: str | None = None):
        self.backend = backend
        self.info = info
        self.namespace = namespace if info.namespaced else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.info.plural} ns={self.namespace!r}>"

    # -- namespace resolution ------------------------------------------------
    def _ns_for_name(self, namespace: str | None) -> str | None:
        if not self.info.namespaced:
            return None
        ns = namespace or self.namespace
        if not ns:
            raise ValueError(f"{self.info.plural} is namespaced: give a namespace")
        return ns

    def _ns_for_object(self, obj: Mapping, namespace: str | None) -> str | None:
        if not self.info.namespaced:
            return None
        ns = namespace or self.namespace or (obj.get("metadata") or {}).get("namespace")
        if not ns:
            raise ValueError(f"{self.info.plural} is namespaced: give a namespace or metadata.namespace")
        return ns

    @staticmethod
    def _name_of(obj: Mapping) -> str:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            raise ValueError("the object has no metadata.name")
        return name

    # -- reads ---------------------------------------------------------------
    async def list(self, *, label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None,
                   resource_version_match: str | None = None) -> dict:
        """The List object: ``items``, ``metadata.resourceVersion``, ``metadata.continue``."""
        return await self.backend.list(self.info, self.namespace, ListOptions(
            label_selector=label_selector, field_selector=field_selector, limit=limit,
            continue_=continue_, resource_version=resource_version,
            resource_version_match=resource_version_match))

    async def list_all(self, *, label_selector: str | None = None, field_selector: str | None = None,
                       page_size: int = 500) -> dict:
        """Every page of a list merged into one List (consistent: one resourceVersion)."""
        first = await self.list(label_selector=label_selector, field_selector=field_selector,
                                limit=page_size)
        items = list(first.get("items") or ())
        cont = (first.get("metadata") or {}).get("continue")
        while cont:
            page = await self.list(label_selector=label_selector, field_selector=field_selector,
                                   limit=page_size, continue_=cont)
            items.extend(page.get("items") or ())
            cont = (page.get("metadata") or {}).get("continue")
        meta = dict(first.get("metadata") or {})
        meta.pop("continue", None)
        meta.pop("remainingItemCount", None)
        return {**first, "metadata": meta, "items": items}

    async def get(self, name: str, *, namespace: str | None = None,
                  resource_version: str | None = None) -> dict:
        return await self.backend.get(self.info, self._ns_for_name(namespace), name,
                                      resource_version=resource_version)

    def watch(self, *, resource_version: str | None = None, timeout_seconds: int | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              allow_watch_bookmarks: bool = False) -> Watch:
        """A :class:`~pybernetes.client.watch.Watch` (async iterator of WatchEvent).

        ``resource_version`` None or "0": ADDED for every current object first,
        then changes; "N": changes after N (Expired if N is compacted)."""
        return self.backend.watch(self.info, self.namespace, ListOptions(
            label_selector=label_selector, field_selector=field_selector,
            resource_version=resource_version, timeout_seconds=timeout_seconds,
            allow_watch_bookmarks=allow_watch_bookmarks))

    # -- writes --------------------------------------------------------------
    async def create(self, obj: dict, *, namespace: str | None = None, dry_run: bool = False,
                     field_manager: str | None = None, field_validation: str | None = None) -> dict:
        return await self.backend.create(self.info, self._ns_for_object(obj, namespace), obj,
                                         query=_write_query(dry_run, field_manager, field_validation))

    async def update(self, obj: dict, *, namespace: str | None = None, dry_run: bool = False,
                     field_manager: str | None = None, field_validation: str | None = None) -> dict:
        """PUT. A ``metadata.resourceVersion`` in ``obj`` makes it a compare-and-swap
        (Conflict when stale); without one the write is unconditional."""
        return await self.backend.update(self.info, self._ns_for_object(obj, namespace),
                                         self._name_of(obj), obj, subresource="",
                                         query=_write_query(dry_run, field_manager, field_validation))

    async def update_status(self, obj: dict, *, namespace: str | None = None, dry_run: bool = False,
                            field_manager: str | None = None) -> dict:
        """PUT to ``/status``: only ``status`` changes."""
        return await self.backend.update(self.info, self._ns_for_object(obj, namespace),
                                         self._name_of(obj), obj, subresource="status",
                                         query=_write_query(dry_run, field_manager, None))

    async def patch(self, name: str, body: Any, *, patch_type: PatchType = "strategic",
                    namespace: str | None = None, subresource: str = "", dry_run: bool = False,
                    field_manager: str | None = None, force: bool | None = None,
                    field_validation: str | None = None) -> dict:
        """PATCH with ``patch_type`` json (a list of ops), merge, strategic, or
        apply (server-side apply: needs ``field_manager``)."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"patch_type must be one of {sorted(PATCH_CONTENT_TYPES)}")
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        query = _write_query(dry_run, field_manager, field_validation)
        if force is not None:
            query["force"] = "true" if force else "false"
        return await self.backend.patch(self.info, self._ns_for_name(namespace), name, body,
                                        patch_type=patch_type, subresource=subresource, query=query)

    async def delete(self, name: str, *, namespace: str | None = None,
                     grace_period_seconds: int | None = None, propagation_policy: str | None = None,
                     preconditions: Mapping[str, str] | None = None,
                     orphan_dependents: bool | None = None, dry_run: bool = False) -> dict:
        """DELETE. Returns what the server answers: the object (still present
        while graceful deletion or finalizers hold it, or as deleted) or a
        Success Status. ``preconditions`` may hold ``uid`` and ``resourceVersion``."""
        return await self.backend.delete(self.info, self._ns_for_name(namespace), name, delete_options(
            grace_period_seconds=grace_period_seconds, propagation_policy=propagation_policy,
            preconditions=preconditions, orphan_dependents=orphan_dependents, dry_run=dry_run))

    async def delete_collection(self, *, label_selector: str | None = None,
                                field_selector: str | None = None,
                                grace_period_seconds: int | None = None,
                                propagation_policy: str | None = None, dry_run: bool = False) -> dict:
        """DELETE on the collection (in this namespace, or cluster-wide)."""
        return await self.backend.delete_collection(
            self.info, self.namespace,
            ListOptions(label_selector=label_selector, field_selector=field_selector),
            delete_options(grace_period_seconds=grace_period_seconds,
                           propagation_policy=propagation_policy, dry_run=dry_run))


class PodClient(ResourceClient):
    """Pods add binding to a node and logs."""

    __slots__ = ()

    async def bind(self, name: str, node: str, *, namespace: str | None = None,
                   uid: str | None = None) -> dict:
        """POST a Binding (``pods/{name}/binding``): sets ``spec.nodeName``."""
        ns = self._ns_for_name(namespace)
        meta: dict[str, Any] = {"name": name, "namespace": ns}
        if uid:
            meta["uid"] = uid
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": meta,
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        return await self.backend.create_subresource(self.info, ns, name, "binding", body)

    def log(self, name: str, *, namespace: str | None = None, container: str | None = None,
            follow: bool = False, tail_lines: int | None = None, previous: bool = False,
            timestamps: bool = False, since_seconds: int | None = None, limit_bytes: int | None = None):
        """The log as one ``str`` (an awaitable) — or, with ``follow=True``, an
        async iterator of lines (``str`` with their newline) until the container ends."""
        ns = self._ns_for_name(namespace)
        q: dict[str, str] = {}
        if container:
            q["container"] = container
        if follow:
            q["follow"] = "true"
        if tail_lines is not None:
            q["tailLines"] = str(int(tail_lines))
        if previous:
            q["previous"] = "true"
        if timestamps:
            q["timestamps"] = "true"
        if since_seconds is not None:
            q["sinceSeconds"] = str(int(since_seconds))
        if limit_bytes is not None:
            q["limitBytes"] = str(int(limit_bytes))
        if follow:
            return self.backend.pod_log_stream(ns, name, q)
        return self.backend.pod_log(ns, name, q)
