"""The pod garbage collector: removes finished pods beyond
``--terminated-pod-gc-threshold`` (oldest first), pods bound to nodes that no
longer exist, and terminating pods that never reached a node.

It has one key, ``"pods"``, re-queued every ``period`` seconds and whenever a
node is deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..client import Controller, errors
from .pod_gc_logic import orphaned_pods, terminated_pods_to_delete, unscheduled_terminating_pods

__all__ = ["PodGCConfig", "PodGCController"]

log = logging.getLogger(__name__)

KEY = "pods"


@dataclass(frozen=True, slots=True)
class PodGCConfig:
    terminated_pod_gc_threshold: int = 12500
    period: float = 20.0  # Kubernetes' gcCheckPeriod


class PodGCController(Controller):
    name = "pod-garbage-collector"

    def __init__(self, client, *, pods, nodes, config: PodGCConfig = PodGCConfig(), workers: int = 1):
        super().__init__(workers=workers)
        self.client = client
        self.pods = pods
        self.nodes = nodes
        self.config = config
        nodes.add_event_handler(on_add=lambda n: self.queue.add(KEY), on_delete=lambda n: self.queue.add(KEY))

    async def reconcile(self, key: str) -> None:
        try:
            await self._gc()
        finally:
            self.queue.add_after(KEY, self.config.period)

    async def _gc(self) -> None:
        pods = self.pods.list()
        for pod in terminated_pods_to_delete(pods, self.config.terminated_pod_gc_threshold):
            await self._force_delete(pod, "terminated pod over the threshold")
        node_names = {n["metadata"]["name"] for n in self.nodes.list()}
        for pod in orphaned_pods(pods, node_names):
            node = pod["spec"]["nodeName"]
            try:
                await self.client.nodes().get(node)
                continue  # our node cache lags; the node is there
            except errors.NotFound:
                pass
            await self._force_delete(pod, f"node {node} no longer exists")
        for pod in unscheduled_terminating_pods(pods):
            await self._force_delete(pod, "terminating pod never scheduled")

    async def _force_delete(self, pod: dict, why: str) -> None:
        meta = pod["metadata"]
        log.info("pod gc: deleting %s/%s: %s", meta["namespace"], meta["name"], why)
        try:
            await self.client.pods(meta["namespace"]).delete(meta["name"], grace_period_seconds=0,
                                                             preconditions={"uid": meta["uid"]})
        except (errors.NotFound, errors.Conflict):
            pass
