"""The proxy's settings (one frozen dataclass; `pyb proxy` flags map onto it)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["ProxyConfig", "DIAL_TIMEOUTS", "DEFAULT_AFFINITY_TIMEOUT"]

# Kubernetes' userspace proxy (`EndpointDialTimeouts`): one attempt per entry,
# each on the next endpoint, so a dead endpoint costs at most 250 ms when
# another one is alive.
DIAL_TIMEOUTS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
# `sessionAffinityConfig.clientIP.timeoutSeconds` default (3 hours).
DEFAULT_AFFINITY_TIMEOUT = 10800


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """How the proxy listens.

    - ``service_cluster_ip_range``: must equal the apiserver's flag of the same
      name; the proxy only adds (and cleans up) loopback addresses inside it.
    - ``nodeport_addresses``: IPs NodePort listeners bind; ``"0.0.0.0"`` / ``"::"``
      mean every address. Defaults to loopback (the project listens on
      127.0.0.1 unless told otherwise).
    - ``manage_loopback``: add each cluster IP to ``lo`` (``ip addr add IP/32 dev
      lo``) and remove it when the service goes or the proxy stops cleanly.
      None = when running as root.
    - ``bind_cluster_ips``: open listeners on cluster IPs at all (False = NodePort only).
    - ``udp_idle_timeout``: a UDP client session with no traffic for this long
      is closed (kube-proxy's ``--udp-timeout``, 250 ms).
    - ``dial_timeouts``: per-attempt connect timeouts; each failed attempt moves
      to the next endpoint.
    - ``tcp_data_path``: how established TCP connections move bytes:
      ``"splice"`` (in the kernel, Linux), ``"asyncio"`` (transports); None =
      splice where available.
    """

    service_cluster_ip_range: str = "10.0.0.0/24"
    nodeport_addresses: tuple[str, ...] = ("127.0.0.1",)
    manage_loopback: bool | None = None
    bind_cluster_ips: bool = True
    udp_idle_timeout: float = 0.25
    dial_timeouts: tuple[float, ...] = DIAL_TIMEOUTS
    loopback_label: str = "lo:pyb"
    namespace: str | None = None  # None: every namespace
    tcp_data_path: str | None = None

    def __post_init__(self) -> None:
        for cidr in self.service_cluster_ip_range.split(","):
            ipaddress.ip_network(cidr.strip(), strict=False)
        for addr in self.nodeport_addresses:
            ipaddress.ip_address(addr)
        if not self.dial_timeouts:
            raise ValueError("dial_timeouts must not be empty")
        if self.tcp_data_path not in (None, "splice", "asyncio"):
            raise ValueError(f"tcp_data_path must be splice or asyncio, not {self.tcp_data_path!r}")

    @property
    def service_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(c.strip(), strict=False)
                     for c in self.service_cluster_ip_range.split(","))

    def in_service_range(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.service_networks)
