"""NodeInfo: one node plus the pods on it, with running sums kept incrementally.

Adding or removing a pod adjusts ``requested``, the non-zero sums used for
scoring and the used host ports in O(1); nothing is recomputed from the pod
list. The node's scheduling-relevant properties (labels, taints, readiness,
unschedulable) are extracted once per node update.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .pod_info import PodInfo
from .resources import Resource, node_allocatable

__all__ = ["NodeInfo", "node_is_ready", "ports_conflict"]

Obj = dict[str, Any]
_WILDCARD = "0.0.0.0"


def node_is_ready(node: Obj) -> bool:
    for c in (node.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def ports_conflict(used: Counter, ip: str, protocol: str, port: int) -> bool:
    """``HostPortInfo.CheckConflict``: 0.0.0.0 conflicts with every IP on the same port/protocol."""
    if ip == _WILDCARD:
        return any(k[1] == protocol and k[2] == port for k in used)
    return (ip, protocol, port) in used or (_WILDCARD, protocol, port) in used


class NodeInfo:
    """Scheduler-side state of one node. ``slot`` is its row in the NodeTable."""

    def __init__(self, node: Obj | None = None, *, slot: int = -1) -> None:
        self.slot = slot
        self.pods: dict[str, PodInfo] = {}
        self.requested = Resource()
        self.nonzero_cpu = 0
        self.nonzero_mem = 0
        self.used_ports: Counter = Counter()
        self.node: Obj = {}
        self.name = ""
        self.labels: dict[str, str] = {}
        self.taints: list[Obj] = []
        self.ready = False
        self.unschedulable = False
        self.allocatable = Resource()
        if node is not None:
            self.set_node(node)

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)})"

    def set_node(self, node: Obj) -> bool:
        """Take a new version of the node; True when a scheduling property changed."""
        md = node.get("metadata") or {}
        spec = node.get("spec") or {}
        props = (md.get("labels") or {}, spec.get("taints") or [], node_is_ready(node),
                 bool(spec.get("unschedulable")), (node.get("status") or {}).get("allocatable"))
        changed = props != (self.labels, self.taints, self.ready, self.unschedulable,
                            (self.node.get("status") or {}).get("allocatable"))
        self.node = node
        self.name = md.get("name") or ""
        self.labels, self.taints, self.ready, self.unschedulable = props[:4]
        if changed:
            self.allocatable = node_allocatable(node)
        return changed

    def add_pod(self, pi: PodInfo) -> None:
        self._account(pi, 1)
        self.pods[pi.key] = pi

    def remove_pod(self, key: str) -> PodInfo | None:
        pi = self.pods.pop(key, None)
        if pi is not None:
            self._account(pi, -1)
        return pi

    def _account(self, pi: PodInfo, sign: int) -> None:
        self.requested.add(pi.requests, sign)
        cpu, mem = pi.nonzero
        self.nonzero_cpu += sign * cpu
        self.nonzero_mem += sign * mem
        for hp in pi.host_ports:
            if sign > 0:
                self.used_ports[hp] += 1
            else:
                self.used_ports[hp] -= 1
                if self.used_ports[hp] <= 0:
                    del self.used_ports[hp]
