"""The service proxy (`pyb proxy`): Services reachable at ``clusterIP:port``
and ``nodeIP:nodePort``, load-balanced over their ready endpoints, in the
spirit of Kubernetes' userspace proxy. See :mod:`.service_proxy`."""

from __future__ import annotations

from .balancer import NoEndpoints, RoundRobin
from .config import ProxyConfig
from .endpoints import ServicePort, endpoints_from_endpoints, endpoints_from_slices, service_ports
from .service_proxy import ServiceProxy

__all__ = ["NoEndpoints", "ProxyConfig", "RoundRobin", "ServicePort", "ServiceProxy",
           "endpoints_from_endpoints", "endpoints_from_slices", "service_ports"]
