"""Parse a Kubernetes API path into what it addresses.

    /api/v1/namespaces/{ns}/{resource}[/{name}[/{subresource}]]
    /api/v1/{resource}[/{name}[/{subresource}]]        (cluster-scoped, or all namespaces)
    /apis/{group}/{version}/...                          (same shapes)
"""

from __future__ import annotations

from typing import NamedTuple

from ..api.resources import ResourceInfo, by_plural

__all__ = ["RequestInfo", "parse_path"]


class RequestInfo(NamedTuple):
    """What a resource path addresses (a tuple: made once per request, cheaply)."""

    group: str
    version: str
    resource: ResourceInfo | None  # None: the path names no served resource
    plural: str
    namespace: str | None
    name: str
    subresource: str


_NS_SUBRESOURCES = ("status", "finalize")


def parse_path(path: str) -> RequestInfo | None:
    """None when the path is not a resource path (discovery etc.)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    # `namespaces/{ns}/{resource}...` addresses namespaced objects; `namespaces/{name}` the
    # namespace, and `namespaces/{name}/status|finalize` its subresources.
    if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in _NS_SUBRESOURCES):
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = "/".join(rest[2:]) if len(rest) > 2 else ""
    res = by_plural(group, plural)
    if res is not None and res.version != version:
        res = None
    return RequestInfo(group, version, res, plural, namespace, name, sub)
