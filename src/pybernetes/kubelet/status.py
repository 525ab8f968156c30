"""Pod status from what the runtime reports (Kubernetes' generateAPIPodStatus,
getPhase and the pod condition helpers) — pure functions.

``ContainerView`` is what the kubelet knows about one container name: its
latest two attempts from the runtime, a waiting reason the pod worker set
(ContainerCreating, CrashLoopBackOff, CreateContainerConfigError, ...), and
the probe-derived ready/started flags.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from .runtime.interface import ContainerStatus

__all__ = ["ContainerView", "container_status", "pod_phase", "pod_conditions", "build_pod_status",
           "format_time", "status_equal"]


@functools.lru_cache(maxsize=1024)
def _format_second(sec: int) -> str:
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_time(t: float | None) -> str | None:
    """RFC 3339 to the second (metav1.Time), as Kubernetes serialises it."""
    if t is None:
        return None
    return _format_second(math.floor(t))


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    image: str
    latest: ContainerStatus | None = None
    previous: ContainerStatus | None = None
    waiting: tuple[str, str] | None = None  # (reason, message) the worker decided
    ready: bool = False
    started: bool = False


def _terminated(c: ContainerStatus, runtime: str) -> dict:
    t = {"exitCode": c.exit_code if c.exit_code is not None else 0, "reason": c.reason or "Error",
         "startedAt": format_time(c.started_at), "finishedAt": format_time(c.finished_at),
         "containerID": f"{runtime}://{c.id}"}
    if c.message:
        t["message"] = c.message
    return t


def container_status(view: ContainerView, *, runtime: str) -> dict:
    """One entry of containerStatuses / initContainerStatuses."""
    latest, previous = view.latest, view.previous
    out: dict = {"name": view.name, "image": view.image, "imageID": "", "ready": False,
                 "restartCount": latest.attempt if latest else 0, "started": False,
                 "state": {}, "lastState": {}}
    if latest is not None:
        out["imageID"] = f"{runtime}://{latest.image}"
        out["containerID"] = f"{runtime}://{latest.id}"
    if latest is not None and latest.state == "running" and view.waiting is None:
        out["state"] = {"running": {"startedAt": format_time(latest.started_at)}}
        out["ready"] = view.ready
        out["started"] = view.started
        if previous is not None and previous.state == "exited":
            out["lastState"] = {"terminated": _terminated(previous, runtime)}
    elif view.waiting is not None:
        reason, message = view.waiting
        out["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        if latest is not None and latest.state == "exited":
            out["lastState"] = {"terminated": _terminated(latest, runtime)}
    elif latest is not None and latest.state == "exited":
        out["state"] = {"terminated": _terminated(latest, runtime)}
        if previous is not None and previous.state == "exited":
            out["lastState"] = {"terminated": _terminated(previous, runtime)}
    else:
        out["state"] = {"waiting": {"reason": "ContainerCreating"}}
    return out


def pod_phase(spec: dict, init_statuses: list[dict], statuses: list[dict]) -> str:
    """Kubernetes' getPhase."""
    restart = spec.get("restartPolicy") or "Always"
    pending_init = failed_init = 0
    by_name = {s["name"]: s for s in init_statuses}
    for c in spec.get("initContainers") or ():
        s = by_name.get(c["name"])
        state = (s or {}).get("state") or {}
        last = ((s or {}).get("lastState") or {}).get("terminated")
        if s is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            if state["terminated"].get("exitCode") != 0:
                failed_init += 1
        elif "waiting" in state:
            if last is not None:
                if last.get("exitCode") != 0:
                    failed_init += 1
            else:
                pending_init += 1
        else:
            pending_init += 1
    running = waiting = stopped = succeeded = unknown = 0
    by_name = {s["name"]: s for s in statuses}
    for c in spec.get("containers") or ():
        s = by_name.get(c["name"])
        if s is None:
            unknown += 1
            continue
        state = s.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif "waiting" in state:
            if (s.get("lastState") or {}).get("terminated") is not None:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    if failed_init and restart == "Never":
        return "Failed"
    if pending_init or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if restart == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _cond(ctype: str, ok: bool, reason: str = "", message: str = "") -> dict:
    c = {"type": ctype, "status": "True" if ok else "False", "lastProbeTime": None,
         "lastTransitionTime": None}
    if not ok and reason:
        c["reason"] = reason
        if message:
            c["message"] = message
    return c


def pod_conditions(spec: dict, phase: str, init_statuses: list[dict], statuses: list[dict]) -> list[dict]:
    """Initialized, Ready, ContainersReady (PodScheduled is kept from the scheduler)."""
    done = {s["name"] for s in init_statuses
            if ((s.get("state") or {}).get("terminated") or {}).get("exitCode") == 0}
    incomplete_init = [c["name"] for c in spec.get("initContainers") or () if c["name"] not in done]
    if incomplete_init:
        initialized = _cond("Initialized", False, "ContainersNotInitialized",
                            f"containers with incomplete status: [{' '.join(incomplete_init)}]")
    else:
        initialized = _cond("Initialized", True)
    unready = [s["name"] for s in statuses if not s.get("ready")]
    unready += [c["name"] for c in spec.get("containers") or () if c["name"] not in {s["name"] for s in statuses}]
    if phase in ("Succeeded", "Failed"):
        ready = _cond("Ready", False, "PodCompleted")
        containers_ready = _cond("ContainersReady", False, "PodCompleted")
    elif unready:
        msg = f"containers with unready status: [{' '.join(unready)}]"
        ready = _cond("Ready", False, "ContainersNotReady", msg)
        containers_ready = _cond("ContainersReady", False, "ContainersNotReady", msg)
    else:
        ready = _cond("Ready", True)
        containers_ready = _cond("ContainersReady", True)
    return [initialized, ready, containers_ready]


def build_pod_status(pod: dict, *, init_views: list[ContainerView], views: list[ContainerView],
                     runtime: str, host_ip: str, pod_ip: str, start_time: float | None, now: float,
                     phase_override: str | None = None) -> dict:
    """The status the kubelet wants the apiserver to hold. Fields the kubelet
    does not own (qosClass, PodScheduled, other conditions) are kept, and
    lastTransitionTime only moves when a condition's status changes."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    init_statuses = [container_status(v, runtime=runtime) for v in init_views]
    statuses = [container_status(v, runtime=runtime) for v in views]
    phase = phase_override or pod_phase(spec, init_statuses, statuses)
    conds = pod_conditions(spec, phase, init_statuses, statuses)
    old_conds = {c.get("type"): c for c in old.get("conditions") or ()}
    ts = format_time(now)
    for c in conds:
        prev = old_conds.get(c["type"])
        c["lastTransitionTime"] = prev.get("lastTransitionTime") if prev and prev.get("status") == c["status"] \
            else ts
    mine = {c["type"] for c in conds}
    others = [c for c in old.get("conditions") or () if c.get("type") not in mine]
    if not any(c.get("type") == "PodScheduled" for c in others):
        others.insert(0, {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": old.get("startTime") or ts})
    status = {k: v for k, v in old.items() if k not in ("reason", "message")}
    status.update({
        "phase": phase, "conditions": others + conds, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
        "startTime": old.get("startTime") or format_time(start_time or now),
        "containerStatuses": statuses,
    })
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    return status


def status_equal(a: dict | None, b: dict | None) -> bool:
    return (a or {}) == (b or {})
