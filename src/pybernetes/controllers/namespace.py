"""The namespace controller: empties a namespace being deleted, then lets it go.

Deleting a namespace marks it Terminating (the apiserver then refuses new
objects in it). ``reconcile(name)`` deletes every namespaced object in it,
kind by kind, waits until none is left (pods may take their grace period), and
removes the ``kubernetes`` finalizer through `namespaces/{name}/finalize`, at
which point the apiserver deletes the namespace.
"""

from __future__ import annotations

import logging

from ..api.resources import RESOURCES, ResourceInfo
from ..client import Controller, errors
from .events import EventRecorder
from .podutil import format_time, now

__all__ = ["NamespaceController", "FINALIZER"]

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"
# While content remains, look again after this long (Kubernetes estimates
# from the pods' grace periods; a short poll is simpler and as correct).
_RECHECK_SECONDS = 1.0


def _namespaced_kinds() -> list[ResourceInfo]:
    """Kinds to empty, events last so the deletions' events are removed too."""
    kinds = [r for r in RESOURCES if r.namespaced and "delete" in r.verbs]
    return sorted(kinds, key=lambda r: r.plural == "events")


async def _finalize(api, name: str, body: dict) -> dict:
    """PUT namespaces/{name}/finalize (the typed client has no verb for it)."""
    finalize = getattr(api, "finalize", None)
    try:
        if finalize is not None:
            return await finalize(name, body)
        return await api.backend.update(api.info, None, name, body, subresource="finalize", query={})
    except errors.NotFound:
        # Some apiservers route `namespaces/{name}/finalize` as a namespaced
        # list; when the namespace is still there, a compare-and-swap update
        # of spec.finalizers ends it the same way.
        ns = await api.get(name)
        ns.setdefault("spec", {})["finalizers"] = body["spec"]["finalizers"]
        return await api.update(ns)


class NamespaceController(Controller):
    """Keys are namespace names."""

    name = "namespace-controller"

    def __init__(self, client, *, namespaces, recorder: EventRecorder | None = None, workers: int = 2):
        super().__init__(workers=workers)
        self.client = client
        self.namespaces = namespaces
        self.recorder = recorder or EventRecorder(client, "namespace-controller")
        namespaces.add_event_handler(on_add=self._ns, on_update=lambda o, n: self._ns(n))

    def _ns(self, ns: dict) -> None:
        if ns["metadata"].get("deletionTimestamp"):
            self.queue.add(ns["metadata"]["name"])

    async def reconcile(self, name: str) -> None:
        ns = self.namespaces.get(name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining: dict[str, int] = {}
        for res in _namespaced_kinds():
            left = await self._delete_all(res, name)
            if left:
                remaining[res.plural] = left
        if remaining:
            await self._set_condition(ns, remaining)
            self.queue.add_after(name, _RECHECK_SECONDS)
            return
        finalizers = [f for f in (ns.get("spec") or {}).get("finalizers") or () if f != FINALIZER]
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or ()):
            return  # already finalized by us; other finalizers are someone else's
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                "spec": {"finalizers": finalizers}}
        try:
            await _finalize(self.client.namespaces(), name, body)
        except errors.NotFound:
            return
        log.info("namespace %s emptied and finalized", name)

    async def _delete_all(self, res: ResourceInfo, namespace: str) -> int:
        """Delete every object of one kind in the namespace; returns how many still exist."""
        api = self.client.resource(res.group, res.version, res.plural, namespace)
        items = (await api.list()).get("items") or []
        if not items:
            return 0
        pending = [o for o in items if not o["metadata"].get("deletionTimestamp")]
        if pending:
            if "deletecollection" in res.verbs:
                await api.delete_collection(propagation_policy="Background")
            else:
                for o in pending:
                    try:
                        await api.delete(o["metadata"]["name"], propagation_policy="Background")
                    except errors.NotFound:
                        pass
            items = (await api.list()).get("items") or []
        return len(items)

    async def _set_condition(self, ns: dict, remaining: dict[str, int]) -> None:
        msg = "Some resources are remaining: " + ", ".join(
            f"{plural} has {n} resource instances" for plural, n in sorted(remaining.items()))
        status = dict(ns.get("status") or {})
        conds = [c for c in status.get("conditions") or () if c.get("type") != "NamespaceContentRemaining"]
        old = next((c for c in status.get("conditions") or () if c.get("type") == "NamespaceContentRemaining"), None)
        if old is not None and old.get("message") == msg:
            return
        conds.append({"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
                      "message": msg, "lastTransitionTime": format_time(now())})
        status["conditions"] = conds
        status["phase"] = "Terminating"
        new = dict(ns)
        new["status"] = status
        try:
            await self.client.namespaces().update_status(new)
        except (errors.Conflict, errors.NotFound):
            pass
