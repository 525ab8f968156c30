"""What the proxy serves, read off API objects (pure functions, no I/O).

- :func:`service_ports`: the ports of a Service the proxy opens listeners
  for, with their cluster IPs, node port and session affinity.
- :func:`endpoints_from_slices` / :func:`endpoints_from_endpoints`: the
  ``(ip, port)`` pairs one service port forwards to, from
  ``discovery.k8s.io/v1`` EndpointSlices or a core/v1 Endpoints object.

Readiness follows kube-proxy: a slice endpoint is used when
``conditions.ready`` is true or absent (the API says nil means ready); when a
service has no ready endpoint at all, endpoints that are still ``serving``
while ``terminating`` are used instead, so a rolling scale-down does not
drop traffic. From Endpoints, only ``addresses`` are used (never
``notReadyAddresses``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .config import DEFAULT_AFFINITY_TIMEOUT

__all__ = ["ServicePort", "Endpoint", "service_ports", "endpoints_from_slices",
           "endpoints_from_endpoints", "SERVICE_NAME_LABEL", "SUPPORTED_PROTOCOLS"]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SUPPORTED_PROTOCOLS = ("TCP", "UDP")

Endpoint = tuple[str, int]  # (ip, port)


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of one service. ``name`` is the ServicePortName kube-proxy logs:
    ``namespace/service:port`` (``:port`` omitted when the port is unnamed)."""

    namespace: str
    service: str
    port_name: str
    protocol: str
    port: int
    cluster_ips: tuple[str, ...] = ()
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    affinity_timeout: float | None = None  # seconds when sessionAffinity is ClientIP

    @property
    def service_key(self) -> str:
        return f"{self.namespace}/{self.service}"

    @property
    def name(self) -> str:
        base = self.service_key
        return f"{base}:{self.port_name}" if self.port_name else base


def _cluster_ips(spec: dict) -> tuple[str, ...]:
    ips = [ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if ip and ip != "None"]
    return tuple(dict.fromkeys(ips))


def _affinity_timeout(spec: dict) -> float | None:
    if spec.get("sessionAffinity") != "ClientIP":
        return None
    cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
    return float(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)


def service_ports(svc: dict) -> list[ServicePort]:
    """The ports a service needs listeners for. ExternalName services and
    ports of unsupported protocols (SCTP) give none; a headless service
    (``clusterIP: None``) has no cluster IP but may still have node ports."""
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return []
    ips = _cluster_ips(spec)
    node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
    affinity = _affinity_timeout(spec)
    external = tuple(spec.get("externalIPs") or ())
    out = []
    for p in spec.get("ports") or []:
        proto = p.get("protocol") or "TCP"
        if proto not in SUPPORTED_PROTOCOLS or not p.get("port"):
            continue
        out.append(ServicePort(
            namespace=meta.get("namespace") or "default", service=meta.get("name") or "",
            port_name=p.get("name") or "", protocol=proto, port=int(p["port"]), cluster_ips=ips,
            node_port=int(p.get("nodePort") or 0) if node_ports else 0, external_ips=external,
            affinity_timeout=affinity))
    return out


def _slice_port(sl: dict, port_name: str, protocol: str) -> int | None:
    for p in sl.get("ports") or []:
        if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == protocol and p.get("port"):
            return int(p["port"])
    return None


def endpoints_from_slices(slices: Iterable[dict], *, port_name: str, protocol: str = "TCP") -> list[Endpoint]:
    """Ready endpoints for one service port over all of a service's slices,
    deduplicated and sorted; serving-terminating ones if none is ready."""
    ready: set[Endpoint] = set()
    terminating: set[Endpoint] = set()
    for sl in slices:
        if sl.get("addressType") not in ("IPv4", "IPv6"):
            continue
        port = _slice_port(sl, port_name, protocol)
        if port is None:
            continue
        for ep in sl.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            addrs = [(a, port) for a in ep.get("addresses") or () if a]
            if cond.get("ready") is not False:
                ready.update(addrs)
            elif cond.get("serving") and cond.get("terminating"):
                terminating.update(addrs)
    return sorted(ready or terminating)


def endpoints_from_endpoints(ep: dict | None, *, port_name: str, protocol: str = "TCP") -> list[Endpoint]:
    """Ready addresses of a core/v1 Endpoints object for one service port."""
    out: set[Endpoint] = set()
    for subset in (ep or {}).get("subsets") or []:
        port = _slice_port(subset, port_name, protocol)
        if port is None:
            continue
        out.update((a["ip"], port) for a in subset.get("addresses") or () if a.get("ip"))
    return sorted(out)
