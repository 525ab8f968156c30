"""Hollow nodes for controller tests: Node objects kept Ready by the test,
a stand-in binder (round-robin onto ready, untainted hollow nodes) and a
stand-in kubelet that marks bound pods Running+Ready with an IP and confirms
their deletion. Containers are beside the point here.

``stop_node(name)`` is a kubelet dying: no more heartbeats, no more pod work.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime

from pybernetes.client import Informer, errors


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready_conditions() -> list[dict]:
    t = _now()
    return [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
             "lastHeartbeatTime": t, "lastTransitionTime": t}]


class HollowCluster:
    def __init__(self, client, *, nodes: list[str], heartbeat: float = 0.5, bind: bool = True,
                 workers: int = 8):
        self.client = client
        self.names = list(nodes)
        self.live = set(nodes)
        self.heartbeat = heartbeat
        self.bind = bind
        self.workers = workers
        self.pods = Informer(client.pods(None))
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._tasks: list[asyncio.Task] = []
        self._rr = itertools.count()
        self._ips = itertools.count(1)
        self.node_ids = {n: i + 1 for i, n in enumerate(self.names)}

    async def __aenter__(self) -> HollowCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def start(self) -> None:
        for name in self.names:
            await self.create_node(name)
        self.pods.add_event_handler(on_add=self._enqueue, on_update=lambda o, n: self._enqueue(n))
        await self.pods.start()
        await self.pods.wait_for_sync()
        self._tasks.append(asyncio.create_task(self._heartbeats()))
        self._tasks.append(asyncio.create_task(self._rescan()))
        for _ in range(self.workers):
            self._tasks.append(asyncio.create_task(self._worker()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        await self.pods.stop()

    async def create_node(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {
                    "kubernetes.io/hostname": name}},
                "spec": {}}
        try:
            await self.client.nodes().create(body)
        except errors.AlreadyExists:
            pass
        await self._post_status(name)

    def stop_node(self, name: str) -> None:
        self.live.discard(name)

    def start_node(self, name: str) -> None:
        self.live.add(name)

    async def _post_status(self, name: str) -> None:
        for _ in range(10):
            try:
                await self._post_status_once(name)
                return
            except errors.Conflict:
                continue

    async def _post_status_once(self, name: str) -> None:
        node = await self.client.nodes().get(name)
        status = dict(node.get("status") or {})
        conds = [c for c in status.get("conditions") or () if c.get("type") != "Ready"]
        old = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
        ready = ready_conditions()[0]
        if old is not None and old.get("status") == "True":
            ready["lastTransitionTime"] = old.get("lastTransitionTime")
        status["conditions"] = [*conds, ready]
        status.setdefault("addresses", [{"type": "InternalIP", "address": f"192.168.0.{self.node_ids[name]}"}])
        status.setdefault("capacity", {"cpu": "64", "memory": "256Gi", "pods": "1000"})
        status.setdefault("allocatable", {"cpu": "64", "memory": "256Gi", "pods": "1000"})
        node["status"] = status
        await self.client.nodes().update_status(node)

    async def _heartbeats(self) -> None:
        while True:
            for name in list(self.live):
                with contextlib.suppress(errors.APIError):
                    await self._post_status(name)
            await asyncio.sleep(self.heartbeat)

    def _enqueue(self, pod: dict) -> None:
        key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        if key not in self._queued:
            self._queued.add(key)
            self.queue.put_nowait(key)

    async def _rescan(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for pod in self.pods.list():
                self._enqueue(pod)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            self._queued.discard(key)
            pod = self.pods.get(key)
            if pod is None:
                continue
            try:
                await self._handle(pod)
            except errors.APIError:
                pass

    async def _schedulable_nodes(self) -> list[str]:
        out = []
        for name in sorted(self.live):
            node = await self.client.nodes().get(name)
            taints = (node.get("spec") or {}).get("taints") or ()
            if not any(t.get("effect") in ("NoSchedule", "NoExecute") for t in taints):
                out.append(name)
        return out

    async def _handle(self, pod: dict) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        node = spec.get("nodeName")
        api = self.client.pods(meta["namespace"])
        if not node:
            if self.bind and not meta.get("deletionTimestamp"):
                nodes = await self._schedulable_nodes()
                if nodes:
                    await api.bind(meta["name"], nodes[next(self._rr) % len(nodes)])
            return
        if node not in self.live:
            return
        if meta.get("deletionTimestamp"):
            await api.delete(meta["name"], grace_period_seconds=0)
            return
        status = pod.get("status") or {}
        if status.get("phase") == "Running" and any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ()):
            return
        t = _now()
        n = next(self._ips)
        nid = self.node_ids.get(node, 0)
        pod = dict(pod)
        pod["status"] = {**status, "phase": "Running", "podIP": status.get("podIP") or
                         f"10.{100 + nid}.{n // 250 % 250}.{n % 250 + 1}",
                         "hostIP": f"192.168.0.{self.node_ids.get(node, 0)}", "startTime": t,
                         "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
                                        {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                                        {"type": "ContainersReady", "status": "True", "lastTransitionTime": t},
                                        {"type": "Ready", "status": "True", "lastTransitionTime": t}]}
        await api.update_status(pod)
