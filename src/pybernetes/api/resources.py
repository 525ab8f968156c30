"""The served resource types: one table every component reads.

The apiserver routes, discovery, OpenAPI, the client library and the CLI all
look resources up here, so adding a kind (or a whole API group) is one entry.
Schemas come from Kubernetes' own OpenAPI definitions (see ``schema.py``); this
table adds only what the REST layer needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ResourceInfo", "RESOURCES", "by_plural", "by_kind", "lookup", "group_versions"]

_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    group: str  # "" for the legacy core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # e.g. ("status", "scale")
    verbs: tuple[str, ...] = _ALL_VERBS
    # OpenAPI definition name, e.g. "io.k8s.api.core.v1.Pod".
    definition: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def storage_prefix(self) -> str:
        """Key prefix in storage: /registry/{group or 'core'}/{plural}/"""
        return f"/registry/{self.group or 'core'}/{self.plural}/"

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix}{namespace}/{name}"
        return f"{self.storage_prefix}{name}"

    def prefix(self, namespace: str | None) -> str:
        """Prefix for a list: all namespaces when ``namespace`` is None."""
        if self.namespaced and namespace:
            return f"{self.storage_prefix}{namespace}/"
        return self.storage_prefix

    def base_path(self, namespace: str | None = None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{root}/{self.plural}"


def _core(kind, plural, namespaced=True, **kw) -> ResourceInfo:
    return ResourceInfo("", "v1", kind, plural, namespaced, definition=f"io.k8s.api.core.v1.{kind}", **kw)


RESOURCES: tuple[ResourceInfo, ...] = (
    _core("Namespace", "namespaces", False, short_names=("ns",), subresources=("status", "finalize"),
          verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _core("Node", "nodes", False, short_names=("no",), subresources=("status",)),
    _core("Pod", "pods", short_names=("po",), categories=("all",),
          subresources=("status", "binding", "log", "eviction")),
    _core("Service", "services", short_names=("svc",), categories=("all",), subresources=("status",),
          verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")),
    _core("Endpoints", "endpoints", short_names=("ep",)),
    _core("ReplicationController", "replicationcontrollers", short_names=("rc",), categories=("all",),
          subresources=("status", "scale")),
    _core("Event", "events", short_names=("ev",)),
    _core("ConfigMap", "configmaps", short_names=("cm",)),
    _core("Secret", "secrets"),
    _core("ServiceAccount", "serviceaccounts", short_names=("sa",)),
    ResourceInfo("coordination.k8s.io", "v1", "Lease", "leases", True,
                 definition="io.k8s.api.coordination.v1.Lease"),
    ResourceInfo("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True,
                 definition="io.k8s.api.discovery.v1.EndpointSlice"),
)

_BY_PLURAL = {(r.group, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.group, r.kind): r for r in RESOURCES}


def by_plural(group: str, plural: str) -> ResourceInfo | None:
    return _BY_PLURAL.get((group, plural))


def by_kind(group: str, kind: str) -> ResourceInfo | None:
    return _BY_KIND.get((group, kind))


def lookup(name: str) -> ResourceInfo | None:
    """Find a resource by plural, singular, short name or kind (CLI use)."""
    n = name.lower()
    for r in RESOURCES:
        if n in (r.plural, r.singular, r.kind.lower()) or n in r.short_names:
            return r
    return None


def group_versions() -> list[tuple[str, str]]:
    """(group, version) pairs served, core first, in a stable order."""
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        gv = (r.group, r.version)
        if gv not in seen:
            seen.append(gv)
    return seen
