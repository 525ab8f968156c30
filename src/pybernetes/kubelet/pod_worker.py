"""One worker per pod (Kubernetes' podWorkers + SyncPod): level-triggered.

A :class:`PodWorker` owns one pod uid. ``update(pod)`` hands it the latest
desired pod (``None``: the pod is gone from the apiserver) and ``wake()``
asks for a sync (a container exited, a probe result flipped). Each sync
compares what should run with what the runtime reports and does one round
of actions — set up volumes, start the next init container, (re)start
containers per restartPolicy and CrashLoopBackOff, kill containers whose
liveness probe failed — then writes the pod's status if it changed and
sleeps until the next wake or deadline. Syncs of one pod never overlap.

Deletion: a pod with a deletionTimestamp (or gone) has its containers
stopped (preStop, SIGTERM, SIGKILL after the grace period), its volumes torn
down and its sandbox removed; then the kubelet confirms the deletion with a
DELETE of grace 0 and a uid precondition, and the worker ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING

from ..client import errors
from .envvars import EnvError, expand_command, make_environment
from .runtime.interface import ContainerConfig, ContainerStatus, Mount, SandboxConfig
from .status import ContainerView, build_pod_status
from .volumes import MountError, VolumeContext, plugin_for

if TYPE_CHECKING:
    from .kubelet import Kubelet

__all__ = ["PodWorker", "pod_key"]

log = logging.getLogger(__name__)

_MOUNT_RETRY_MAX = 30.0
_RETRY = 2.0


def pod_key(pod: dict) -> str:
    return f"{pod['metadata'].get('namespace') or 'default'}/{pod['metadata']['name']}"


def _grace(pod: dict | None, default: float = 30.0) -> float:
    if pod is None:
        return default
    g = pod["metadata"].get("deletionGracePeriodSeconds")
    if g is None:
        g = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return float(default if g is None else g)


_META_ACTED_ON = ("deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations")


def _needs_sync(old: dict, new: dict) -> bool:
    """Whether the pod changed in what a sync reads: its spec, its deletion, and
    the labels/annotations downward API volumes show."""
    if old.get("spec") != new.get("spec"):
        return True
    om, nm = old["metadata"], new["metadata"]
    return any(om.get(k) != nm.get(k) for k in _META_ACTED_ON)


class PodWorker:
    def __init__(self, kubelet: Kubelet, uid: str, pod: dict | None):
        self.kl = kubelet
        self.uid = uid
        self.pod = pod
        self.last_pod = pod
        self.gone = pod is None
        self.volumes: dict[str, str] = {}
        self.volumes_refreshed = 0.0
        self.mount_delay = 0.0
        self.waiting: dict[str, tuple[str, str]] = {}
        self.retry_after = 0.0  # a runtime error said when to try again (image pull back-off)
        self.terminal_phase: str | None = None
        self.started_at = time.time()
        self.done = asyncio.Event()
        self._wake = asyncio.Event()
        self._wake.set()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"pod-worker-{uid[:8]}")

    # -- driving -------------------------------------------------------------------
    def update(self, pod: dict | None) -> None:
        """The latest pod from the apiserver (None: gone). A change of status
        alone (mostly the echo of the kubelet's own write) needs no sync."""
        if pod is None:
            self.gone = True
        else:
            old, self.pod, self.last_pod = self.pod, pod, pod
            if old is not None and not _needs_sync(old, pod):
                return
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop the worker (containers keep running: used on kubelet shutdown)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _loop(self) -> None:
        delay = 0.0
        while not self.done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()
            self.kl.sync_started()
            try:
                next_delay = await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pod %s: sync failed", self.uid)
                next_delay = _RETRY
            finally:
                self.kl.sync_finished()
            delay = self.kl.config.sync_frequency if next_delay is None else max(next_delay, 0.0)
        self.kl._worker_done(self)

    # -- one sync ------------------------------------------------------------------
    async def sync(self) -> float | None:
        pod = self.pod
        if self.gone or pod is None or pod["metadata"].get("deletionTimestamp"):
            await self.terminate()
            return None
        if self.terminal_phase is not None:
            return None
        kl = self.kl
        meta = pod["metadata"]
        await kl.runtime.create_sandbox(SandboxConfig(uid=self.uid, namespace=meta.get("namespace") or "default",
                                                      name=meta["name"]))
        relay = [] if getattr(kl.runtime, "publishes_host_ports", False) else await kl.host_ports.ensure(self.uid, pod)
        for err in relay:
            kl.recorder.event(pod, "Warning", "FailedToStartHostPort", err)
        self.waiting = {}
        self.retry_after = 0.0
        wakes: list[float] = []
        if not await self._ensure_volumes(pod):
            for c in (pod["spec"].get("initContainers") or []) + pod["spec"].get("containers", []):
                self.waiting[c["name"]] = ("ContainerCreating", "")
            await self._write_status(pod)
            return self.mount_delay
        if self._has_refreshing_volumes(pod):
            wakes.append(kl.config.volume_refresh)
        by_name = self._containers()
        init_done = await self._sync_init_containers(pod, by_name, wakes)
        if init_done:
            await self._sync_containers(pod, by_name, wakes)
        else:
            for c in pod["spec"].get("containers", []):
                self.waiting[c["name"]] = ("PodInitializing", "")
        status = await self._write_status(pod)
        if status["phase"] in ("Succeeded", "Failed"):
            self.terminal_phase = status["phase"]
            await self._kill_all(pod, grace=_grace(pod))
            return None
        await self._gc_attempts()
        if self.retry_after:
            wakes.append(self.retry_after)
        return min(wakes) if wakes else None

    def _containers(self) -> dict[str, list[ContainerStatus]]:
        out: dict[str, list[ContainerStatus]] = {}
        for c in self.kl.runtime.list_containers(self.uid):
            out.setdefault(c.name, []).append(c)
        for v in out.values():
            v.sort(key=lambda c: c.attempt)
        return out

    # -- volumes -------------------------------------------------------------------
    def _volume_ctx(self, pod: dict, volume: dict) -> VolumeContext:
        return VolumeContext(pod=pod, volume=volume, pods_dir=self.kl.pods_dir, get_object=self.kl.get_object,
                             as_root=self.kl.runtime.as_root,
                             extra={"allocatable": self.kl.allocatable})

    def _has_refreshing_volumes(self, pod: dict) -> bool:
        return any(getattr(plugin_for(v), "refresh", False) for v in pod["spec"].get("volumes") or ())

    async def _ensure_volumes(self, pod: dict) -> bool:
        now = time.monotonic()
        refresh_due = now - self.volumes_refreshed >= self.kl.config.volume_refresh
        for volume in pod["spec"].get("volumes") or ():
            name = volume["name"]
            plugin = plugin_for(volume)
            if plugin is None:
                if name not in self.volumes:
                    self.kl.recorder.event(pod, "Warning", "FailedMount",
                                           f'MountVolume.SetUp failed for volume "{name}" : unsupported volume type')
                    self.volumes[name] = ""
                continue
            if name in self.volumes and not (plugin.refresh and refresh_due):
                continue
            try:
                self.volumes[name] = await plugin.setup(self._volume_ctx(pod, volume))
            except MountError as e:
                self.mount_delay = min(max(self.mount_delay * 2, 1.0), _MOUNT_RETRY_MAX)
                self.kl.recorder.event(pod, "Warning", "FailedMount",
                                       f'MountVolume.SetUp failed for volume "{name}" : {e}')
                if name not in self.volumes:
                    return False
                log.warning("pod %s: volume %s not refreshed: %s", pod_key(pod), name, e)
        if refresh_due:
            self.volumes_refreshed = now
        self.mount_delay = 0.0
        return True

    def _mounts(self, container: dict) -> tuple[Mount, ...]:
        mounts = []
        for vm in container.get("volumeMounts") or ():
            host = self.volumes.get(vm["name"])
            if not host:
                continue
            sub = vm.get("subPath") or ""
            if sub:
                host = os.path.join(host, sub)
                if not os.path.lexists(host):
                    os.makedirs(host, exist_ok=True)
            mounts.append(Mount(host_path=host, container_path=vm["mountPath"],
                                read_only=bool(vm.get("readOnly"))))
        return tuple(mounts)

    # -- containers ----------------------------------------------------------------
    async def _sync_init_containers(self, pod: dict, by_name: dict, wakes: list[float]) -> bool:
        policy = pod["spec"].get("restartPolicy") or "Always"
        for c in pod["spec"].get("initContainers") or ():
            attempts = by_name.get(c["name"], [])
            latest = attempts[-1] if attempts else None
            if latest is not None and latest.state == "running":
                return False
            if latest is not None and latest.state == "exited":
                if latest.exit_code == 0:
                    continue
                if policy == "Never":
                    return False
                if not self._may_restart(pod, c, latest, wakes, init=True):
                    return False
            await self._start(pod, c, attempt=latest.attempt + 1 if latest else 0, init=True)
            return False
        return True

    async def _sync_containers(self, pod: dict, by_name: dict, wakes: list[float]) -> None:
        policy = pod["spec"].get("restartPolicy") or "Always"
        probes = self.kl.probes
        for c in pod["spec"].get("containers", []):
            attempts = by_name.get(c["name"], [])
            latest = attempts[-1] if attempts else None
            if latest is not None and latest.state == "running":
                if probes.result(latest.id, "liveness") is False:
                    self.kl.recorder.container_event(
                        pod, c["name"], "Normal", "Killing",
                        f"Container {c['name']} failed liveness probe, will be restarted")
                    await self._kill(pod, c, latest, grace=_grace(pod))
                    latest = self.kl.runtime.container_status(latest.id)
                    if latest is None or latest.state != "exited":
                        wakes.append(_RETRY)
                        continue
                else:
                    probes.ensure(pod=pod, container=c, container_id=latest.id,
                                  started_at=latest.started_at or time.time(),
                                  pod_ip=self.kl.runtime.sandbox_ip(self.uid),
                                  exec_fn=self._exec_fn(latest.id))
                    continue
            if latest is not None and latest.state == "exited":
                restart = policy == "Always" or (policy == "OnFailure" and latest.exit_code != 0)
                if not restart:
                    continue
                if not self._may_restart(pod, c, latest, wakes, init=False):
                    continue
            await self._start(pod, c, attempt=latest.attempt + 1 if latest else 0, init=False)

    def _may_restart(self, pod: dict, c: dict, latest: ContainerStatus, wakes: list[float], *, init: bool) -> bool:
        key = (self.uid, c["name"])
        backoff = self.kl.backoff
        remaining = backoff.remaining(key, started_at=latest.started_at, finished_at=latest.finished_at)
        if remaining > 0:
            meta = pod["metadata"]
            delay = int(backoff.current(key))
            self.waiting[c["name"]] = (
                "CrashLoopBackOff",
                f"back-off {_duration(delay)} restarting failed container={c['name']} "
                f"pod={meta['name']}_{meta.get('namespace')}({self.uid})")
            if latest.id not in self.kl.backoff_reported:
                self.kl.recorder.container_event(pod, c["name"], "Warning", "BackOff",
                                                 "Back-off restarting failed container "
                                                 f"{c['name']} in pod {meta['name']}_{meta.get('namespace')}"
                                                 f"({self.uid})", init=init)
                self.kl.backoff_reported.add(latest.id)
            wakes.append(remaining)
            return False
        backoff.restarted(key)
        return True

    def _exec_fn(self, container_id: str):
        async def run(argv: list[str], timeout: float):
            res = await self.kl.runtime.exec_sync(container_id, argv, timeout=timeout)
            return res.exit_code, res.output, res.timed_out
        return run

    async def _start(self, pod: dict, c: dict, *, attempt: int, init: bool) -> None:
        kl = self.kl
        meta = pod["metadata"]
        name = c["name"]
        try:
            env = await make_environment(pod, c, get_object=kl.get_object,
                                         services=kl.services_for(meta.get("namespace") or "default"),
                                         node_allocatable=kl.allocatable,
                                         pod_ip=kl.runtime.sandbox_ip(self.uid), host_ip=kl.node_ip)
        except EnvError as e:
            self.waiting[name] = ("CreateContainerConfigError", str(e))
            kl.recorder.container_event(pod, name, "Warning", "Failed", f"Error: {e}", init=init)
            return
        argv = expand_command(c, env)
        if not argv and getattr(kl.runtime, "needs_command", True):
            msg = ("the process runtime runs a container's command and args; "
                   f"image {c.get('image')!r} has no entrypoint here")
            self.waiting[name] = ("CreateContainerError", msg)
            kl.recorder.container_event(pod, name, "Warning", "Failed", f"Error: {msg}", init=init)
            return
        config = ContainerConfig(
            pod_uid=self.uid, pod_namespace=meta.get("namespace") or "default", pod_name=meta["name"],
            name=name, attempt=attempt, image=c.get("image") or "", argv=tuple(argv),
            env=tuple(env.items()), working_dir=c.get("workingDir") or None, mounts=self._mounts(c))
        try:
            st = await kl.runtime.start_container(config)
        except OSError as e:
            reason = getattr(e, "reason", "") or "RunContainerError"
            self.waiting[name] = (reason, str(e))
            image = c.get("image")
            if reason == "ErrImagePull":
                kl.recorder.container_event(pod, name, "Warning", "Failed",
                                            f'Failed to pull image "{image}": {e}', init=init)
            elif reason == "ImagePullBackOff":
                kl.recorder.container_event(pod, name, "Normal", "BackOff", f'Back-off pulling image "{image}"',
                                            init=init)
            if reason != "ImagePullBackOff":
                detail = e if reason == "RunContainerError" else reason
                kl.recorder.container_event(pod, name, "Warning", "Failed", f"Error: {detail}", init=init)
            if getattr(e, "retry_after", 0):
                self.retry_after = min(self.retry_after or e.retry_after, e.retry_after)
            return
        kl.recorder.container_event(pod, name, "Normal", "Pulled",
                                    f'Container image "{c.get("image")}" already present on machine', init=init)
        kl.recorder.container_event(pod, name, "Normal", "Created", f"Created container {name}", init=init)
        kl.recorder.container_event(pod, name, "Normal", "Started", f"Started container {name}", init=init)
        if not init:  # probes run from the start (no later sync is needed to begin them)
            kl.probes.ensure(pod=pod, container=c, container_id=st.id, started_at=st.started_at or time.time(),
                             pod_ip=kl.runtime.sandbox_ip(self.uid), exec_fn=self._exec_fn(st.id))
        hook = ((c.get("lifecycle") or {}).get("postStart") or {})
        if hook:
            ok, out = await self._run_hook(hook, c, st.id, timeout=_grace(pod))
            if not ok:
                kl.recorder.container_event(pod, name, "Warning", "FailedPostStartHook", out, init=init)
                await kl.runtime.stop_container(st.id, grace_period=_grace(pod))

    async def _run_hook(self, hook: dict, c: dict, container_id: str, *, timeout: float) -> tuple[bool, str]:
        if "exec" in hook:
            res = await self.kl.runtime.exec_sync(container_id, list(hook["exec"].get("command") or ()),
                                                  timeout=max(timeout, 1.0))
            return res.exit_code == 0, res.output.decode(errors="replace")
        if "sleep" in hook:
            await asyncio.sleep(min(float(hook["sleep"].get("seconds") or 0), timeout))
            return True, ""
        if "httpGet" in hook:
            from .probes import run_probe
            res = await run_probe({"httpGet": hook["httpGet"], "timeoutSeconds": max(int(timeout), 1)},
                                  container=c, pod_ip=self.kl.runtime.sandbox_ip(self.uid),
                                  exec_fn=self._exec_fn(container_id), session=self.kl.probes._http())
            return res.success, res.output
        return True, ""

    async def _kill(self, pod: dict | None, c: dict | None, st: ContainerStatus, *, grace: float) -> None:
        """preStop hook (within the grace period), then SIGTERM, SIGKILL at the deadline."""
        deadline = time.monotonic() + grace
        hook = ((c or {}).get("lifecycle") or {}).get("preStop") if c else None
        if hook and st.state == "running":
            try:
                ok, out = await asyncio.wait_for(self._run_hook(hook, c, st.id, timeout=grace), timeout=grace)
            except TimeoutError:
                ok, out = False, f"PreStopHook did not finish in {grace:g}s"
            if not ok and pod is not None:
                self.kl.recorder.container_event(pod, st.name, "Warning", "FailedPreStopHook", out)
        self.kl.probes.stop_container(st.id)
        await self.kl.runtime.stop_container(st.id, grace_period=max(deadline - time.monotonic(), 0.0))

    async def _kill_all(self, pod: dict | None, *, grace: float) -> None:
        specs = {}
        if pod is not None:
            for c in (pod["spec"].get("initContainers") or []) + pod["spec"].get("containers", []):
                specs[c["name"]] = c
        running = [st for st in self.kl.runtime.list_containers(self.uid) if st.state == "running"]
        for st in running:
            if pod is not None:
                self.kl.recorder.container_event(pod, st.name, "Normal", "Killing", f"Stopping container {st.name}")
        await asyncio.gather(*(self._kill(pod, specs.get(st.name), st, grace=grace) for st in running))

    async def _gc_attempts(self) -> None:
        """Keep the latest two attempts of each container (current + previous for `logs -p`)."""
        for attempts in self._containers().values():
            for old in attempts[:-2]:
                await self.kl.runtime.remove_container(old.id)

    # -- status --------------------------------------------------------------------
    def _views(self, specs: list[dict], by_name: dict) -> list[ContainerView]:
        probes = self.kl.probes
        views = []
        for c in specs:
            attempts = by_name.get(c["name"], [])
            latest = attempts[-1] if attempts else None
            previous = attempts[-2] if len(attempts) > 1 else None
            ready = started = False
            if latest is not None and latest.state == "running":
                started = probes.result(latest.id, "startup") is not False
                readiness = probes.result(latest.id, "readiness")
                ready = started and (readiness is None and "readinessProbe" not in c or readiness is True)
            views.append(ContainerView(name=c["name"], image=c.get("image") or "", latest=latest,
                                       previous=previous, waiting=self.waiting.get(c["name"]),
                                       ready=ready, started=started))
        return views

    async def _write_status(self, pod: dict, *, phase: str | None = None) -> dict:
        by_name = self._containers()
        status = build_pod_status(
            pod, init_views=self._views(pod["spec"].get("initContainers") or [], by_name),
            views=self._views(pod["spec"].get("containers", []), by_name), runtime=self.kl.runtime.name,
            host_ip=self.kl.node_ip, pod_ip=self.kl.runtime.sandbox_ip(self.uid), start_time=self.started_at,
            now=time.time(), phase_override=phase)
        mirror_uid = self.kl.mirror_uid(pod)
        if mirror_uid is None:
            await self.kl.status_writer.write(pod, status)
        elif mirror_uid:
            await self.kl.status_writer.write(pod, status, mirror_uid=mirror_uid)
        return status

    # -- termination ---------------------------------------------------------------
    async def terminate(self) -> None:
        pod = self.last_pod
        grace = _grace(pod) if not self.gone else min(_grace(pod), 2.0)
        await self._kill_all(pod, grace=grace)
        await self.kl.host_ports.stop(self.uid)
        if not self.gone and pod is not None and not self.terminal_phase:
            with contextlib.suppress(Exception):
                await self._write_status(pod)
        if pod is not None:
            for volume in pod["spec"].get("volumes") or ():
                plugin = plugin_for(volume)
                if plugin is not None:
                    try:
                        await plugin.teardown(self._volume_ctx(pod, volume))
                    except Exception as e:  # noqa: BLE001 - cleanup continues
                        log.warning("pod %s: volume %s teardown: %s", self.uid, volume["name"], e)
        for st in self.kl.runtime.list_containers(self.uid):
            self.kl.backoff_reported.discard(st.id)
        await self.kl.cleanup_pod_dirs(self.uid)
        self.kl.backoff.forget_pod(self.uid)
        if not self.gone and pod is not None and self.kl.mirror_uid(pod) is None:
            meta = pod["metadata"]
            try:
                await self.kl.client.pods(meta.get("namespace") or "default").delete(
                    meta["name"], grace_period_seconds=0, preconditions={"uid": self.uid})
            except (errors.NotFound, errors.Conflict):
                pass
        self.kl.status_writer.forget(self.uid)
        self.done.set()


def _duration(seconds: int) -> str:
    """Go's time.Duration formatting for whole seconds: 10s, 1m20s, 5m0s."""
    m, s = divmod(seconds, 60)
    return f"{m}m{s}s" if m else f"{s}s"
