"""Pods: graceful deletion for pods on a node; binding to a node."""

from __future__ import annotations

from .. import errors
from ..store import now_rfc3339
from ..strategy import Strategy

__all__ = ["PodStrategy", "bind"]


class PodStrategy(Strategy):
    has_status = True
    return_deleted_object = True

    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj.get("spec") or {})}

    def graceful_delete_seconds(self, obj: dict, requested: int | None) -> int:
        """As Kubernetes: an unscheduled or finished pod goes at once; a pod on a
        node is marked and its kubelet confirms with a zero-grace delete."""
        spec = obj.get("spec") or {}
        if not spec.get("nodeName"):
            return 0
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is None:
            requested = spec.get("terminationGracePeriodSeconds", 30)
        return max(int(requested), 0)


def bind(pod: dict, node: str, *, uid: str = "", resource_version: str = "") -> dict:
    """Set spec.nodeName once; a bound pod refuses a new binding (409).

    The Binding's ``metadata.uid`` / ``resourceVersion``, when set, are
    preconditions checked first (409), as Kubernetes' BindingREST does: the
    scheduler names the UID it decided for, so a pod deleted and created again
    under the same name is not bound by a stale decision."""
    spec = pod.setdefault("spec", {})
    meta = pod["metadata"]
    name = meta["name"]
    if uid and uid != meta.get("uid"):
        raise errors.conflict("pods", name, f"Precondition failed: UID in precondition: {uid}, "
                                            f"UID in object meta: {meta.get('uid') or ''}")
    if resource_version and resource_version != meta.get("resourceVersion"):
        raise errors.conflict("pods", name, f"Precondition failed: ResourceVersion in precondition: "
                                            f"{resource_version}, ResourceVersion in object meta: "
                                            f"{meta.get('resourceVersion') or ''}")
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.conflict("pods", name, f"pod {name} is being deleted, cannot be assigned to a host")
    if spec.get("nodeName"):
        raise errors.conflict("pods", name, f'pod {name} is already assigned to node "{spec["nodeName"]}"')
    spec["nodeName"] = node
    status = pod.setdefault("status", {})
    conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                  "lastTransitionTime": now_rfc3339()})
    status["conditions"] = conds
    return pod


def _qos_class(spec: dict) -> str:
    """Guaranteed / Burstable / BestEffort from container requests and limits."""
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim[r]) != lim[r]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
