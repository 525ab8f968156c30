"""The endpointslice controller: `discovery.k8s.io/v1` EndpointSlices for
every service with a selector (what `kubectl describe service` reads), at most
100 endpoints per slice, one set of slices per distinct port list, owned by the
service so the garbage collector removes them with it."""

from __future__ import annotations

import logging

from ..client import errors
from .endpoints import ServicePodsController
from .endpoints_logic import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    plan_slices,
    slice_endpoints,
)
from .podutil import split_key

__all__ = ["EndpointSliceController", "slice_service_key"]

log = logging.getLogger(__name__)

SLICES_BY_SERVICE = "by-service"


def slice_service_key(sl: dict) -> list[str]:
    """Index function: a managed slice's service key."""
    lab = sl["metadata"].get("labels") or {}
    svc = lab.get(SERVICE_NAME_LABEL)
    if not svc or lab.get(MANAGED_BY_LABEL) != MANAGED_BY:
        return []
    return [f"{sl['metadata']['namespace']}/{svc}"]


class EndpointSliceController(ServicePodsController):
    """Keys are ``namespace/name`` of services. ``slices`` must be an informer
    with the :func:`slice_service_key` index named ``SLICES_BY_SERVICE``."""

    name = "endpointslice-controller"

    def __init__(self, client, *, services, pods, slices, workers: int = 5):
        super().__init__(client, services=services, pods=pods, workers=workers)
        self.slices = slices
        slices.add_event_handler(on_update=lambda o, n: self._slice(n), on_delete=self._slice)

    def _slice(self, sl: dict) -> None:
        for key in slice_service_key(sl):
            self.queue.add(key)

    async def reconcile(self, key: str) -> None:
        ns, name = split_key(key)
        svc = self.services.get(key)
        if svc is None or not (svc.get("spec") or {}).get("selector"):
            return  # the garbage collector removes slices owned by a deleted service
        existing = [s for s in self.slices.by_index(SLICES_BY_SERVICE, key)
                    if any(r.get("uid") == svc["metadata"]["uid"] for r in s["metadata"].get("ownerReferences") or ())
                    or not s["metadata"].get("ownerReferences")]
        creates, updates, deletes = plan_slices(svc, existing, slice_endpoints(svc, self.selected_pods(svc)))
        api = self.client.resource("discovery.k8s.io", "v1", "endpointslices", ns)
        stale = False
        for body in creates:
            await api.create(body)
        for body in updates:
            try:
                await api.update(body)
            except (errors.Conflict, errors.NotFound):
                stale = True
        for body in deletes:
            try:
                await api.delete(body["metadata"]["name"])
            except errors.NotFound:
                pass
        if stale:
            self.queue.add(key)
