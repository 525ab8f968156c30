"""The node lifecycle controller: notices nodes whose kubelet went silent.

A node whose heartbeat (its Ready condition's lastHeartbeatTime, or its Lease
in `kube-node-lease`) has not changed for ``grace_period`` seconds — timed on
our own clock — becomes Ready=Unknown and gets the `node.kubernetes.io/
unreachable` NoSchedule and NoExecute taints; its pods are marked not ready
and, once their toleration of the taint (or ``pod_eviction_timeout``) runs
out, evicted so their controllers replace them elsewhere. A node that
reports Ready again loses the taints.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ..client import Controller, errors
from .events import EventRecorder
from .node_lifecycle_logic import (
    HealthTracker,
    desired_taints,
    eviction_delay,
    heartbeat_marker,
    ready_status,
    taint_added_at,
    unknown_conditions,
)
from .podutil import format_time, now, object_key, pod_condition

__all__ = ["NodeLifecycleConfig", "NodeLifecycleController", "PODS_BY_NODE", "pod_node_index"]

log = logging.getLogger(__name__)

PODS_BY_NODE = "by-node"
NODE_LEASE_NAMESPACE = "kube-node-lease"


def pod_node_index(pod: dict) -> list[str]:
    node = (pod.get("spec") or {}).get("nodeName")
    return [node] if node else []


@dataclass(frozen=True, slots=True)
class NodeLifecycleConfig:
    grace_period: float = 40.0  # --node-monitor-grace-period
    pod_eviction_timeout: float = 300.0  # --pod-eviction-timeout
    monitor_period: float = 5.0  # --node-monitor-period: how often a healthy node is rechecked


class NodeLifecycleController(Controller):
    """Keys are node names. ``pods`` needs the :func:`pod_node_index` index
    named ``PODS_BY_NODE``; ``leases`` watches `kube-node-lease`."""

    name = "node-lifecycle-controller"

    def __init__(self, client, *, nodes, pods, leases, config: NodeLifecycleConfig = NodeLifecycleConfig(),
                 recorder: EventRecorder | None = None, workers: int = 2, clock=time.monotonic):
        super().__init__(workers=workers)
        self.client = client
        self.nodes = nodes
        self.pods = pods
        self.leases = leases
        self.config = config
        self.recorder = recorder or EventRecorder(client, "node-controller")
        self.health = HealthTracker()
        self.clock = clock
        nodes.add_event_handler(on_add=self._node, on_update=lambda o, n: self._node(n), on_delete=self._node)
        leases.add_event_handler(on_add=self._lease, on_update=lambda o, n: self._lease(n))
        # A pod landing on an unhealthy node is marked not ready / scheduled for eviction too.
        pods.add_event_handler(on_add=self._pod, on_update=lambda o, n: self._pod(n))

    def _node(self, node: dict) -> None:
        self.queue.add(node["metadata"]["name"])

    def _lease(self, lease: dict) -> None:
        if lease["metadata"].get("namespace") == NODE_LEASE_NAMESPACE:
            self.queue.add(lease["metadata"]["name"])

    def _pod(self, pod: dict) -> None:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name or pod["metadata"].get("deletionTimestamp"):
            return
        node = self.nodes.get(node_name)
        if node is not None and ready_status(node) != "True":
            self.queue.add(node_name)

    async def reconcile(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is None:
            self.health.forget(name)
            return
        lease = self.leases.get(f"{NODE_LEASE_NAMESPACE}/{name}")
        t = self.clock()
        self.health.observe(name, heartbeat_marker(node, lease), t)
        silent = self.health.silent_for(name, t)
        grace = self.config.grace_period
        if silent > grace and ready_status(node) != "Unknown":
            node = await self._mark_unknown(node)
            if node is None:
                return
        node = await self._sync_taints(node)
        if node is None:
            return
        next_check = self.config.monitor_period
        if ready_status(node) == "True":
            next_check = min(next_check, max(grace - silent, 0.0) + 0.05)
        else:
            wait = await self._handle_pods(node)
            if wait is not None:
                next_check = min(next_check, wait)
        log.debug("node %s: next check in %.2fs (ready=%s)", name, next_check, ready_status(node))
        self.queue.add_after(name, next_check)

    async def _mark_unknown(self, node: dict) -> dict | None:
        name = node["metadata"]["name"]
        conds = unknown_conditions(node, now())
        if conds is None:
            return node
        new = dict(node)
        new["status"] = {**(node.get("status") or {}), "conditions": conds}
        try:
            updated = await self.client.nodes().update_status(new)
        except (errors.Conflict, errors.NotFound):
            self.queue.add(name)
            return None
        log.info("node %s: kubelet stopped posting status; Ready=Unknown", name)
        self.recorder.event(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        return updated

    async def _sync_taints(self, node: dict) -> dict | None:
        taints = desired_taints(node, now())
        if taints is None:
            return node
        new = dict(node)
        new["spec"] = {**(node.get("spec") or {}), "taints": taints}
        if not taints:
            new["spec"].pop("taints")
        try:
            return await self.client.nodes().update(new)
        except (errors.Conflict, errors.NotFound):
            self.queue.add(node["metadata"]["name"])
            return None

    async def _handle_pods(self, node: dict) -> float | None:
        """Mark the node's pods not ready and evict those whose time is up.
        Returns seconds until the next eviction is due, if any."""
        name = node["metadata"]["name"]
        no_execute = [t for t in (node.get("spec") or {}).get("taints") or () if t.get("effect") == "NoExecute"]
        soonest: float | None = None
        wall = now()
        for pod in self.pods.by_index(PODS_BY_NODE, name):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            await self._mark_pod_not_ready(pod, node)
            delay = eviction_delay(pod, no_execute, self.config.pod_eviction_timeout)
            if delay is None:
                continue
            added = min((taint_added_at(t) or wall for t in no_execute), default=wall)
            remaining = delay - (wall - added).total_seconds()
            log.debug("pod %s on %s: eviction in %.1fs", object_key(pod), name, remaining)
            if remaining <= 0:
                await self._evict(pod)
            else:
                soonest = remaining if soonest is None else min(soonest, remaining)
        return soonest

    async def _mark_pod_not_ready(self, pod: dict, node: dict) -> None:
        cond = pod_condition(pod, "Ready")
        if cond is not None and cond.get("status") == "False":
            return
        status = dict(pod.get("status") or {})
        conds = [dict(c) for c in status.get("conditions") or () if c.get("type") != "Ready"]
        conds.append({"type": "Ready", "status": "False", "lastProbeTime": None,
                      "lastTransitionTime": format_time(now())})
        status["conditions"] = conds
        new = dict(pod)
        new["status"] = status
        try:
            await self.client.pods(pod["metadata"]["namespace"]).update_status(new)
        except (errors.Conflict, errors.NotFound):
            return
        self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")

    async def _evict(self, pod: dict) -> None:
        meta = pod["metadata"]
        try:
            await self.client.pods(meta["namespace"]).delete(meta["name"], preconditions={"uid": meta["uid"]})
        except (errors.NotFound, errors.Conflict):
            return
        log.info("evicted pod %s from unreachable node %s", object_key(pod), pod["spec"].get("nodeName"))
        self.recorder.event(pod, "Normal", "TaintManagerEviction",
                            f"Marking for deletion Pod {meta['namespace']}/{meta['name']}")
