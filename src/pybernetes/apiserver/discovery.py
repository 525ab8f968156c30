"""Discovery documents, derived from the resource table.

Legacy discovery (``/api``, ``/apis``, ``/apis/{g}``, ``/api/v1``,
``/apis/{g}/{v}``) and aggregated discovery (``apidiscovery.k8s.io`` v2 and
v2beta1 ``APIGroupDiscoveryList`` for ``/api`` and ``/apis``), as the
Kubernetes apiserver serves them. Everything is computed from
``pybernetes.api.resources.RESOURCES``: a new kind or group shows up here
without touching this module. Pure functions returning JSON-able dicts.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from pybernetes.api.resources import RESOURCES, ResourceInfo, group_versions

__all__ = [
    "SubresourceInfo",
    "AGGREGATED_V2",
    "AGGREGATED_V2BETA1",
    "subresource_info",
    "storage_version_hash",
    "api_versions",
    "api_group_list",
    "api_group",
    "api_resource_list",
    "negotiate_discovery",
    "aggregated_discovery",
]

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
_AGGREGATED = {"v2": AGGREGATED_V2, "v2beta1": AGGREGATED_V2BETA1}


@dataclass(frozen=True, slots=True)
class SubresourceInfo:
    """What Kubernetes lists for ``{resource}/{name}``.

    ``group``/``version``/``kind`` of None mean "same as the parent resource".
    """

    name: str
    verbs: tuple[str, ...]
    group: str | None = None
    version: str | None = None
    kind: str | None = None


# Kinds and verbs as the Kubernetes apiserver lists them for each subresource.
# Keyed by subresource name; the few whose kind depends on the parent are keyed
# by (parent plural, name).
_SUBRESOURCES: dict[str | tuple[str, str], SubresourceInfo] = {
    "status": SubresourceInfo("status", ("get", "patch", "update")),
    "scale": SubresourceInfo("scale", ("get", "patch", "update"), "autoscaling", "v1", "Scale"),
    "binding": SubresourceInfo("binding", ("create",), "", "v1", "Binding"),
    "eviction": SubresourceInfo("eviction", ("create",), "policy", "v1", "Eviction"),
    "log": SubresourceInfo("log", ("get",)),
    "finalize": SubresourceInfo("finalize", ("update",)),
    "ephemeralcontainers": SubresourceInfo("ephemeralcontainers", ("get", "patch", "update")),
    "resize": SubresourceInfo("resize", ("get", "patch", "update")),
    "exec": SubresourceInfo("exec", ("create", "get"), "", "v1", "PodExecOptions"),
    "attach": SubresourceInfo("attach", ("create", "get"), "", "v1", "PodAttachOptions"),
    "portforward": SubresourceInfo("portforward", ("create", "get"), "", "v1", "PodPortForwardOptions"),
    "token": SubresourceInfo("token", ("create",), "authentication.k8s.io", "v1", "TokenRequest"),
    ("pods", "proxy"): SubresourceInfo(
        "proxy", ("create", "delete", "get", "patch", "update"), "", "v1", "PodProxyOptions"),
    ("nodes", "proxy"): SubresourceInfo(
        "proxy", ("create", "delete", "get", "patch", "update"), "", "v1", "NodeProxyOptions"),
    ("services", "proxy"): SubresourceInfo(
        "proxy", ("create", "delete", "get", "patch", "update"), "", "v1", "ServiceProxyOptions"),
}


def subresource_info(resource: ResourceInfo, name: str) -> SubresourceInfo:
    """Metadata of ``resource``'s subresource ``name`` (kind resolved).

    ``resource.extra["subresources"][name]`` (a SubresourceInfo) overrides the
    built-in table, so a new kind can declare an unusual subresource in one place.
    Unknown names default to the parent's kind with get/patch/update.
    """
    override = (resource.extra or {}).get("subresources", {}).get(name)
    info = override or _SUBRESOURCES.get((resource.plural, name)) or _SUBRESOURCES.get(name)
    if info is None:
        info = SubresourceInfo(name, ("get", "patch", "update"))
    return SubresourceInfo(
        name,
        info.verbs,
        resource.group if info.group is None else info.group,
        resource.version if info.version is None else info.version,
        resource.kind if info.kind is None else info.kind,
    )


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """Kubernetes' storageVersionHash: base64 of the first 8 bytes of sha256("g/v/Kind")."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _served(group: str, version: str) -> list[ResourceInfo]:
    return [r for r in RESOURCES if r.group == group and r.version == version]


def _groups() -> list[tuple[str, list[str]]]:
    """Named groups (core excluded) with their versions, preferred first."""
    out: dict[str, list[str]] = {}
    for g, v in group_versions():
        if g:
            out.setdefault(g, [])
            if v not in out[g]:
                out[g].append(v)
    return list(out.items())


def _gv_for_discovery(group: str, version: str) -> dict:
    return {"groupVersion": f"{group}/{version}", "version": version}


# --------------------------------------------------------------------------- legacy


def api_versions(server_address: str | None = None) -> dict:
    """``GET /api``: APIVersions for the legacy core group.

    ``server_address`` ("host:port") fills serverAddressByClientCIDRs the way
    kube-apiserver advertises itself (CIDR 0.0.0.0/0); without one the list is empty.
    """
    versions = [v for g, v in group_versions() if g == ""]
    cidrs = [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}] if server_address else []
    return {"kind": "APIVersions", "versions": versions, "serverAddressByClientCIDRs": cidrs}


def _api_group(name: str, versions: list[str]) -> dict:
    gvs = [_gv_for_discovery(name, v) for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list() -> dict:
    """``GET /apis``: APIGroupList of every named group."""
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_api_group(g, vs) for g, vs in _groups()],
    }


def api_group(group: str) -> dict | None:
    """``GET /apis/{group}``: APIGroup, or None when the group is not served (404)."""
    for g, vs in _groups():
        if g == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(g, vs)}
    return None


def _api_resources(r: ResourceInfo) -> list[dict]:
    main: dict = {
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        main["shortNames"] = list(r.short_names)
    if r.categories:
        main["categories"] = list(r.categories)
    main["storageVersionHash"] = storage_version_hash(r.group, r.version, r.kind)
    out = [main]
    for sub in r.subresources:
        info = subresource_info(r, sub)
        entry: dict = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced}
        # group/version appear only when they differ from the list's own.
        if (info.group, info.version) != (r.group, r.version):
            entry["group"] = info.group
            entry["version"] = info.version
        entry["kind"] = info.kind
        entry["verbs"] = list(info.verbs)
        out.append(entry)
    return out


def api_resource_list(group: str, version: str) -> dict | None:
    """``GET /api/v1`` (group "") or ``/apis/{g}/{v}``: APIResourceList, or None (404).

    Resources and ``resource/subresource`` entries are sorted by name, as
    Kubernetes lists them.
    """
    served = _served(group, version)
    if not served:
        return None
    resources = sorted(
        (entry for r in served for entry in _api_resources(r)), key=lambda e: e["name"]
    )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# --------------------------------------------------------------------------- aggregated


def _accept_ranges(accept: str) -> list[tuple[int, str, dict[str, str], float]]:
    out = []
    for i, part in enumerate(accept.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for p in pieces[1:]:
            if "=" in p:
                k, v = (s.strip() for s in p.split("=", 1))
                if k.lower() == "q":
                    try:
                        q = float(v)
                    except ValueError:
                        q = 0.0
                else:
                    params[k.lower()] = v.strip('"')
        out.append((i, pieces[0].lower(), params, q))
    out.sort(key=lambda t: (-t[3], t[0]))
    return out


def negotiate_discovery(accept_header: str | None) -> str | None:
    """Which discovery form to serve for ``/api`` and ``/apis``.

    Returns the Content-Type of the aggregated form the client asked for
    (``AGGREGATED_V2`` or ``AGGREGATED_V2BETA1``; JSON only, protobuf ranges
    are skipped) or None for the legacy APIVersions/APIGroupList. The media
    range with the highest q wins, ties in header order; a plain
    ``application/json`` before any aggregated range means legacy.
    """
    if not accept_header:
        return None
    for _, mtype, params, q in _accept_ranges(accept_header):
        if q <= 0:
            continue
        if mtype != "application/json":
            if mtype in ("*/*", "application/*"):
                return None
            continue
        if not params.get("as") and not params.get("g"):
            return None  # plain JSON: legacy documents
        if (params.get("g") == "apidiscovery.k8s.io"
                and params.get("as") == "APIGroupDiscoveryList"
                and params.get("v") in _AGGREGATED):
            return _AGGREGATED[params["v"]]
    return None


def _gvk(group: str, version: str, kind: str) -> dict:
    return {"group": group, "version": version, "kind": kind}


def _resource_discovery(r: ResourceInfo) -> dict:
    entry: dict = {
        "resource": r.plural,
        "responseKind": _gvk(r.group, r.version, r.kind),
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    subs = []
    for sub in r.subresources:
        info = subresource_info(r, sub)
        subs.append({
            "subresource": sub,
            "responseKind": _gvk(info.group, info.version, info.kind),
            "verbs": list(info.verbs),
        })
    if subs:
        entry["subresources"] = sorted(subs, key=lambda s: s["subresource"])
    return entry


def _group_discovery(group: str, versions: list[str]) -> dict:
    metadata: dict = {"name": group, "creationTimestamp": None} if group else {"creationTimestamp": None}
    return {
        "metadata": metadata,
        "versions": [
            {
                "version": v,
                "resources": sorted(
                    (_resource_discovery(r) for r in _served(group, v)), key=lambda e: e["resource"]
                ),
                "freshness": "Current",
            }
            for v in versions
        ],
    }


def aggregated_discovery(root: str, content_type: str = AGGREGATED_V2) -> dict:
    """APIGroupDiscoveryList for ``root`` "api" (core group) or "apis" (named groups).

    ``content_type`` is what ``negotiate_discovery`` returned (or "v2"/"v2beta1");
    it selects the document's apiVersion.
    """
    version = content_type if content_type in _AGGREGATED else None
    if version is None:
        for v, ct in _AGGREGATED.items():
            if ct == content_type:
                version = v
    if version is None:
        raise ValueError(f"not an aggregated discovery form: {content_type!r}")
    if root == "api":
        core = [v for g, v in group_versions() if g == ""]
        items = [_group_discovery("", core)] if core else []
    elif root == "apis":
        items = [_group_discovery(g, vs) for g, vs in _groups()]
    else:
        raise ValueError(f"root must be 'api' or 'apis', not {root!r}")
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }
