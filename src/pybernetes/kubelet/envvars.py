"""A container's environment, as Kubernetes' kubelet builds it
(`makeEnvironmentVariables`): service link variables, then envFrom, then env
with ``$(VAR)`` expansion; plus ``$(VAR)`` expansion of command and args.

Failures to resolve a reference raise :class:`EnvError` with Kubernetes'
message; the pod worker reports it as CreateContainerConfigError.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

from .fieldpath import FieldPathError, extract_field_path, resource_field_value

__all__ = ["EnvError", "make_environment", "service_env", "expand", "expand_command"]

ObjectGetter = Callable[[str, str, str], Awaitable[dict | None]]


class EnvError(Exception):
    pass


def _svc_env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_env(services: list[dict]) -> dict[str, str]:
    """`{SVC}_SERVICE_HOST`, `{SVC}_SERVICE_PORT[_{PORT}]` and the Docker link
    variables for services that have a cluster IP."""
    env: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None":
            continue
        ports = spec.get("ports") or []
        n = _svc_env_name(svc["metadata"]["name"])
        env[f"{n}_SERVICE_HOST"] = ip
        if ports:
            env[f"{n}_SERVICE_PORT"] = str(ports[0].get("port"))
        for p in ports:
            if p.get("name"):
                env[f"{n}_SERVICE_PORT_{_svc_env_name(p['name'])}"] = str(p.get("port"))
        if ports:
            first = ports[0]
            proto = (first.get("protocol") or "TCP").lower()
            env[f"{n}_PORT"] = f"{proto}://{ip}:{first.get('port')}"
        for p in ports:
            proto = p.get("protocol") or "TCP"
            prefix = f"{n}_PORT_{p.get('port')}_{proto.upper()}"
            env[prefix] = f"{proto.lower()}://{ip}:{p.get('port')}"
            env[f"{prefix}_PROTO"] = proto.lower()
            env[f"{prefix}_PORT"] = str(p.get("port"))
            env[f"{prefix}_ADDR"] = ip
    return env


def expand(value: str, lookup: dict[str, str]) -> str:
    """Kubernetes' expansion: ``$(VAR)`` → value if defined (else left as is),
    ``$$`` → ``$``."""
    out = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "$" and i + 1 < n:
            nxt = value[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = value.find(")", i + 2)
                if end >= 0:
                    name = value[i + 2:end]
                    out.append(lookup[name] if name in lookup else value[i:end + 1])
                    i = end + 1
                    continue
        out.append(c)
        i += 1
    return "".join(out)


def expand_command(container: dict, env: dict[str, str]) -> list[str]:
    """command + args with ``$(VAR)`` expanded (the image's entrypoint is the
    command itself in the process runtime)."""
    command = [expand(a, env) for a in container.get("command") or ()]
    args = [expand(a, env) for a in container.get("args") or ()]
    return command + args


def _with_ips(pod: dict, pod_ip: str | None, host_ip: str | None) -> dict:
    """The pod as fieldRefs see it: its IPs are the ones the kubelet just
    gave it, not the status last written (a first start precedes that write)."""
    status = dict(pod.get("status") or {})
    if pod_ip:
        status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    if host_ip:
        status.update(hostIP=host_ip, hostIPs=[{"ip": host_ip}])
    return {**pod, "status": status}


async def make_environment(pod: dict, container: dict, *, get_object: ObjectGetter,
                           services: list[dict], node_allocatable: dict[str, str],
                           pod_ip: str | None = None, host_ip: str | None = None) -> dict[str, str]:
    """``pod_ip``/``host_ip``: the addresses ``status.podIP(s)``/``status.hostIP(s)``
    resolve to (Kubernetes computes them before it starts containers)."""
    ns = pod["metadata"].get("namespace") or "default"
    if pod_ip or host_ip:
        pod = _with_ips(pod, pod_ip, host_ip)
    env: dict[str, str] = {}
    cache: dict[tuple[str, str], dict | None] = {}

    async def fetch(kind: str, name: str) -> dict | None:
        if (kind, name) not in cache:
            cache[(kind, name)] = await get_object(kind, ns, name)
        return cache[(kind, name)]

    for src in container.get("envFrom") or ():
        prefix = src.get("prefix") or ""
        if "configMapRef" in src:
            ref = src["configMapRef"]
            obj = await fetch("configmaps", ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise EnvError(f'configmap "{ref.get("name")}" not found')
            for k, v in (obj.get("data") or {}).items():
                env[prefix + k] = v
        elif "secretRef" in src:
            ref = src["secretRef"]
            obj = await fetch("secrets", ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise EnvError(f'secret "{ref.get("name")}" not found')
            for k, v in (obj.get("data") or {}).items():
                env[prefix + k] = base64.b64decode(v).decode(errors="replace")

    svc_env = service_env(services) if pod["spec"].get("enableServiceLinks", True) is not False else \
        service_env([s for s in services if s["metadata"]["name"] == "kubernetes"
                     and s["metadata"].get("namespace") == "default"])

    for var in container.get("env") or ():
        name = var["name"]
        if "value" in var or "valueFrom" not in var:
            env[name] = expand(var.get("value") or "", {**svc_env, **env})
            continue
        source = var["valueFrom"]
        value: str | None
        try:
            if "fieldRef" in source:
                value = extract_field_path(pod, source["fieldRef"].get("fieldPath", ""))
            elif "resourceFieldRef" in source:
                ref = source["resourceFieldRef"]
                value = resource_field_value(pod, ref.get("containerName") or container["name"],
                                             ref.get("resource", ""), ref.get("divisor"), node_allocatable)
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                obj = await fetch("configmaps", ref.get("name", ""))
                value = None
                if obj is None:
                    if not ref.get("optional"):
                        raise EnvError(f'configmap "{ref.get("name")}" not found')
                elif ref.get("key") in (obj.get("data") or {}):
                    value = obj["data"][ref["key"]]
                elif not ref.get("optional"):
                    raise EnvError(f"couldn't find key {ref.get('key')} in ConfigMap {ns}/{ref.get('name')}")
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                obj = await fetch("secrets", ref.get("name", ""))
                value = None
                if obj is None:
                    if not ref.get("optional"):
                        raise EnvError(f'secret "{ref.get("name")}" not found')
                elif ref.get("key") in (obj.get("data") or {}):
                    value = base64.b64decode(obj["data"][ref["key"]]).decode(errors="replace")
                elif not ref.get("optional"):
                    raise EnvError(f"couldn't find key {ref.get('key')} in Secret {ns}/{ref.get('name')}")
            else:
                value = ""
        except FieldPathError as e:
            raise EnvError(str(e)) from None
        if value is not None:
            env[name] = value
    for k, v in svc_env.items():
        env.setdefault(k, v)
    return env
