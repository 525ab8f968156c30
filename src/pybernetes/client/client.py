"""The async client: typed accessors over a backend.

``Interface`` holds the noun-then-verb accessors (``pods(ns)``, ``nodes()``,
``resource(group, version, plural, ns)``); :class:`Client` backs them with
HTTP, :class:`~pybernetes.client.fake.FakeClient` with memory.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from ..api.resources import RESOURCES, ResourceInfo, by_plural
from .kubeconfig import KubeConfig, load_kubeconfig, split_servers
from .resource import Backend, PodClient, ResourceClient
from .transport import HTTPBackend

__all__ = ["Interface", "Client", "resource_info"]


def resource_info(group: str, version: str, plural: str, *, namespaced: bool | None = None,
                  kind: str = "") -> ResourceInfo:
    """The served kind for (group, version, plural). Kinds outside the table
    (custom resources) get a row built on the spot: namespaced unless told."""
    info = by_plural(group, plural)
    if info is not None and info.version == version:
        return info
    if info is not None:
        return ResourceInfo(group, version, info.kind, plural, info.namespaced,
                            subresources=info.subresources, definition=info.definition)
    return ResourceInfo(group, version, kind or plural, plural, True if namespaced is None else namespaced,
                        subresources=("status",))


class Interface:
    """Typed accessors shared by the real and the fake client."""

    backend: Backend
    namespace: str = "default"  # the kubeconfig context's namespace

    def resource_for(self, info: ResourceInfo, namespace: str | None = None) -> ResourceClient:
        cls = PodClient if (info.group, info.plural) == ("", "pods") else ResourceClient
        return cls(self.backend, info, namespace)

    def resource(self, group: str, version: str, plural: str, namespace: str | None = None, *,
                 namespaced: bool | None = None, kind: str = "") -> ResourceClient:
        """Any kind by group/version/plural (``namespaced``/``kind`` only matter
        for kinds outside the resource table)."""
        return self.resource_for(resource_info(group, version, plural, namespaced=namespaced, kind=kind),
                                 namespace)

    def _core(self, plural: str, namespace: str | None) -> Any:
        return self.resource_for(by_plural("", plural), namespace)  # type: ignore[arg-type]

    def pods(self, namespace: str | None = None) -> PodClient:
        return self._core("pods", namespace)

    def replication_controllers(self, namespace: str | None = None) -> ResourceClient:
        return self._core("replicationcontrollers", namespace)

    def services(self, namespace: str | None = None) -> ResourceClient:
        return self._core("services", namespace)

    def endpoints(self, namespace: str | None = None) -> ResourceClient:
        return self._core("endpoints", namespace)

    def events(self, namespace: str | None = None) -> ResourceClient:
        return self._core("events", namespace)

    def config_maps(self, namespace: str | None = None) -> ResourceClient:
        return self._core("configmaps", namespace)

    def secrets(self, namespace: str | None = None) -> ResourceClient:
        return self._core("secrets", namespace)

    def service_accounts(self, namespace: str | None = None) -> ResourceClient:
        return self._core("serviceaccounts", namespace)

    def nodes(self) -> ResourceClient:
        return self._core("nodes", None)

    def namespaces(self) -> ResourceClient:
        return self._core("namespaces", None)

    def leases(self, namespace: str | None = None) -> ResourceClient:
        return self.resource("coordination.k8s.io", "v1", "leases", namespace)

    def endpoint_slices(self, namespace: str | None = None) -> ResourceClient:
        return self.resource("discovery.k8s.io", "v1", "endpointslices", namespace)

    @staticmethod
    def served_resources() -> tuple[ResourceInfo, ...]:
        return RESOURCES

    async def version(self) -> dict:
        return await self.backend.version()  # type: ignore[attr-defined]

    async def server_resources(self) -> list[dict]:
        return await self.backend.server_resources()  # type: ignore[attr-defined]

    async def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            await close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Client(Interface):
    """The asyncio client. One pooled keep-alive HTTP session per client;
    ``await client.close()`` (or ``async with``) releases it.

    Several apiservers: ``Client(servers=[URL, ...])`` (with ``config`` for
    credentials, or alone for plain unauthenticated URLs),
    ``Client.from_url("URL1,URL2", token=...)``, a KubeConfig with
    ``failover_servers``, or ``$PYB_APISERVERS`` beside a kubeconfig. The
    client uses the first URL until it cannot be reached, then the next (see
    :mod:`pybernetes.client.transport` for what is retried)."""

    def __init__(self, config: KubeConfig | None = None, *, servers: Sequence[str] | None = None,
                 request_timeout: float = 60.0, pool_size: int = 0, max_retries: int = 5):
        if servers is not None:
            urls = [u.rstrip("/") for u in servers if u]
            if not urls:
                raise ValueError("servers: give at least one apiserver URL")
            config = (dataclasses.replace(config, server=urls[0], failover_servers=tuple(urls[1:]))
                      if config is not None else KubeConfig(server=urls[0], failover_servers=tuple(urls[1:])))
        if config is None:
            raise ValueError("Client needs a KubeConfig or servers=[URL, ...]")
        self.config = config
        self.namespace = config.namespace
        self.backend = HTTPBackend(config, request_timeout=request_timeout, pool_size=pool_size,
                                   max_retries=max_retries)

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike | None = None, context: str | None = None,
                        **kw: Any) -> Client:
        return cls(load_kubeconfig(path, context), **kw)

    @classmethod
    def from_url(cls, server: str, *, token: str | None = None, **kw: Any) -> Client:
        """``server``: one URL, or several separated by commas (failover order)."""
        urls = split_servers(server)
        if not urls:
            raise ValueError("from_url: no apiserver URL given")
        return cls(KubeConfig(server=urls[0], token=token, failover_servers=urls[1:]), **kw)

    def __repr__(self) -> str:
        return f"<Client {','.join(self.config.servers)}>"
