"""Pod spec → Docker Engine API container options, as Kubernetes' dockershim
built them — pure functions, no I/O.

Names and labels follow dockershim so ``docker ps``/``podman ps`` read the
same as on a 2016 node: ``k8s_<container>_<pod>_<namespace>_<uid>_<attempt>``
and ``k8s_POD_<pod>_<namespace>_<uid>_<attempt>`` for the infra container,
with ``io.kubernetes.*`` labels that let a restarted kubelet find and adopt
every container. One more label, ``io.pybernetes.kubelet.root``, scopes the
containers to one kubelet (several kubelets, e.g. tests, may share an engine).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ...api.quantity import QuantityError, parse_quantity
from .interface import ContainerConfig

__all__ = [
    "LABEL_POD_UID", "LABEL_POD_NAME", "LABEL_POD_NAMESPACE", "LABEL_CONTAINER_NAME", "LABEL_RESTART_COUNT",
    "LABEL_TYPE", "LABEL_SANDBOX_ID", "LABEL_ROOT", "LABEL_TERMINATION_PATH", "LABEL_TERMINATION_POLICY",
    "TYPE_SANDBOX", "TYPE_CONTAINER",
    "container_name", "sandbox_name", "root_label", "sandbox_labels", "container_labels",
    "port_bindings", "pull_policy", "split_command", "resources", "security", "termination_message",
    "create_kwargs", "milli_cpu_to_shares", "milli_cpu_to_quota",
]

LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"
LABEL_RESTART_COUNT = "io.kubernetes.container.restartCount"
LABEL_TERMINATION_PATH = "io.kubernetes.container.terminationMessagePath"
LABEL_TERMINATION_POLICY = "io.kubernetes.container.terminationMessagePolicy"
LABEL_TYPE = "io.kubernetes.docker.type"
LABEL_SANDBOX_ID = "io.kubernetes.sandbox.id"
LABEL_ROOT = "io.pybernetes.kubelet.root"
TYPE_SANDBOX = "podsandbox"
TYPE_CONTAINER = "container"

# dockershim's constants (pkg/kubelet/cm/helpers_linux.go)
_MIN_SHARES = 2
_SHARES_PER_CPU = 1024
_QUOTA_PERIOD = 100_000  # µs
_MIN_QUOTA = 1000


def root_label(root: str) -> str:
    """A short stable tag for a kubelet root dir (labels need no full paths)."""
    return hashlib.sha256(root.encode()).hexdigest()[:16]


def container_name(config: ContainerConfig) -> str:
    return f"k8s_{config.name}_{config.pod_name}_{config.pod_namespace}_{config.pod_uid}_{config.attempt}"


def sandbox_name(*, uid: str, namespace: str, name: str, attempt: int = 0) -> str:
    return f"k8s_POD_{name}_{namespace}_{uid}_{attempt}"


def sandbox_labels(*, uid: str, namespace: str, name: str, root: str) -> dict[str, str]:
    return {LABEL_POD_UID: uid, LABEL_POD_NAMESPACE: namespace, LABEL_POD_NAME: name,
            LABEL_TYPE: TYPE_SANDBOX, LABEL_ROOT: root_label(root)}


def container_labels(config: ContainerConfig, *, root: str, sandbox_id: str, spec: Mapping | None) -> dict[str, str]:
    path, policy = termination_message(spec)
    return {LABEL_POD_UID: config.pod_uid, LABEL_POD_NAMESPACE: config.pod_namespace,
            LABEL_POD_NAME: config.pod_name, LABEL_CONTAINER_NAME: config.name,
            LABEL_RESTART_COUNT: str(config.attempt), LABEL_TYPE: TYPE_CONTAINER, LABEL_SANDBOX_ID: sandbox_id,
            LABEL_TERMINATION_PATH: path, LABEL_TERMINATION_POLICY: policy, LABEL_ROOT: root_label(root)}


def port_bindings(pod: Mapping | None) -> dict[str, int | tuple[str, int]]:
    """The infra container's published ports: every container port with a
    hostPort, ``{"<containerPort>/<proto>": hostPort | (hostIP, hostPort)}``.
    An unset or wildcard hostIP publishes on all addresses (an explicit
    0.0.0.0 makes netavark match that literal destination)."""
    out: dict[str, int | tuple[str, int]] = {}
    for c in (pod or {}).get("spec", {}).get("containers") or ():
        for p in c.get("ports") or ():
            hp, cp = p.get("hostPort"), p.get("containerPort")
            if not hp or not cp:
                continue
            key = f"{int(cp)}/{(p.get('protocol') or 'TCP').lower()}"
            ip = p.get("hostIP") or ""
            out[key] = (ip, int(hp)) if ip not in ("", "0.0.0.0", "::") else int(hp)
    return out


def pull_policy(spec: Mapping | None, image: str) -> str:
    """imagePullPolicy as Kubernetes defaults it: Always for ``:latest`` or
    an untagged image, IfNotPresent otherwise (a digest counts as a tag)."""
    policy = (spec or {}).get("imagePullPolicy")
    if policy in ("Always", "IfNotPresent", "Never"):
        return policy
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def split_command(argv: tuple[str, ...], spec: Mapping | None) -> tuple[list[str] | None, list[str] | None]:
    """(entrypoint, cmd) for the engine from the kubelet's expanded argv:
    ``command`` replaces the image's entrypoint (and drops its cmd), ``args``
    alone replace only the cmd, neither keeps the image's. Without the spec
    the whole argv is the entrypoint."""
    if spec is None:
        return (list(argv), []) if argv else (None, None)
    n_cmd = len(spec.get("command") or ())
    if n_cmd:
        return list(argv[:n_cmd]), list(argv[n_cmd:])
    if spec.get("args"):
        return None, list(argv)
    return None, None


def milli_cpu_to_shares(milli: int) -> int:
    if milli == 0:
        return _MIN_SHARES
    return max(_MIN_SHARES, milli * _SHARES_PER_CPU // 1000)


def milli_cpu_to_quota(milli: int, period: int = _QUOTA_PERIOD) -> int:
    if milli == 0:
        return 0
    return max(_MIN_QUOTA, milli * period // 1000)


def _quantity(resources: Mapping, kind: str, name: str):
    v = (resources.get(kind) or {}).get(name)
    if v in (None, ""):
        return None
    try:
        return parse_quantity(v)
    except QuantityError:
        return None


def resources(spec: Mapping | None) -> dict:
    """cpu shares from requests.cpu (or limits.cpu when only a limit is set,
    as the apiserver defaults requests), CFS quota from limits.cpu, memory
    limit (and no extra swap) from limits.memory."""
    res = (spec or {}).get("resources") or {}
    out: dict = {}
    req_cpu = _quantity(res, "requests", "cpu") or _quantity(res, "limits", "cpu")
    lim_cpu = _quantity(res, "limits", "cpu")
    lim_mem = _quantity(res, "limits", "memory")
    out["cpu_shares"] = milli_cpu_to_shares(req_cpu.milli_value if req_cpu else 0)
    if lim_cpu is not None and lim_cpu.milli_value:
        out["cpu_period"] = _QUOTA_PERIOD
        out["cpu_quota"] = milli_cpu_to_quota(lim_cpu.milli_value)
    if lim_mem is not None and lim_mem.int_value() > 0:
        out["mem_limit"] = lim_mem.int_value()
        out["memswap_limit"] = lim_mem.int_value()
    return out


def security(spec: Mapping | None, pod: Mapping | None) -> dict:
    """securityContext basics; the container's fields win over the pod's."""
    pod_sc = ((pod or {}).get("spec") or {}).get("securityContext") or {}
    sc = (spec or {}).get("securityContext") or {}
    out: dict = {}
    user = sc.get("runAsUser", pod_sc.get("runAsUser"))
    group = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
    if user is not None:
        out["user"] = f"{int(user)}:{int(group)}" if group is not None else str(int(user))
    elif group is not None:
        out["user"] = f"0:{int(group)}"
    groups = [str(g) for g in pod_sc.get("supplementalGroups") or ()]
    if pod_sc.get("fsGroup") is not None:
        groups.append(str(pod_sc["fsGroup"]))
    if groups:
        out["group_add"] = groups
    if sc.get("privileged"):
        out["privileged"] = True
    if sc.get("readOnlyRootFilesystem"):
        out["read_only"] = True
    caps = sc.get("capabilities") or {}
    if caps.get("add"):
        out["cap_add"] = [_cap(c) for c in caps["add"]]
    if caps.get("drop"):
        out["cap_drop"] = [_cap(c) for c in caps["drop"]]
    if sc.get("allowPrivilegeEscalation") is False:
        out["security_opt"] = ["no-new-privileges"]
    return out


def _cap(name: str) -> str:
    name = name.upper()
    return name if name == "ALL" or name.startswith("CAP_") else f"CAP_{name}"


def termination_message(spec: Mapping | None) -> tuple[str, str]:
    """(terminationMessagePath, terminationMessagePolicy) with Kubernetes' defaults."""
    spec = spec or {}
    return (spec.get("terminationMessagePath") or "/dev/termination-log",
            spec.get("terminationMessagePolicy") or "File")


def create_kwargs(config: ContainerConfig, *, spec: Mapping | None, pod: Mapping | None, sandbox_id: str,
                  root: str, termination_file: str | None) -> dict:
    """Keyword arguments for ``client.api.create_container`` +
    ``create_host_config``: (container kwargs, host config kwargs) merged into
    one dict with ``host_config`` holding the latter."""
    from docker.types import Mount as DockerMount

    entrypoint, cmd = split_command(config.argv, spec)
    mounts = [DockerMount(target=m.container_path, source=m.host_path, type="bind", read_only=m.read_only)
              for m in config.mounts]
    term_path, _ = termination_message(spec)
    if termination_file and not any(m.container_path == term_path for m in config.mounts):
        mounts.append(DockerMount(target=term_path, source=termination_file, type="bind"))
    host = {"network_mode": f"container:{sandbox_id}", "ipc_mode": f"container:{sandbox_id}", "mounts": mounts,
            **resources(spec)}
    sec = security(spec, pod)
    for key in ("privileged", "read_only", "cap_add", "cap_drop", "group_add", "security_opt"):
        if key in sec:
            host[key] = sec[key]
    if ((pod or {}).get("spec") or {}).get("shareProcessNamespace"):
        host["pid_mode"] = f"container:{sandbox_id}"
    kwargs: dict = {"image": config.image, "name": container_name(config),
                    "environment": [f"{k}={v}" for k, v in config.env],
                    "labels": container_labels(config, root=root, sandbox_id=sandbox_id, spec=spec),
                    "host_config": host, "stdin_open": bool((spec or {}).get("stdin")),
                    "tty": bool((spec or {}).get("tty"))}
    if entrypoint is not None:
        kwargs["entrypoint"] = entrypoint
    if cmd is not None:
        kwargs["command"] = cmd
    if config.working_dir:
        kwargs["working_dir"] = config.working_dir
    if "user" in sec:
        kwargs["user"] = sec["user"]
    return kwargs

