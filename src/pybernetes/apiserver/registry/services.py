"""Services: a cluster IP from the service range and node ports for
NodePort/LoadBalancer services, released when the service goes."""

from __future__ import annotations

from ...api.field_errors import FieldError, invalid
from .. import errors
from ..strategy import Strategy
from .allocators import AllocationError, Allocator

__all__ = ["ServiceStrategy"]


def _needs_node_ports(spec: dict) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _owner(obj: dict) -> str:
    return f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"


class ServiceStrategy(Strategy):
    has_status = True
    return_deleted_object = True

    def __init__(self, resource, *, ips: Allocator, ports: Allocator):
        super().__init__(resource)
        self.ips = ips
        self.ports = ports

    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"loadBalancer": {}}

    def prepare_for_update(self, new: dict, old: dict) -> None:
        super().prepare_for_update(new, old)
        # As Kubernetes' service registry: an update that omits the cluster IP
        # keeps the allocated one (before validation sees it as a change).
        spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
        if old_spec.get("clusterIP") and not spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
            spec["clusterIPs"] = old_spec.get("clusterIPs") or [old_spec["clusterIP"]]

    def _invalid(self, obj: dict, err: FieldError) -> errors.APIError:
        from ...api.field_errors import causes, invalid_message
        name = obj["metadata"]["name"]
        return errors.invalid("Service", name, invalid_message("Service", name, [err]), causes([err]))

    async def before_create(self, store, obj: dict) -> None:
        spec = obj.setdefault("spec", {})
        owner = _owner(obj)
        taken: list[tuple[Allocator, str]] = []
        try:
            if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
                wanted = spec.get("clusterIP") or None
                try:
                    ip = await self.ips.allocate(owner, wanted)
                except AllocationError as e:
                    raise self._invalid(obj, invalid("spec.clusterIPs", [wanted or ""],
                                                     f"failed to allocate IP {wanted}: {e}")) from None
                taken.append((self.ips, ip))
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
            elif spec.get("clusterIP") == "None":
                spec["clusterIPs"] = ["None"]
            if _needs_node_ports(spec):
                await self._allocate_ports(obj, spec, owner, taken)
        except BaseException:
            for alloc, member in taken:
                await alloc.release(member)
            raise

    async def _allocate_ports(self, obj: dict, spec: dict, owner: str, taken: list, *,
                              keep_owned: bool = False) -> None:
        for i, port in enumerate(spec.get("ports") or []):
            wanted = port.get("nodePort")
            if keep_owned and wanted and await self.ports.owner_of(str(wanted)) == owner:
                continue  # already ours (an update keeping its port)
            try:
                got = await self.ports.allocate(owner, str(wanted) if wanted else None)
            except AllocationError as e:
                raise self._invalid(obj, invalid(f"spec.ports[{i}].nodePort", wanted or 0,
                                                 str(e))) from None
            taken.append((self.ports, got))
            port["nodePort"] = int(got)

    async def after_create_failed(self, store, obj: dict) -> None:
        # Only what before_create claimed for this object carries its owner key.
        await self.after_delete(store, obj)

    async def before_update(self, store, new: dict, old: dict) -> None:
        spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
        old_ports = {p.get("nodePort") for p in old_spec.get("ports") or [] if p.get("nodePort")}
        taken: list = []
        if _needs_node_ports(spec):
            # Keep node ports the old service had for the same port when the client omitted them.
            by_port = {(p.get("port"), p.get("protocol")): p.get("nodePort")
                       for p in old_spec.get("ports") or []}
            for p in spec.get("ports") or []:
                if not p.get("nodePort") and by_port.get((p.get("port"), p.get("protocol"))):
                    p["nodePort"] = by_port[(p.get("port"), p.get("protocol"))]
            await self._allocate_ports(new, spec, _owner(new), taken, keep_owned=True)
        else:
            for p in spec.get("ports") or []:
                p.pop("nodePort", None)
        new_ports = {p.get("nodePort") for p in spec.get("ports") or [] if p.get("nodePort")}
        for port in old_ports - new_ports:
            await self.ports.release(str(port))

    async def after_delete(self, store, obj: dict) -> None:
        spec = obj.get("spec") or {}
        ip = spec.get("clusterIP")
        if ip and ip != "None" and self.ips.contains(ip) and await self.ips.owner_of(ip) == _owner(obj):
            await self.ips.release(ip)
        for p in spec.get("ports") or []:
            if p.get("nodePort") and await self.ports.owner_of(str(p["nodePort"])) == _owner(obj):
                await self.ports.release(str(p["nodePort"]))
