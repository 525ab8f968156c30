"""The Node object the kubelet registers and keeps current (Kubernetes'
nodestatus setters): labels, capacity, addresses, nodeInfo, conditions."""

from __future__ import annotations

import contextlib
import os
import platform
import socket

from .. import KUBE_GIT_VERSION

__all__ = ["machine_capacity", "node_labels", "node_info", "build_node", "node_conditions", "ARCH"]

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
        "s390x": "s390x"}.get(platform.machine(), platform.machine())


def _read(path: str) -> str:
    with contextlib.suppress(OSError), open(path) as f:
        return f.read().strip()
    return ""


def machine_capacity(*, max_pods: int, root_dir: str) -> dict[str, str]:
    mem_kib = 0
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    st = os.statvfs(root_dir)
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{mem_kib}Ki", "pods": str(max_pods),
            "ephemeral-storage": f"{st.f_blocks * st.f_frsize // 1024}Ki"}


def node_labels(node_name: str, extra: dict[str, str]) -> dict[str, str]:
    return {"beta.kubernetes.io/arch": ARCH, "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": ARCH, "kubernetes.io/hostname": node_name, "kubernetes.io/os": "linux",
            **extra}


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def node_info(*, runtime_version: str) -> dict[str, str]:
    return {
        "machineID": _read("/etc/machine-id"), "systemUUID": _read("/sys/class/dmi/id/product_uuid"),
        "bootID": _read("/proc/sys/kernel/random/boot_id"), "kernelVersion": platform.release(),
        "osImage": _os_image(), "containerRuntimeVersion": runtime_version,
        "kubeletVersion": KUBE_GIT_VERSION, "kubeProxyVersion": KUBE_GIT_VERSION,
        "operatingSystem": "linux", "architecture": ARCH,
    }


def node_conditions(now: str, previous: list[dict] | None = None) -> list[dict]:
    """Pressure conditions False and Ready True, heartbeats at ``now``;
    lastTransitionTime kept while a status stays the same."""
    prev = {c.get("type"): c for c in previous or ()}
    out = []
    for ctype, status, reason, message in (
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status")):
        p = prev.get(ctype)
        transition = p.get("lastTransitionTime") if p and p.get("status") == status else now
        out.append({"type": ctype, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": transition,
                    "reason": reason, "message": message})
    return out


def build_node(*, name: str, labels: dict[str, str], taints: tuple[dict, ...], capacity: dict[str, str],
               address: str, port: int, runtime_version: str, now: str) -> dict:
    node = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {},
        "status": node_status(capacity=capacity, address=address, port=port, runtime_version=runtime_version,
                              now=now, hostname=socket.gethostname()),
    }
    if taints:
        node["spec"]["taints"] = [dict(t) for t in taints]
    return node


def node_status(*, capacity: dict[str, str], address: str, port: int, runtime_version: str, now: str,
                hostname: str, previous: dict | None = None) -> dict:
    return {
        "capacity": dict(capacity), "allocatable": dict(capacity),
        "conditions": node_conditions(now, (previous or {}).get("conditions")),
        "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": hostname}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "nodeInfo": node_info(runtime_version=runtime_version),
    }
