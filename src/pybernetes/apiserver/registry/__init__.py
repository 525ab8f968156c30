"""One strategy per resource, and the table of generic stores built from them."""

from __future__ import annotations

from dataclasses import dataclass

from ...api.resources import RESOURCES, ResourceInfo, by_plural
from ...storage.interface import Storage
from ..store import GenericStore
from ..strategy import Strategy
from .allocators import ip_allocator, port_allocator
from .namespaces import NamespaceLifecycle, NamespaceStrategy
from .pods import PodStrategy
from .services import ServiceStrategy

__all__ = ["RegistryConfig", "build_stores"]


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    service_cluster_ip_range: str = "10.0.0.0/24"
    service_node_port_range: tuple[int, int] = (30000, 32767)


class _StatusKind(Strategy):
    has_status = True


class _ReplicationControllerStrategy(Strategy):
    has_status = True
    tracks_generation = True


def _strategy(resource: ResourceInfo, storage: Storage, config: RegistryConfig) -> Strategy:
    match (resource.group, resource.plural):
        case ("", "pods"):
            return PodStrategy(resource)
        case ("", "namespaces"):
            return NamespaceStrategy(resource)
        case ("", "services"):
            lo, hi = config.service_node_port_range
            return ServiceStrategy(resource, ips=ip_allocator(storage, config.service_cluster_ip_range),
                                   ports=port_allocator(storage, lo, hi))
        case ("", "replicationcontrollers"):
            return _ReplicationControllerStrategy(resource)
        case ("", "nodes"):
            return _StatusKind(resource)
    return Strategy(resource)


def build_stores(storage: Storage, config: RegistryConfig) -> dict[tuple[str, str], GenericStore]:
    lifecycle = NamespaceLifecycle(storage, by_plural("", "namespaces"))
    return {
        (r.group, r.plural): GenericStore(r, _strategy(r, storage, config), storage, namespaces=lifecycle)
        for r in RESOURCES
    }
