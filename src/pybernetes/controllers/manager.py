"""The controller manager: shared informers, the controllers, leader election.

One informer per resource is shared by every controller that reads it (each
adds its own handlers and indexes before the informers start). With leader
election on, nothing runs until this process holds the
`kube-system/kube-controller-manager` Lease; losing it stops everything, as
Kubernetes' controller manager exits when it loses leadership.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from dataclasses import dataclass, field

from ..client import Informer, LeaderElectionConfig, LeaderElector
from .endpoints import EndpointsController
from .endpointslices import SLICES_BY_SERVICE, EndpointSliceController, slice_service_key
from .events import EventRecorder
from .garbage_collector import (
    BY_OWNER,
    BY_UID,
    GarbageCollector,
    monitored_resources,
    owner_uid_index,
    uid_index,
)
from .namespace import NamespaceController
from .node_lifecycle import (
    PODS_BY_NODE,
    NodeLifecycleConfig,
    NodeLifecycleController,
    pod_node_index,
)
from .pod_gc import KEY as POD_GC_KEY
from .pod_gc import PodGCConfig, PodGCController
from .replication import ReplicationManager
from .serviceaccounts import ServiceAccountsController

__all__ = ["ALL_CONTROLLERS", "ControllerManagerConfig", "ControllerManager", "LeadershipLost"]

log = logging.getLogger(__name__)

ALL_CONTROLLERS = ("replication", "endpoints", "endpointslice", "nodelifecycle", "namespace",
                   "serviceaccount", "garbagecollector", "podgc")


@dataclass(frozen=True, slots=True)
class ControllerManagerConfig:
    controllers: tuple[str, ...] = ALL_CONTROLLERS
    leader_elect: bool = True
    lease_namespace: str = "kube-system"
    lease_name: str = "kube-controller-manager"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}_{uuid.uuid4()}")
    node: NodeLifecycleConfig = NodeLifecycleConfig()
    pod_gc: PodGCConfig = PodGCConfig()
    workers: int = 5


class LeadershipLost(Exception):
    """This manager held the lease and lost it: it stops acting at once."""


class ControllerManager:
    """Builds and runs the enabled controllers against ``client``."""

    def __init__(self, client, config: ControllerManagerConfig = ControllerManagerConfig()):
        self.client = client
        self.config = config
        self.informers: dict[tuple[str, str], Informer] = {}
        self.controllers: dict[str, object] = {}
        self.recorders: list[EventRecorder] = []
        self.leading = asyncio.Event()

    # ------------------------------------------------------------ building
    def informer(self, group: str, plural: str, *, namespace: str | None = None) -> Informer:
        key = (group, plural) if namespace is None else (group, f"{plural}@{namespace}")
        inf = self.informers.get(key)
        if inf is None:
            version = "v1"
            inf = self.informers[key] = Informer(self.client.resource(group, version, plural, namespace))
        return inf

    def _recorder(self, component: str) -> EventRecorder:
        r = EventRecorder(self.client, component)
        self.recorders.append(r)
        return r

    def build(self) -> None:
        """Create the informers and controllers (handlers and indexes registered, nothing started)."""
        c, cfg, enabled = self.client, self.config, set(self.config.controllers)
        pods = self.informer("", "pods")
        pods.add_indexer(PODS_BY_NODE, pod_node_index)
        if "replication" in enabled:
            self.controllers["replication"] = ReplicationManager(
                c, rcs=self.informer("", "replicationcontrollers"), pods=pods,
                recorder=self._recorder("replication-controller"), workers=cfg.workers)
        if "endpoints" in enabled:
            self.controllers["endpoints"] = EndpointsController(
                c, services=self.informer("", "services"), pods=pods, endpoints=self.informer("", "endpoints"),
                workers=cfg.workers)
        if "endpointslice" in enabled:
            slices = self.informer("discovery.k8s.io", "endpointslices")
            slices.add_indexer(SLICES_BY_SERVICE, slice_service_key)
            self.controllers["endpointslice"] = EndpointSliceController(
                c, services=self.informer("", "services"), pods=pods, slices=slices, workers=cfg.workers)
        if "nodelifecycle" in enabled:
            self.controllers["nodelifecycle"] = NodeLifecycleController(
                c, nodes=self.informer("", "nodes"), pods=pods,
                leases=self.informer("coordination.k8s.io", "leases", namespace="kube-node-lease"),
                config=cfg.node, recorder=self._recorder("node-controller"))
        if "namespace" in enabled:
            self.controllers["namespace"] = NamespaceController(
                c, namespaces=self.informer("", "namespaces"), recorder=self._recorder("namespace-controller"))
        if "serviceaccount" in enabled:
            self.controllers["serviceaccount"] = ServiceAccountsController(
                c, namespaces=self.informer("", "namespaces"),
                service_accounts=self.informer("", "serviceaccounts"))
        if "garbagecollector" in enabled:
            gc_informers = {}
            for res in monitored_resources():
                inf = self.informer(res.group, res.plural)
                inf.add_indexer(BY_UID, uid_index)
                inf.add_indexer(BY_OWNER, owner_uid_index)
                gc_informers[(res.group, res.plural)] = inf
            self.controllers["garbagecollector"] = GarbageCollector(c, informers=gc_informers,
                                                                    workers=cfg.workers)
        if "podgc" in enabled:
            self.controllers["podgc"] = PodGCController(c, pods=pods, nodes=self.informer("", "nodes"),
                                                        config=cfg.pod_gc)

    # ------------------------------------------------------------ running
    async def run_controllers(self) -> None:
        """Start informers, wait for their caches, run every controller until cancelled."""
        if not self.controllers:
            self.build()
        async with contextlib.AsyncExitStack() as stack:
            for inf in self.informers.values():
                await stack.enter_async_context(_started(inf))
            await asyncio.gather(*(inf.wait_for_sync() for inf in self.informers.values()))
            log.info("controller manager: caches synced; running %s", ", ".join(self.controllers))
            if "podgc" in self.controllers:
                self.controllers["podgc"].queue.add(POD_GC_KEY)
            try:
                await asyncio.gather(*(ctl.run() for ctl in self.controllers.values()))
            finally:
                for r in self.recorders:
                    await r.aclose()

    async def run(self) -> None:
        """Run until cancelled; with leader election, only while leading.
        Raises :class:`LeadershipLost` when the lease is lost."""
        if not self.config.leader_elect:
            self.leading.set()
            await self.run_controllers()
            return
        cfg = self.config
        elector = LeaderElector(self.client, LeaderElectionConfig(
            namespace=cfg.lease_namespace, name=cfg.lease_name, identity=cfg.identity,
            lease_duration=cfg.lease_duration, renew_deadline=cfg.renew_deadline,
            retry_period=cfg.retry_period))
        lost = False

        async def lead() -> None:
            self.leading.set()
            log.info("controller manager %s: became leader", cfg.identity)
            await self.run_controllers()

        lost = await elector.run(lead)
        if lost:
            raise LeadershipLost(f"{cfg.identity} lost the {cfg.lease_namespace}/{cfg.lease_name} lease")


@contextlib.asynccontextmanager
async def _started(inf):
    await inf.start()
    try:
        yield inf
    finally:
        await inf.stop()
