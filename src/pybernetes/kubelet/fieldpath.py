"""Downward API values (Kubernetes' fieldpath package and
`ExtractResourceValueByContainerName`): pod fields and container resources
as strings, shared by env vars and the downwardAPI volume."""

from __future__ import annotations

import math
import re

from ..api.quantity import parse_quantity

__all__ = ["FieldPathError", "extract_field_path", "resource_field_value", "format_map"]

_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class FieldPathError(ValueError):
    pass


def format_map(m: dict[str, str]) -> str:
    """labels/annotations as the downward API writes them: sorted ``k="v"`` lines."""
    return "\n".join(f'{k}="{_escape(m[k])}"' for k in sorted(m))


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def extract_field_path(pod: dict, path: str) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    m = _SUBSCRIPT.match(path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    simple = {
        "metadata.name": lambda: meta.get("name", ""),
        "metadata.namespace": lambda: meta.get("namespace", ""),
        "metadata.uid": lambda: meta.get("uid", ""),
        "metadata.labels": lambda: format_map(meta.get("labels") or {}),
        "metadata.annotations": lambda: format_map(meta.get("annotations") or {}),
        "spec.nodeName": lambda: spec.get("nodeName", ""),
        "spec.serviceAccountName": lambda: spec.get("serviceAccountName", ""),
        "status.hostIP": lambda: status.get("hostIP", ""),
        "status.hostIPs": lambda: ",".join(a.get("ip", "") for a in status.get("hostIPs") or ()),
        "status.podIP": lambda: status.get("podIP", ""),
        "status.podIPs": lambda: ",".join(a.get("ip", "") for a in status.get("podIPs") or ()),
    }
    fn = simple.get(path)
    if fn is None:
        raise FieldPathError(f"unsupported fieldPath: {path}")
    return fn()


def resource_field_value(pod: dict, container_name: str, resource: str, divisor: str | None,
                         node_allocatable: dict[str, str]) -> str:
    """limits.cpu / requests.memory / ... of a container, divided by ``divisor``
    and rounded up; a missing limit falls back to the node's allocatable."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]
    container = next((c for c in containers if c.get("name") == container_name), None)
    if container is None:
        raise FieldPathError(f"container {container_name!r} not found")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory", "ephemeral-storage"):
        raise FieldPathError(f"unsupported container resource: {resource}")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(name)
    if raw is None:
        raw = node_allocatable.get(name, "0") if kind == "limits" else "0"
    value = parse_quantity(raw).value
    div = parse_quantity(divisor or "1").value
    if div == 0:
        raise FieldPathError("divisor must be greater than zero")
    return str(max(math.ceil(value / div), 1 if name == "cpu" and kind == "limits" else 0))
