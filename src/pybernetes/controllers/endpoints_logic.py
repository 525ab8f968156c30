"""Pure decisions of the endpoints and endpointslice controllers (no I/O):
which pods back a service, on which ports, packed as Kubernetes packs them."""

from __future__ import annotations

import ipaddress

from .podutil import is_pod_ready

__all__ = [
    "find_port", "should_pod_be_in_endpoints", "endpoints_subsets", "endpoints_labels",
    "subsets_equal", "slice_endpoints", "plan_slices", "MAX_ENDPOINTS_PER_SLICE",
    "SERVICE_NAME_LABEL", "MANAGED_BY_LABEL", "MANAGED_BY", "HEADLESS_LABEL",
]

MAX_ENDPOINTS_PER_SLICE = 100
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"


def find_port(pod: dict, service_port: dict) -> int | None:
    """The pod port a service port targets: ``targetPort`` as a number is used
    as is; as a name it is looked up among the containers' ports of the same
    protocol. None when the name is not found (the pod is skipped for that port)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    proto = service_port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("name") == target and (p.get("protocol") or "TCP") == proto:
                return int(p["containerPort"])
    return None


def should_pod_be_in_endpoints(pod: dict, *, include_terminating: bool) -> bool:
    """Kubernetes' ShouldPodBeInEndpoints: a finished pod that will not restart is out."""
    meta = pod["metadata"]
    if not include_terminating and meta.get("deletionTimestamp"):
        return False
    spec, phase = pod.get("spec") or {}, (pod.get("status") or {}).get("phase")
    policy = spec.get("restartPolicy") or "Always"
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def _address(pod: dict, service: dict) -> dict:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    addr = {"ip": pod["status"]["podIP"]}
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        addr["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        addr["nodeName"] = spec["nodeName"]
    addr["targetRef"] = {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta["name"],
                         "uid": meta.get("uid")}
    return addr


def _endpoint_port(sp: dict, number: int) -> dict:
    port = {"port": number, "protocol": sp.get("protocol") or "TCP"}
    if sp.get("name"):
        port["name"] = sp["name"]
    if sp.get("appProtocol"):
        port["appProtocol"] = sp["appProtocol"]
    return port


def _port_key(port: dict) -> tuple:
    return (port.get("name") or "", port["port"], port.get("protocol") or "TCP", port.get("appProtocol") or "")


def endpoints_subsets(service: dict, pods: list[dict]) -> list[dict]:
    """Endpoints subsets for a service with a selector and the pods it selects:
    ready pods under ``addresses``, the others under ``notReadyAddresses``
    (all under ``addresses`` with ``publishNotReadyAddresses``), grouped by the
    ports they serve, in a canonical order so equal inputs give equal output."""
    spec = service.get("spec") or {}
    tolerate = bool(spec.get("publishNotReadyAddresses"))
    headless = spec.get("clusterIP") == "None"
    sports = spec.get("ports") or []
    # ports tuple -> (ready addresses by ip, not-ready addresses by ip)
    groups: dict[tuple, tuple[dict, dict]] = {}
    for pod in pods:
        if not (pod.get("status") or {}).get("podIP"):
            continue
        if not tolerate and pod["metadata"].get("deletionTimestamp"):
            continue
        if not should_pod_be_in_endpoints(pod, include_terminating=tolerate):
            continue
        addr = _address(pod, service)
        ready = tolerate or is_pod_ready(pod)
        if not sports:
            if not headless:
                continue
            ports: tuple = ()
        else:
            resolved = []
            for sp in sports:
                n = find_port(pod, sp)
                if n is not None:
                    resolved.append(_endpoint_port(sp, n))
            if not resolved:
                continue
            ports = tuple(sorted((_port_key(p), tuple(sorted(p.items()))) for p in resolved))
        ready_map, not_ready_map = groups.setdefault(ports, ({}, {}))
        (ready_map if ready else not_ready_map)[addr["ip"]] = addr
    subsets = []
    for ports, (ready_map, not_ready_map) in groups.items():
        subset: dict = {}
        if ready_map:
            subset["addresses"] = [ready_map[ip] for ip in sorted(ready_map, key=_ip_sort_key)]
        if not_ready_map:
            subset["notReadyAddresses"] = [not_ready_map[ip] for ip in sorted(not_ready_map, key=_ip_sort_key)]
        if ports:
            subset["ports"] = [dict(items) for _, items in ports]
        subsets.append(subset)
    subsets.sort(key=lambda s: [(_ip_sort_key(a["ip"])) for a in s.get("addresses") or s.get("notReadyAddresses")])
    return subsets


def _ip_sort_key(ip: str) -> tuple:
    try:
        a = ipaddress.ip_address(ip)
        return (a.version, int(a))
    except ValueError:
        return (9, ip)


def endpoints_labels(service: dict) -> dict:
    """Endpoints carry the service's labels, plus the headless marker."""
    out = dict(service["metadata"].get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        out[HEADLESS_LABEL] = ""
    else:
        out.pop(HEADLESS_LABEL, None)
    return out


def subsets_equal(a: list[dict] | None, b: list[dict] | None) -> bool:
    """Subsets compare as sets: order of subsets, addresses and ports does not matter."""
    def canon(subsets):
        out = []
        for s in subsets or ():
            out.append((
                sorted(_canon_addr(x) for x in s.get("addresses") or ()),
                sorted(_canon_addr(x) for x in s.get("notReadyAddresses") or ()),
                sorted(_port_key(p) for p in s.get("ports") or ()),
            ))
        return sorted(out)
    return canon(a) == canon(b)


def _canon_addr(a: dict) -> tuple:
    ref = a.get("targetRef") or {}
    return (a.get("ip"), a.get("hostname") or "", a.get("nodeName") or "", ref.get("name") or "",
            ref.get("uid") or "")


# ----------------------------------------------------------------- EndpointSlices
def slice_endpoints(service: dict, pods: list[dict]) -> dict[tuple, dict]:
    """The endpoints a service's slices should hold, grouped by (addressType,
    ports). Returns {group key: {"addressType", "ports", "endpoints"}}; the
    endpoints of a group are sorted by IP. Terminating pods are listed with
    ``terminating: true`` as Kubernetes does."""
    spec = service.get("spec") or {}
    tolerate = bool(spec.get("publishNotReadyAddresses"))
    sports = spec.get("ports") or []
    groups: dict[tuple, dict] = {}
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or not should_pod_be_in_endpoints(pod, include_terminating=True):
            continue
        meta, pspec = pod["metadata"], pod.get("spec") or {}
        terminating = bool(meta.get("deletionTimestamp"))
        serving = tolerate or is_pod_ready(pod)
        ep: dict = {"addresses": [ip],
                    "conditions": {"ready": serving and (tolerate or not terminating),
                                   "serving": serving, "terminating": terminating}}
        if pspec.get("hostname") and pspec.get("subdomain") == service["metadata"]["name"]:
            ep["hostname"] = pspec["hostname"]
        if pspec.get("nodeName"):
            ep["nodeName"] = pspec["nodeName"]
        ep["targetRef"] = {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta["name"],
                           "uid": meta.get("uid")}
        ports = []
        for sp in sports:
            n = find_port(pod, sp)
            if n is not None:
                ports.append(_endpoint_port(sp, n))
        if sports and not ports:
            continue
        ports.sort(key=_port_key)
        family = "IPv6" if ":" in ip else "IPv4"
        key = (family, tuple(_port_key(p) for p in ports))
        g = groups.setdefault(key, {"addressType": family, "ports": ports, "endpoints": []})
        g["endpoints"].append(ep)
    for g in groups.values():
        g["endpoints"].sort(key=lambda e: _ip_sort_key(e["addresses"][0]))
    return groups


def _slice_group_key(sl: dict) -> tuple:
    return (sl.get("addressType") or "IPv4", tuple(sorted(_port_key(p) for p in sl.get("ports") or ())))


def _canon_endpoints(eps: list[dict] | None) -> list:
    return sorted(repr(sorted((k, repr(v)) for k, v in e.items())) for e in eps or ())


def plan_slices(service: dict, existing: list[dict], desired: dict[tuple, dict], *,
                max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> tuple[list[dict], list[dict], list[dict]]:
    """Turn desired endpoint groups into (slices to create, slices to update,
    slices to delete) given the service's existing managed slices. Existing
    slices of a group are reused in name order; unchanged ones are not touched."""
    creates: list[dict] = []
    updates: list[dict] = []
    by_group: dict[tuple, list[dict]] = {}
    for sl in sorted(existing, key=lambda s: s["metadata"]["name"]):
        by_group.setdefault(_slice_group_key(sl), []).append(sl)
    svc_labels = endpoints_labels(service)
    want_labels = {**svc_labels, SERVICE_NAME_LABEL: service["metadata"]["name"], MANAGED_BY_LABEL: MANAGED_BY}
    for key, group in desired.items():
        eps = group["endpoints"]
        chunks = [eps[i:i + max_per_slice] for i in range(0, len(eps), max_per_slice)] or [[]]
        have = by_group.pop(key, [])
        for i, chunk in enumerate(chunks):
            if i < len(have):
                sl = have[i]
                if (_canon_endpoints(sl.get("endpoints")) != _canon_endpoints(chunk)
                        or (sl["metadata"].get("labels") or {}) != want_labels):
                    new = dict(sl)
                    new["metadata"] = {**sl["metadata"], "labels": want_labels}
                    new["endpoints"] = chunk
                    updates.append(new)
            else:
                creates.append(_new_slice(service, group, chunk, want_labels))
        stale = have[len(chunks):]
        by_group.setdefault(("stale",), []).extend(stale)
    deletes = [sl for slices in by_group.values() for sl in slices]
    # A service with no endpoints at all keeps one empty slice (as Kubernetes does).
    if not desired and not existing:
        family = "IPv6" if ":" in ((service.get("spec") or {}).get("clusterIP") or "") else "IPv4"
        creates.append(_new_slice(service, {"addressType": family, "ports": []}, [], want_labels))
    elif not desired and existing:
        keep = deletes.pop(0)
        if keep.get("endpoints") or (keep["metadata"].get("labels") or {}) != want_labels:
            new = dict(keep)
            new["metadata"] = {**keep["metadata"], "labels": want_labels}
            new["endpoints"] = []
            updates.append(new)
    return creates, updates, deletes


def _new_slice(service: dict, group: dict, endpoints: list[dict], labels: dict) -> dict:
    meta = service["metadata"]
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "generateName": meta["name"] + "-", "namespace": meta["namespace"], "labels": dict(labels),
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                 "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
        },
        "addressType": group["addressType"],
        "endpoints": endpoints,
        "ports": list(group.get("ports") or []),
    }
