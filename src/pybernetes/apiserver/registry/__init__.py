"""One strategy per resource, and the table of generic stores built from them."""

from __future__ import annotations

import base64
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


class _SecretStrategy(Strategy):
    """`stringData` is write-only: merged into `data` (base64), overriding, as
    Kubernetes' v1 conversion does."""

    @staticmethod
    def _merge_string_data(obj: dict) -> None:
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data

    def prepare_for_create(self, obj: dict) -> None:
        self._merge_string_data(obj)
        super().prepare_for_create(obj)

    def prepare_for_update(self, new: dict, old: dict) -> None:
        self._merge_string_data(new)
        super().prepare_for_update(new, old)


def _strategy(resource: ResourceInfo, storage: Storage, config: RegistryConfig,
              lifecycle: NamespaceLifecycle) -> Strategy:
    match (resource.group, resource.plural):
        case ("", "pods"):
            return PodStrategy(resource)
        case ("", "namespaces"):
            return NamespaceStrategy(resource, lifecycle=lifecycle)
        case ("", "services"):
            lo, hi = config.service_node_port_range
            return ServiceStrategy(resource, ips=ip_allocator(storage, config.service_cluster_ip_range),
                                   ports=port_allocator(storage, lo, hi))
        case ("", "replicationcontrollers"):
            return _ReplicationControllerStrategy(resource)
        case ("", "nodes"):
            return _StatusKind(resource)
        case ("", "secrets"):
            return _SecretStrategy(resource)
    return Strategy(resource)


def build_stores(storage: Storage, config: RegistryConfig) -> dict[tuple[str, str], GenericStore]:
    lifecycle = NamespaceLifecycle(storage, by_plural("", "namespaces"))
    return {
        (r.group, r.plural): GenericStore(r, _strategy(r, storage, config, lifecycle), storage,
                                          namespaces=lifecycle)
        for r in RESOURCES
    }
