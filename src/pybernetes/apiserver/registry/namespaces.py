"""Namespaces: Terminating on delete until `spec.finalizers` empties; and the
NamespaceLifecycle admission check used by every namespaced create."""

from __future__ import annotations

import orjson

from ...api.resources import ResourceInfo
from ...storage import interface as st
from .. import errors
from ..strategy import Strategy

__all__ = ["NamespaceStrategy", "NamespaceLifecycle", "SYSTEM_NAMESPACES"]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class NamespaceStrategy(Strategy):
    has_status = True
    return_deleted_object = True

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


class NamespaceLifecycle:
    """Refuses creates in a namespace that is missing or terminating."""

    def __init__(self, storage: st.Storage, namespaces: ResourceInfo):
        self.storage = storage
        self.namespaces = namespaces

    async def check_can_create(self, namespace: str | None, resource: ResourceInfo, name: str) -> None:
        try:
            kv = await self.storage.get(self.namespaces.key(None, namespace or ""))
        except st.NotFound:
            raise errors.not_found("namespaces", namespace or "") from None
        ns = orjson.loads(kv.value)
        if ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            raise errors.forbidden(resource.plural, name,
                                   f"unable to create new content in namespace {namespace} "
                                   "because it is being terminated", resource.group)
