"""Pure decisions of the pod garbage collector (no I/O)."""

from __future__ import annotations

from .podutil import parse_time

__all__ = ["terminated_pods_to_delete", "orphaned_pods", "unscheduled_terminating_pods"]


def _created(pod: dict) -> float:
    t = parse_time(pod["metadata"].get("creationTimestamp"))
    return t.timestamp() if t else 0.0


def terminated_pods_to_delete(pods: list[dict], threshold: int) -> list[dict]:
    """Finished pods (Succeeded/Failed) beyond ``threshold``, oldest first;
    ``threshold <= 0`` disables this, as Kubernetes' --terminated-pod-gc-threshold."""
    if threshold <= 0:
        return []
    done = [p for p in pods if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed")]
    excess = len(done) - threshold
    if excess <= 0:
        return []
    return sorted(done, key=_created)[:excess]


def orphaned_pods(pods: list[dict], node_names: set[str]) -> list[dict]:
    """Pods bound to a node that does not exist."""
    return [p for p in pods if (p.get("spec") or {}).get("nodeName")
            and p["spec"]["nodeName"] not in node_names]


def unscheduled_terminating_pods(pods: list[dict]) -> list[dict]:
    """Pods being deleted that never reached a node: no kubelet will finish them."""
    return [p for p in pods if p["metadata"].get("deletionTimestamp")
            and not (p.get("spec") or {}).get("nodeName")]
