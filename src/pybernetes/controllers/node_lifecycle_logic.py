"""Pure decisions of the node lifecycle controller (no I/O): heartbeat
staleness, the conditions and taints of an unreachable node, and when a pod
on it is evicted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .podutil import format_time, parse_time

__all__ = [
    "UNREACHABLE_TAINT", "NOT_READY_TAINT", "UNSCHEDULABLE_TAINT", "NODE_CONDITIONS",
    "heartbeat_marker", "HealthTracker", "unknown_conditions", "ready_status", "desired_taints",
    "toleration_matches", "eviction_delay", "taint_added_at",
]

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
# Conditions the kubelet posts; all turn Unknown when it stops posting.
NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
_MANAGED_TAINTS = {(UNREACHABLE_TAINT, "NoSchedule"), (UNREACHABLE_TAINT, "NoExecute"),
                   (NOT_READY_TAINT, "NoSchedule"), (NOT_READY_TAINT, "NoExecute"),
                   (UNSCHEDULABLE_TAINT, "NoSchedule")}


def _condition(node: dict, ctype: str) -> dict | None:
    for c in (node.get("status") or {}).get("conditions") or ():
        if c.get("type") == ctype:
            return c
    return None


def ready_status(node: dict) -> str:
    """"True", "False" or "Unknown" (no Ready condition counts as Unknown)."""
    c = _condition(node, "Ready")
    return (c or {}).get("status") or "Unknown"


def heartbeat_marker(node: dict, lease: dict | None) -> tuple:
    """What changes whenever the kubelet proves it is alive: the Ready
    condition's heartbeat and the node Lease's renewTime."""
    c = _condition(node, "Ready") or {}
    renew = ((lease or {}).get("spec") or {}).get("renewTime")
    return (c.get("lastHeartbeatTime"), c.get("status"), renew)


@dataclass(slots=True)
class _Health:
    marker: tuple
    probe: float


class HealthTracker:
    """When did we last *see* each node's heartbeat change, on our own clock
    (Kubernetes' probeTimestamp) — immune to skew between node and controller
    clocks. A node seen for the first time starts a fresh grace period."""

    def __init__(self):
        self._nodes: dict[str, _Health] = {}

    def observe(self, name: str, marker: tuple, now: float) -> float:
        """Record the marker; returns the probe time (when it last changed)."""
        h = self._nodes.get(name)
        if h is None or h.marker != marker:
            h = self._nodes[name] = _Health(marker, now)
        return h.probe

    def silent_for(self, name: str, now: float) -> float:
        h = self._nodes.get(name)
        return 0.0 if h is None else now - h.probe

    def forget(self, name: str) -> None:
        self._nodes.pop(name, None)


def unknown_conditions(node: dict, at: datetime) -> list[dict] | None:
    """The node's conditions with every kubelet-posted one set Unknown (reason
    NodeStatusUnknown, or NodeStatusNeverUpdated if it never posted it). None
    when they already are."""
    conds = [dict(c) for c in (node.get("status") or {}).get("conditions") or ()]
    by_type = {c.get("type"): c for c in conds}
    changed = False
    now = format_time(at)
    for ctype in NODE_CONDITIONS:
        c = by_type.get(ctype)
        if c is None:
            conds.append({"type": ctype, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                          "message": "Kubelet never posted node status.", "lastHeartbeatTime": now,
                          "lastTransitionTime": now})
            changed = True
        elif c.get("status") != "Unknown":
            c.update(status="Unknown", reason="NodeStatusUnknown",
                     message="Kubelet stopped posting node status.", lastTransitionTime=now)
            changed = True
    return conds if changed else None


def desired_taints(node: dict, at: datetime) -> list[dict] | None:
    """The node's taints with the lifecycle ones matching its state: Ready
    Unknown → unreachable NoSchedule+NoExecute, False → not-ready ones, True →
    none; spec.unschedulable → unschedulable NoSchedule. Other taints are
    kept. None when nothing changes."""
    spec = node.get("spec") or {}
    taints = list(spec.get("taints") or ())
    if _condition(node, "Ready") is None:
        # A node that never reported: left alone until the grace period turns it Unknown.
        return None
    status = ready_status(node)
    want: set[tuple[str, str]] = set()
    if status == "Unknown":
        want |= {(UNREACHABLE_TAINT, "NoSchedule"), (UNREACHABLE_TAINT, "NoExecute")}
    elif status == "False":
        want |= {(NOT_READY_TAINT, "NoSchedule"), (NOT_READY_TAINT, "NoExecute")}
    if spec.get("unschedulable"):
        want.add((UNSCHEDULABLE_TAINT, "NoSchedule"))
    have = {(t.get("key"), t.get("effect")) for t in taints}
    out = [t for t in taints if (t.get("key"), t.get("effect")) not in _MANAGED_TAINTS
           or (t.get("key"), t.get("effect")) in want]
    for key, effect in sorted(want - have):
        t = {"key": key, "effect": effect}
        if effect == "NoExecute":
            t["timeAdded"] = format_time(at)
        out.append(t)
    return out if len(out) != len(taints) or want - have else None


def toleration_matches(tol: dict, taint: dict) -> bool:
    """Kubernetes' Toleration.ToleratesTaint."""
    if tol.get("effect") and tol["effect"] != taint.get("effect"):
        return False
    op = tol.get("operator") or "Equal"
    if not tol.get("key"):
        return op == "Exists"
    if tol["key"] != taint.get("key"):
        return False
    return op == "Exists" or (tol.get("value") or "") == (taint.get("value") or "")


def eviction_delay(pod: dict, taints: list[dict], default_seconds: float) -> float | None:
    """Seconds after a NoExecute taint was added that the pod is evicted, or
    None when it tolerates every NoExecute taint forever.

    A pod that does not tolerate a taint waits ``default_seconds``
    (``--pod-eviction-timeout``, standing in for the 300 s tolerations
    Kubernetes' DefaultTolerationSeconds admission adds); a toleration's
    ``tolerationSeconds`` replaces it; the smallest delay over the taints wins.
    """
    tolerations = (pod.get("spec") or {}).get("tolerations") or ()
    delay: float | None = None
    for taint in taints:
        if taint.get("effect") != "NoExecute":
            continue
        matching = [t for t in tolerations if toleration_matches(t, taint)]
        if not matching:
            d: float | None = default_seconds
        else:
            secs = [t["tolerationSeconds"] for t in matching if t.get("tolerationSeconds") is not None]
            # As Kubernetes' getMinTolerationTime: the smallest bounded toleration
            # wins; only tolerations without seconds tolerate forever.
            d = max(0.0, float(min(secs))) if secs else None
        if d is not None:
            delay = d if delay is None else min(delay, d)
    return delay


def taint_added_at(taint: dict) -> datetime | None:
    return parse_time(taint.get("timeAdded"))
