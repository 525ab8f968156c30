"""The scheduler component: informers in, bindings out.

Pods without ``spec.nodeName`` whose ``schedulerName`` is ours go to the
scheduling queue; bound pods and nodes go to the cache. One loop pops a pod,
runs the algorithm, *assumes* the pod onto the chosen node in the cache (so the
next decision sees it at once) and hands the binding to a task; up to
``bind_concurrency`` bindings are in flight. A pod that fits nowhere gets
``PodScheduled=False/Unschedulable`` and a ``FailedScheduling`` event, and
waits in the unschedulable pool until a node is added or changes, a pod is
deleted, or its backoff-and-sweep timer retries it.

With leader election (the default) only the holder of the
``kube-system/kube-scheduler`` Lease schedules; the others wait.

Logging: every failed attempt is logged at INFO with its reasons (as
``FailedScheduling``). A successful binding is logged per pod at DEBUG
(``pyb -v scheduler``; kube-scheduler logs it at V(2)), and at INFO as a
summary every ``summary_period`` seconds while pods are being bound
("bound N pods in the last 10s") — one line per pod at INFO cost a write per
pod under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .algorithm import Algorithm, FitError, NoNodesAvailable
from .cache import SchedulerCache
from .pod_info import PodInfo
from .profile import DEFAULT_PROFILE, DEFAULT_SCHEDULER_NAME, Handle, Profile, build_plugins
from .queue import NODE_ADD, NODE_UPDATE, POD_DELETE, QueueClosed, QueuedPodInfo, SchedulingQueue

__all__ = ["Scheduler", "SchedulerConfig", "InformerListers", "LeadershipLost"]

log = logging.getLogger("pybernetes.scheduler")
Obj = dict[str, Any]
_NS_INDEX = "namespace"  # the informer's built-in index


_PODS_PER_PASS = 8  # decisions between two event-loop passes, at most
_PASS_SECONDS = 0.002


class LeadershipLost(Exception):
    """The scheduler held the lease and lost it; it stops acting at once."""


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    percentage_of_nodes_to_score: int = 0  # 0 = Kubernetes' adaptive default
    leader_elect: bool = True
    lease_namespace: str = "kube-system"
    lease_name: str = "kube-scheduler"
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}_{uuid.uuid4()}")
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    initial_backoff: float = 1.0
    max_backoff: float = 10.0
    bind_concurrency: int = 64
    profile: Profile = DEFAULT_PROFILE
    summary_period: float = 10.0  # seconds between INFO summaries of bindings
    vector: bool = True  # numpy batch forms of the plugins (when numpy is installed)
    events: bool = True


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _spec_changed(old: Obj, new: Obj) -> bool:
    """Did anything but status / resourceVersion / managedFields change (``isPodUpdated``)?"""
    if old.get("spec") != new.get("spec"):
        return True
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return any(om.get(k) != nm.get(k) for k in ("labels", "annotations", "deletionTimestamp"))


class InformerListers:
    """Plugins' read access to Services / ReplicationControllers, by namespace."""

    def __init__(self, informers: dict[str, Any]) -> None:
        self.informers = informers

    def list(self, kind: str, namespace: str) -> list[Obj]:
        inf = self.informers.get(kind)
        return [] if inf is None else inf.by_index(_NS_INDEX, namespace)


class Scheduler:
    """One scheduler; ``run()`` until cancelled. See the module docstring."""

    def __init__(self, client, config: SchedulerConfig | None = None, *, recorder=None) -> None:
        self.client = client
        self.config = config = config or SchedulerConfig()
        self.cache = SchedulerCache(vector=config.vector)
        self.queue = SchedulingQueue(initial_backoff=config.initial_backoff, max_backoff=config.max_backoff)
        self.informers: dict[str, Any] = {}
        self.listers = InformerListers(self.informers)
        self.plugins = build_plugins(config.profile, Handle(self.cache, self.listers))
        self.algorithm = Algorithm(self.cache, self.plugins, percentage=config.percentage_of_nodes_to_score)
        self.recorder = recorder
        self.leading = asyncio.Event()
        self.scheduled = 0
        self.failed_attempts = 0
        self._summarized = 0  # self.scheduled at the last summary line
        self._bind_slots = asyncio.Semaphore(config.bind_concurrency)
        self._tasks: set[asyncio.Task] = set()
        self._conditions: dict[str, str] = {}  # pod key -> message last written
        self._pod_clients: dict[str, Any] = {}  # namespace -> client.pods(namespace), made once
        from ..client.errors import Conflict, NotFound

        self._refused = (Conflict, NotFound)

    # -- wiring ------------------------------------------------------------------
    def build_informers(self) -> None:
        from ..client import Informer

        c = self.client
        # pods are read by key only (the scheduler keeps its own per-namespace view): no indexes to keep
        self.informers["pods"] = Informer(c.pods(None), builtin_indexes=False)
        self.informers["nodes"] = Informer(c.nodes())
        for kind in ("services", "replicationcontrollers"):
            self.informers[kind] = Informer(c.resource("", "v1", kind, None))
        self.informers["pods"].add_event_handler(on_add=self.on_pod_add, on_update=self.on_pod_update,
                                                 on_delete=self.on_pod_delete)
        self.informers["nodes"].add_event_handler(on_add=self.on_node_add, on_update=self.on_node_update,
                                                  on_delete=self.on_node_delete)
        if self.recorder is None and self.config.events:
            from .events import SerialEventRecorder

            self.recorder = SerialEventRecorder(c, self.config.scheduler_name)

    # -- informer handlers (kube-scheduler's eventhandlers.go) ---------------------
    def _ours(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME) == self.config.scheduler_name

    def on_pod_add(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            if not _terminal(pod):
                self.cache.add_pod(pod)
        elif self._ours(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.add(PodInfo(pod))

    def on_pod_update(self, old: Obj, new: Obj) -> None:
        pi = PodInfo(new)
        key = pi.key
        if (new.get("spec") or {}).get("nodeName"):
            if not (old.get("spec") or {}).get("nodeName"):
                self.queue.delete(key)
            if _terminal(new):
                self.cache.remove_pod(key)
                self.queue.move_all_to_active_or_backoff(POD_DELETE)
            else:
                self.cache.update_pod(new, info=pi)
            return
        if not self._ours(new):
            return
        if (new.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.delete(key)
        elif _spec_changed(old, new):
            self.queue.update(pi)

    def on_pod_delete(self, pod: Obj) -> None:
        key = PodInfo(pod).key
        self._conditions.pop(key, None)
        if (pod.get("spec") or {}).get("nodeName") or self.cache.is_assumed(key):
            self.cache.remove_pod(key)
            self.queue.move_all_to_active_or_backoff(POD_DELETE)
        else:
            self.queue.delete(key)

    def on_node_add(self, node: Obj) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active_or_backoff(NODE_ADD)

    def on_node_update(self, old: Obj, new: Obj) -> None:
        if self.cache.update_node(new):
            self.queue.move_all_to_active_or_backoff(NODE_UPDATE)

    def on_node_delete(self, node: Obj) -> None:
        self.cache.remove_node((node.get("metadata") or {}).get("name") or "")

    # -- running -------------------------------------------------------------------
    async def run(self) -> None:
        """Run until cancelled; with leader election only while leading (LeadershipLost if lost)."""
        cfg = self.config
        if not cfg.leader_elect:
            self.leading.set()
            await self.run_scheduling()
            return
        from ..client import LeaderElectionConfig, LeaderElector

        elector = LeaderElector(self.client, LeaderElectionConfig(
            namespace=cfg.lease_namespace, name=cfg.lease_name, identity=cfg.identity,
            lease_duration=cfg.lease_duration, renew_deadline=cfg.renew_deadline,
            retry_period=cfg.retry_period))

        async def lead() -> None:
            self.leading.set()
            log.info("scheduler %s: became leader of %s/%s", cfg.identity, cfg.lease_namespace, cfg.lease_name)
            await self.run_scheduling()

        if await elector.run(lead):
            raise LeadershipLost(f"{cfg.identity} lost the {cfg.lease_namespace}/{cfg.lease_name} lease")

    async def run_scheduling(self) -> None:
        """Start informers, wait for their caches, then schedule until cancelled."""
        if not self.informers:
            self.build_informers()
        async with contextlib.AsyncExitStack() as stack:
            for inf in self.informers.values():
                await inf.start()
                stack.push_async_callback(inf.stop)
            await asyncio.gather(*(inf.wait_for_sync() for inf in self.informers.values()))
            log.info("scheduler: caches synced (%d nodes, %d pending pods)", self.cache.node_count(),
                     len(self.queue))
            summaries = asyncio.get_running_loop().create_task(self._summaries(), name="scheduler-summary")
            try:
                await self.schedule_loop()
            finally:
                summaries.cancel()
                self.log_summary(self.config.summary_period)
                self.queue.close()
                for t in list(self._tasks):
                    t.cancel()
                if self.recorder is not None:
                    await self.recorder.aclose()

    async def schedule_loop(self) -> None:
        # Decisions are synchronous CPU work: let informers and bindings run between them, but
        # only every few pods (or ~2 ms) under load — one event-loop pass per pod is overhead.
        since_yield = 0
        started = time.monotonic()
        while True:
            try:
                qpi = await self.queue.pop()
            except QueueClosed:
                return
            await self.schedule_one(qpi)
            since_yield += 1
            if since_yield >= _PODS_PER_PASS or time.monotonic() - started > _PASS_SECONDS:
                await asyncio.sleep(0)
                since_yield = 0
                started = time.monotonic()

    async def _summaries(self) -> None:
        period = self.config.summary_period
        while True:
            await asyncio.sleep(period)
            self.log_summary(period)

    def log_summary(self, period: float) -> None:
        """INFO: how many pods were bound since the last summary (nothing when none were)."""
        n = self.scheduled - self._summarized
        if n:
            self._summarized = self.scheduled
            log.info("scheduler: bound %d pod(s) in the last %gs; %d pending", n, period, len(self.queue))

    # -- one pod -----------------------------------------------------------------------
    async def schedule_one(self, qpi: QueuedPodInfo) -> None:
        pi = qpi.info
        if pi.key in self.cache.pod_states:
            return  # bound (or assumed) meanwhile
        cycle = self.queue.scheduling_cycle
        try:
            result = self.algorithm.schedule(pi)
        except FitError as e:
            self._unschedulable(qpi, cycle, str(e), frozenset(s.plugin for s in e.statuses.values()))
            return
        except NoNodesAvailable as e:
            self._unschedulable(qpi, cycle, str(e), frozenset())
            return
        except Exception:
            log.exception("scheduler: error scheduling pod %s; retrying with backoff", pi.key)
            self.queue.add_backoff(qpi)
            return
        self.cache.assume_pod(pi, result.node)
        await self._bind_slots.acquire()
        task = asyncio.get_running_loop().create_task(self._bind(qpi, result.node, result))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _pods(self, namespace: str):
        pods = self._pod_clients.get(namespace)
        if pods is None:
            pods = self._pod_clients[namespace] = self.client.pods(namespace)
        return pods

    async def _bind(self, qpi: QueuedPodInfo, node: str, result) -> None:
        pi = qpi.info
        try:
            await self._pods(pi.namespace).bind(pi.name, node, uid=pi.uid or None)
        except self._refused as e:
            # already bound elsewhere (another scheduler) or gone: the informer tells the truth
            self.cache.forget_pod(pi.key)
            log.info("scheduler: binding %s to %s refused (%s); dropping it", pi.key, node, e)
            return
        except Exception as e:  # noqa: BLE001 - any failure: undo the assumption, retry later
            self.cache.forget_pod(pi.key)
            log.warning("scheduler: binding %s to %s failed: %s; retrying with backoff", pi.key, node, e)
            self._event(pi, "Warning", "FailedScheduling", f"Binding rejected: {e}")
            self.queue.add_backoff(qpi)
            return
        finally:
            self._bind_slots.release()
        self.cache.finish_binding(pi.key)
        self.scheduled += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug('Successfully bound pod to node pod="%s" node="%s" evaluatedNodes=%d feasibleNodes=%d',
                      pi.key, node, result.evaluated, result.feasible)
        self._event(pi, "Normal", "Scheduled", f"Successfully assigned {pi.key} to {node}")
        if self._conditions.pop(pi.key, None) is not None:
            # it was marked Unschedulable: say it is scheduled now
            self._spawn(self._set_condition(pi, {"type": "PodScheduled", "status": "True"}))

    def _unschedulable(self, qpi: QueuedPodInfo, cycle: int, message: str, plugins: frozenset[str]) -> None:
        pi = qpi.info
        self.failed_attempts += 1
        log.info('Unable to schedule pod; no fit; waiting pod="%s" err="%s"', pi.key, message)
        qpi.unschedulable_plugins = plugins
        self.queue.add_unschedulable(qpi, cycle)
        self._event(pi, "Warning", "FailedScheduling", message)
        if self._conditions.get(pi.key) != message:
            self._conditions[pi.key] = message
            self._spawn(self._set_unschedulable_condition(pi, message))

    async def _set_unschedulable_condition(self, pi: PodInfo, message: str) -> None:
        """PodScheduled=False/Unschedulable, patched onto the status subresource."""
        await self._set_condition(pi, {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                       "message": message})

    async def _set_condition(self, pi: PodInfo, cond: Obj) -> None:
        """Strategic-merge the condition (merge key ``type``) into ``status.conditions``."""
        from ..client.errors import NotFound

        cond = {**cond, "lastProbeTime": None, "lastTransitionTime": _now()}
        body = {"status": {"conditions": [cond]}}
        try:
            await self.client.pods(pi.namespace).patch(pi.name, body, patch_type="strategic",
                                                       subresource="status")
        except NotFound:
            pass
        except Exception as e:  # noqa: BLE001 - the next attempt writes it again
            self._conditions.pop(pi.key, None)
            log.warning("scheduler: could not update the PodScheduled condition of %s: %s", pi.key, e)

    def _event(self, pi: PodInfo, type_: str, reason: str, message: str) -> None:
        if self.recorder is None:
            return
        obj = {"kind": "Pod", "apiVersion": "v1", "metadata": pi.pod.get("metadata") or {}}
        self.recorder.event(obj, type_, reason, message)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no binding or status write is in flight (tests)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(list(self._tasks), timeout=max(deadline - time.monotonic(), 0))
