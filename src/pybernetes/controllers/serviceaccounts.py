"""The service account controller: every active namespace has a `default`
ServiceAccount (re-created if deleted). The official Python client's tests
wait for it before creating pods."""

from __future__ import annotations

import logging

from ..client import Controller, errors

__all__ = ["ServiceAccountsController", "DEFAULT_NAME"]

log = logging.getLogger(__name__)

DEFAULT_NAME = "default"


class ServiceAccountsController(Controller):
    """Keys are namespace names."""

    name = "serviceaccount-controller"

    def __init__(self, client, *, namespaces, service_accounts, workers: int = 2):
        super().__init__(workers=workers)
        self.client = client
        self.namespaces = namespaces
        self.service_accounts = service_accounts
        namespaces.add_event_handler(on_add=self._ns, on_update=lambda o, n: self._ns(n))
        service_accounts.add_event_handler(on_delete=self._sa)

    def _ns(self, ns: dict) -> None:
        self.queue.add(ns["metadata"]["name"])

    def _sa(self, sa: dict) -> None:
        if sa["metadata"]["name"] == DEFAULT_NAME:
            self.queue.add(sa["metadata"]["namespace"])

    async def reconcile(self, name: str) -> None:
        ns = self.namespaces.get(name)
        if ns is None or ns["metadata"].get("deletionTimestamp") \
                or (ns.get("status") or {}).get("phase") == "Terminating":
            return
        if self.service_accounts.get(f"{name}/{DEFAULT_NAME}") is not None:
            return
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT_NAME, "namespace": name}}
        try:
            await self.client.service_accounts(name).create(body)
        except errors.AlreadyExists:
            pass
        except (errors.Forbidden, errors.NotFound):
            pass  # namespace going away or gone
