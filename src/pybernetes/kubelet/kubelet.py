"""The kubelet: registers its Node, keeps it alive, and runs the pods bound to it.

Wiring (all through the client library): an informer on pods with
``spec.nodeName=<node>`` feeds one :class:`~.pod_worker.PodWorker` per pod
uid; an informer on services provides service env vars; the runtime's exit
callback and the prober wake the right worker. A heartbeat task renews the
node's Lease in ``kube-node-lease`` and posts the node's Ready condition. The
HTTPS server (log_server.py) serves container logs to the apiserver.

Restart safety: on start the runtime recovers the containers of a previous
run (running ones are adopted, not restarted); once the pod informer synced,
sandboxes of pods no longer bound here are stopped and removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from datetime import UTC, datetime

from ..client import Informer, errors
from .backoff import CrashLoopBackoff
from .config import KubeletConfig
from .events import KubeletEventRecorder
from .host_ports import HostPortForwarder
from .node_status import build_node, machine_capacity, node_labels, node_status
from .pod_worker import PodWorker
from .probes import ProbeManager
from .runtime import ProcessRuntime
from .static_pods import MIRROR_ANNOTATION, StaticPodSource, mirror_pod
from .status import format_time

__all__ = ["Kubelet", "StatusWriter", "NODE_LEASE_NAMESPACE"]

log = logging.getLogger(__name__)

NODE_LEASE_NAMESPACE = "kube-node-lease"


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StatusWriter:
    """Writes a pod's status only when it differs from what was last written
    (Kubernetes' status manager), as a merge patch of ``status`` with the
    pod's uid as precondition. Mirror pods are addressed by name."""

    def __init__(self, client):
        self.client = client
        self._written: dict[str, dict] = {}
        self.writes = 0

    async def write(self, pod: dict, status: dict, *, mirror_uid: str | None = None) -> None:
        uid = pod["metadata"]["uid"]
        if self._written.get(uid) == status:
            return
        meta = pod["metadata"]
        body = {"metadata": {"uid": mirror_uid or uid}, "status": status}
        if mirror_uid is None and pod.get("status") == status:
            self._written[uid] = status
            return
        try:
            await self.client.pods(meta.get("namespace") or "default").patch(
                meta["name"], body, patch_type="merge", subresource="status")
        except (errors.NotFound, errors.Conflict, errors.Invalid) as e:
            log.debug("status of %s not written: %s", meta["name"], e)
            return
        self.writes += 1
        self._written[uid] = status

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)


class Kubelet:
    def __init__(self, client, config: KubeletConfig):
        self.client = client
        self.config = config
        self.root = os.path.abspath(config.root_dir)
        self.pods_dir = os.path.join(self.root, "pods")
        os.makedirs(self.pods_dir, exist_ok=True)
        if config.runtime not in ("process", "docker"):
            raise ValueError(f"unknown runtime {config.runtime!r} (this kubelet has: process, docker)")
        # The node's address must reach the kubelet's server: a kubelet listening on one
        # address (127.0.0.1 by default) advertises that one; on all addresses, the host's.
        node_ip = config.node_ip or (config.address if config.address not in ("0.0.0.0", "::", "") else None)
        if config.runtime == "docker":
            from .runtime.docker import DockerRuntime

            self.runtime = DockerRuntime(self.root, on_exit=self._on_container_exit, node_ip=node_ip,
                                         endpoint=config.docker_endpoint, pod_infra_image=config.pod_infra_image,
                                         pod_source=self._pod_for_uid, log_max_size=config.log_max_size,
                                         log_max_files=config.log_max_files, get_object=self.get_object)
        else:
            self.runtime = ProcessRuntime(self.root, on_exit=self._on_container_exit, node_ip=node_ip,
                                          log_max_size=config.log_max_size, log_max_files=config.log_max_files)
        self.node_ip = self.runtime.node_ip
        # Set while no pod sync runs: event writes wait for it (status first).
        self.syncs_idle = asyncio.Event()
        self.syncs_idle.set()
        self._syncing = 0
        self.recorder = KubeletEventRecorder(client, node_name=config.node_name, idle=self.syncs_idle)
        self.backoff = CrashLoopBackoff(initial=config.crashloop_initial, cap=config.crashloop_cap,
                                        reset_after=config.crashloop_reset)
        self.backoff_reported: set[str] = set()
        self.probes = ProbeManager(on_change=self._wake_pod, on_failure=self._probe_failed)
        self.status_writer = StatusWriter(client)
        self.host_ports = HostPortForwarder()
        self.capacity = machine_capacity(max_pods=config.max_pods, root_dir=self.root)
        self.allocatable = dict(self.capacity)
        self.workers: dict[str, PodWorker] = {}
        self.static_pods: dict[str, dict] = {}  # uid -> static pod (from files)
        self.pod_informer: Informer | None = None
        self.service_informer: Informer | None = None
        self.port = config.port
        self._tasks: list[asyncio.Task] = []
        self._server = None
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        recovered = await self.runtime.recover()
        if recovered:
            log.info("recovered %d containers from a previous run", len(recovered))
        from .log_server import LogServer
        self._server = LogServer(self, address=self.config.address, port=self.config.port,
                                 token=self.config.token, pki_dir=os.path.join(self.root, "pki"))
        self.port = await self._server.start()
        await self._register_node()
        with contextlib.suppress(errors.APIError, errors.ConnectionFailed, OSError):
            await self._renew_lease()
        self.service_informer = Informer(self.client.services(), name="kubelet-services")
        self.pod_informer = Informer(self.client.pods(), name="kubelet-pods",
                                     field_selector=f"spec.nodeName={self.config.node_name}")
        self.pod_informer.add_event_handler(on_add=self._pod_changed, on_update=lambda o, n: self._pod_changed(n),
                                            on_delete=self._pod_deleted)
        await self.service_informer.start()
        await self.pod_informer.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._heartbeat(), name="kubelet-heartbeat"))
        await self.pod_informer.wait_for_sync()
        await self.service_informer.wait_for_sync(timeout=10)
        if self.config.pod_manifest_path:
            source = StaticPodSource(self.config.pod_manifest_path, node_name=self.config.node_name)
            # Static pods are known before orphans are judged, so a restarted kubelet adopts them too.
            with contextlib.suppress(errors.APIError, errors.ConnectionFailed, OSError):
                await self._sync_static_pods(await asyncio.to_thread(source.scan))
            self._tasks.append(asyncio.get_running_loop().create_task(
                self._static_pod_loop(source), name="kubelet-static-pods"))
        self._cleanup_orphans()
        log.info("kubelet %s ready (logs on https://%s:%s)", self.config.node_name, self.config.address, self.port)

    async def stop(self) -> None:
        """Stop the kubelet; containers keep running (a new kubelet adopts them)."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for informer in (self.pod_informer, self.service_informer):
            if informer is not None:
                await informer.stop()
        await asyncio.gather(*(w.stop() for w in list(self.workers.values())), return_exceptions=True)
        await self.probes.close()
        await self.host_ports.close()
        await self.runtime.close()
        if self._server is not None:
            await self._server.stop()
        await self.recorder.aclose()

    # -- pods ----------------------------------------------------------------------
    def _pod_changed(self, pod: dict) -> None:
        if self._stopping:
            return
        if (pod["metadata"].get("annotations") or {}).get(MIRROR_ANNOTATION):
            # A mirror pod only reflects a static pod; deleting it is confirmed at
            # once and the static pod loop recreates it (as Kubernetes does).
            if pod["metadata"].get("deletionTimestamp"):
                asyncio.get_running_loop().create_task(self._confirm_mirror_deletion(pod))
            else:
                self._wake_pod(pod["metadata"]["annotations"][MIRROR_ANNOTATION])  # status goes there now
            return
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if worker is None:
            if self._admit(pod) is not None:
                return
            self.workers[uid] = PodWorker(self, uid, pod)
        else:
            worker.update(pod)

    async def _confirm_mirror_deletion(self, pod: dict) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.pods(meta["namespace"]).delete(meta["name"], grace_period_seconds=0,
                                                             preconditions={"uid": meta["uid"]})

    def _pod_deleted(self, pod: dict) -> None:
        worker = self.workers.get(pod["metadata"]["uid"])
        if worker is not None:
            worker.update(None)

    def _admit(self, pod: dict) -> str | None:
        """Reject a pod beyond --max-pods (Kubernetes' admission: phase Failed, reason OutOfpods)."""
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp"):
            return None
        active = sum(1 for w in self.workers.values() if w.terminal_phase is None and not w.done.is_set())
        if active < self.config.max_pods:
            return None
        msg = f"Node didn't have enough resource: pods, requested: 1, used: {active}, capacity: {self.config.max_pods}"
        asyncio.get_running_loop().create_task(self._reject(pod, "OutOfpods", msg))
        return msg

    async def _reject(self, pod: dict, reason: str, message: str) -> None:
        self.recorder.event(pod, "Warning", reason, message)
        status = {**(pod.get("status") or {}), "phase": "Failed", "reason": reason, "message": message}
        await self.status_writer.write(pod, status)

    def sync_started(self) -> None:
        self._syncing += 1
        self.syncs_idle.clear()

    def sync_finished(self) -> None:
        self._syncing -= 1
        if self._syncing == 0:
            self.syncs_idle.set()

    def _worker_done(self, worker: PodWorker) -> None:
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]

    def _pod_for_uid(self, uid: str) -> dict | None:
        """The pod a runtime is starting containers for (the docker runtime reads resources,
        securityContext, ports and pull policy from it)."""
        worker = self.workers.get(uid)
        return worker.last_pod if worker is not None else self.static_pods.get(uid)

    def _on_container_exit(self, uid: str) -> None:
        self._wake_pod(uid)

    def _wake_pod(self, uid: str) -> None:
        worker = self.workers.get(uid)
        if worker is not None:
            worker.wake()

    def _probe_failed(self, pod: dict, container: str, kind: str, output: str) -> None:
        self.recorder.container_event(pod, container, "Warning", "Unhealthy",
                                      f"{kind.capitalize()} probe failed: {output}")

    def _cleanup_orphans(self) -> None:
        """Sandboxes whose pod is no longer bound here (deleted while the
        kubelet was down) are stopped and removed."""
        for uid in self.runtime.list_sandboxes():
            if uid not in self.workers:
                log.info("cleaning up orphaned pod %s", uid)
                worker = PodWorker(self, uid, None)
                self.workers[uid] = worker
        with contextlib.suppress(FileNotFoundError):
            for uid in os.listdir(self.pods_dir):
                if uid not in self.workers:
                    asyncio.get_running_loop().create_task(self.cleanup_pod_dirs(uid))

    async def cleanup_pod_dirs(self, uid: str) -> None:
        await self.runtime.remove_sandbox(uid)
        path = os.path.join(self.pods_dir, uid)
        await asyncio.to_thread(_remove_pod_dir, path)

    def pods(self) -> list[dict]:
        """The pods this kubelet runs (for the /pods endpoint and logs)."""
        return [w.pod for w in self.workers.values() if w.pod is not None]

    def find_pod(self, namespace: str, name: str) -> tuple[dict, PodWorker] | None:
        for w in self.workers.values():
            p = w.last_pod
            if p is not None and p["metadata"]["name"] == name and \
                    (p["metadata"].get("namespace") or "default") == namespace:
                return p, w
        return None

    # -- objects pods refer to --------------------------------------------------------
    async def get_object(self, kind: str, namespace: str, name: str) -> dict | None:
        api = {"configmaps": self.client.config_maps, "secrets": self.client.secrets,
               "serviceaccounts": self.client.service_accounts}[kind](namespace)
        try:
            return await api.get(name)
        except errors.NotFound:
            return None

    def services_for(self, namespace: str) -> list[dict]:
        if self.service_informer is None:
            return []
        return [s for s in self.service_informer.list()
                if s["metadata"].get("namespace") == namespace
                or (s["metadata"]["name"] == "kubernetes" and s["metadata"].get("namespace") == "default")]

    # -- static pods -------------------------------------------------------------------
    async def _static_pod_loop(self, source) -> None:
        while True:
            try:
                pods = await asyncio.to_thread(source.scan)
                await self._sync_static_pods(pods)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("static pods")
            await asyncio.sleep(source.interval)

    async def _sync_static_pods(self, pods: dict[str, dict]) -> None:
        for uid, pod in pods.items():
            if uid not in self.workers:
                self.static_pods[uid] = pod
                self.workers[uid] = PodWorker(self, uid, pod)
            await self._ensure_mirror(pod)
        for uid in [u for u in self.static_pods if u not in pods]:
            pod = self.static_pods.pop(uid)
            worker = self.workers.get(uid)
            if worker is not None:
                worker.update(None)
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await self.client.pods(pod["metadata"]["namespace"]).delete(pod["metadata"]["name"],
                                                                            grace_period_seconds=0)

    async def _ensure_mirror(self, pod: dict) -> None:
        meta = pod["metadata"]
        api = self.client.pods(meta["namespace"])
        node = self.config.node_name
        try:
            existing = await api.get(meta["name"])
        except errors.NotFound:
            existing = None
        if existing is not None:
            if (existing["metadata"].get("annotations") or {}).get(MIRROR_ANNOTATION) == meta["uid"]:
                return
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await api.delete(meta["name"], grace_period_seconds=0)
        node_uid = ""
        with contextlib.suppress(errors.APIError):
            node_uid = (await self.client.nodes().get(node))["metadata"]["uid"]
        with contextlib.suppress(errors.AlreadyExists):
            await api.create(mirror_pod(pod, node_name=node, node_uid=node_uid))

    def mirror_uid(self, pod: dict) -> str | None:
        """For a static pod: the uid of its mirror pod in the apiserver (status goes there)."""
        if pod["metadata"]["uid"] not in self.static_pods or self.pod_informer is None:
            return None
        mirror = self.pod_informer.get(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}")
        return mirror["metadata"]["uid"] if mirror else ""

    # -- node ----------------------------------------------------------------------
    def _node_object(self) -> dict:
        return build_node(name=self.config.node_name, labels=node_labels(self.config.node_name,
                                                                          dict(self.config.node_labels)),
                          taints=self.config.register_with_taints, capacity=self.capacity, address=self.node_ip,
                          port=self.port, runtime_version=f"{self.runtime.name}://0.1.0",
                          now=format_time(time.time()))

    async def _register_node(self) -> None:
        nodes = self.client.nodes()
        while True:
            try:
                try:
                    await nodes.create(self._node_object())
                    log.info("registered node %s", self.config.node_name)
                except errors.AlreadyExists:
                    await self._update_node_labels()
                await self._post_node_status()
                return
            except (errors.APIError, errors.ConnectionFailed, OSError) as e:
                log.warning("registering node %s: %s; retrying", self.config.node_name, e)
                await asyncio.sleep(2)

    async def _update_node_labels(self) -> None:
        node = await self.client.nodes().get(self.config.node_name)
        want = node_labels(self.config.node_name, dict(self.config.node_labels))
        labels = node["metadata"].get("labels") or {}
        if any(labels.get(k) != v for k, v in want.items()):
            await self.client.nodes().patch(self.config.node_name, {"metadata": {"labels": want}},
                                            patch_type="merge")

    async def _post_node_status(self) -> None:
        node = await self.client.nodes().get(self.config.node_name)
        import socket
        status = node_status(capacity=self.capacity, address=self.node_ip, port=self.port,
                             runtime_version=f"{self.runtime.name}://0.1.0", now=format_time(time.time()),
                             hostname=socket.gethostname(), previous=node.get("status"))
        await self.client.nodes().patch(self.config.node_name, {"status": status}, patch_type="merge",
                                        subresource="status")

    async def _renew_lease(self) -> None:
        leases = self.client.resource("coordination.k8s.io", "v1", "leases", NODE_LEASE_NAMESPACE)
        name = self.config.node_name
        try:
            lease = await leases.get(name)
        except errors.NotFound:
            lease = None
        spec = {"holderIdentity": name, "leaseDurationSeconds": self.config.lease_duration,
                "renewTime": _micro_now()}
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE}, "spec": spec}
            with contextlib.suppress(errors.APIError):
                node = await self.client.nodes().get(name)
                body["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": name,
                                                        "uid": node["metadata"]["uid"]}]
            await leases.create(body)
        else:
            lease["spec"] = {**(lease.get("spec") or {}), **spec}
            await leases.update(lease)

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self._renew_lease()
                await self._post_node_status()
            except errors.NotFound:
                await self._register_node()  # the node was deleted: register again
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - keep beating
                log.warning("heartbeat: %s", e)
            await asyncio.sleep(self.config.heartbeat_interval)


def _remove_pod_dir(path: str) -> None:
    """Unmount anything left under the pod's dir (tmpfs volumes), then delete it."""
    if not os.path.exists(path):
        return
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    for m in sorted((m for m in mounts if m == real or m.startswith(real + "/")), reverse=True):
        os.system(f"umount -l '{m}' 2>/dev/null")  # noqa: S605 - our own directory
    shutil.rmtree(path, ignore_errors=True)
