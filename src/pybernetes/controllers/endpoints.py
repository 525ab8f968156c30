"""The endpoints controller: one `Endpoints` per service with a selector,
listing the IPs of the pods it selects (ready ones under `addresses`, the rest
under `notReadyAddresses`), written only when they change. Services without a
selector are left to whoever manages their endpoints by hand."""

from __future__ import annotations

import logging

from ..api import labels
from ..client import Controller, errors
from .endpoints_logic import endpoints_labels, endpoints_subsets, subsets_equal
from .podutil import format_time, now, object_key, split_key

__all__ = ["EndpointsController", "ServicePodsController", "services_for_pod"]

log = logging.getLogger(__name__)

_TRIGGER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"


def services_for_pod(services, pod: dict) -> list[str]:
    """Keys of the services (with selectors) in the pod's namespace that select it."""
    ns = pod["metadata"].get("namespace")
    pl = pod["metadata"].get("labels") or {}
    out = []
    for svc in services.list(namespace=ns):
        sel = (svc.get("spec") or {}).get("selector")
        if sel and labels.from_set(sel).matches(pl):
            out.append(object_key(svc))
    return out


def pod_endpoint_changed(old: dict, new: dict) -> bool:
    """Whether a pod update can change any service's endpoints."""
    def view(p):
        s, sp, m = p.get("status") or {}, p.get("spec") or {}, p["metadata"]
        ready = next((c.get("status") for c in s.get("conditions") or () if c.get("type") == "Ready"), None)
        ports = [c.get("ports") for c in sp.get("containers") or ()]
        return (s.get("podIP"), s.get("phase"), ready, m.get("labels"), bool(m.get("deletionTimestamp")),
                sp.get("nodeName"), sp.get("hostname"), sp.get("subdomain"), ports)
    return view(old) != view(new)


class ServicePodsController(Controller):
    """Base of the controllers keyed by service (``namespace/name``) that
    derive objects from the pods a service selects: pod changes that can
    matter queue the services selecting the pod (before and after)."""

    def __init__(self, client, *, services, pods, workers: int):
        super().__init__(workers=workers)
        self.client = client
        self.services = services
        self.pods = pods
        services.add_event_handler(on_add=self._svc, on_update=lambda o, n: self._svc(n), on_delete=self._svc)
        pods.add_event_handler(on_add=self._pod, on_update=self._pod_update, on_delete=self._pod)

    def _svc(self, obj: dict) -> None:
        self.queue.add(object_key(obj))

    def _pod(self, pod: dict) -> None:
        for key in services_for_pod(self.services, pod):
            self.queue.add(key)

    def _pod_update(self, old: dict, new: dict) -> None:
        if not pod_endpoint_changed(old, new):
            return
        keys = set(services_for_pod(self.services, new))
        if old["metadata"].get("labels") != new["metadata"].get("labels"):
            keys |= set(services_for_pod(self.services, old))
        for key in keys:
            self.queue.add(key)

    def selected_pods(self, svc: dict) -> list[dict]:
        """The pods in the service's namespace its (non-empty) selector matches."""
        sel = labels.from_set(svc["spec"]["selector"])
        return [p for p in self.pods.list(namespace=svc["metadata"].get("namespace"))
                if sel.matches(p["metadata"].get("labels") or {})]


class EndpointsController(ServicePodsController):
    """Keys are ``namespace/name`` of services."""

    name = "endpoints-controller"

    def __init__(self, client, *, services, pods, endpoints, workers: int = 5):
        super().__init__(client, services=services, pods=pods, workers=workers)
        self.endpoints = endpoints
        # An Endpoints edited or deleted behind our back is put right.
        endpoints.add_event_handler(on_update=lambda o, n: self._svc(n), on_delete=self._svc)

    async def reconcile(self, key: str) -> None:
        ns, name = split_key(key)
        svc = self.services.get(key)
        api = self.client.endpoints(ns)
        if svc is None:
            # The service is gone: so are its endpoints (if we made them).
            if self.endpoints.get(key) is not None:
                try:
                    await api.delete(name)
                except errors.NotFound:
                    pass
            return
        if not (svc.get("spec") or {}).get("selector"):
            return
        subsets = endpoints_subsets(svc, self.selected_pods(svc))
        want_labels = endpoints_labels(svc)
        current = self.endpoints.get(key)
        if current is not None and subsets_equal(current.get("subsets"), subsets) \
                and (current["metadata"].get("labels") or {}) == want_labels:
            return
        annotations = dict((current or {}).get("metadata", {}).get("annotations") or {})
        annotations[_TRIGGER_ANNOTATION] = format_time(now())
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": ns, "labels": want_labels, "annotations": annotations},
                "subsets": subsets}
        if current is None:
            try:
                await api.create(body)
            except errors.AlreadyExists:
                self.queue.add(key)  # our cache lags: look again with the object in it
            return
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            await api.update(body)
        except (errors.Conflict, errors.NotFound):
            self.queue.add(key)
