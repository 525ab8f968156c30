"""The apiserver side of ``pods/log``: find the pod's kubelet and stream the
log from its HTTPS server (``GET /containerLogs/{ns}/{pod}/{container}``).

Plugged into ``APIHandlers(log_proxy=...)`` (or ``handlers.log_proxy = ...``)::

    proxy = KubeletLogProxy(get_node=lambda name: stores[("", "nodes")].get(None, name),
                            token=kubelet_token)

The kubelet's address is the node's InternalIP (else ExternalIP, else
Hostname) from ``status.addresses`` and its port is
``status.daemonEndpoints.kubeletEndpoint.Port``. ``container`` is checked
against the pod as Kubernetes' LogLocation does; ``follow``, ``tailLines``,
``previous``, ``timestamps``, ``limitBytes``, ``sinceSeconds`` and
``sinceTime`` are forwarded; the body is streamed as it arrives.

TLS: kubelets serve a self-signed certificate for now, so the proxy does not
verify it unless ``ca_file`` is given (TODO: verify once `pyb up` issues
kubelet certificates from the cluster CA). The bearer ``token`` is what
kubelets were started with (``pyb kubelet --token/--token-file``).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import aiohttp
from aiohttp import web

from . import errors

__all__ = ["KubeletLogProxy", "kubelet_location", "log_container"]

FORWARDED = ("follow", "tailLines", "previous", "timestamps", "limitBytes", "sinceSeconds", "sinceTime")


def kubelet_location(node: dict) -> tuple[str, int]:
    """(host, port) of the node's kubelet server."""
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or ()}
    host = addresses.get("InternalIP") or addresses.get("ExternalIP") or addresses.get("Hostname")
    if not port or not host:
        raise errors.bad_request(f"node {node['metadata']['name']} has no kubelet endpoint yet")
    return host, int(port)


def log_container(pod: dict, requested: str | None) -> str:
    """The container whose log is asked for, with Kubernetes' errors."""
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    containers = [c["name"] for c in spec.get("containers") or ()]
    init = [c["name"] for c in spec.get("initContainers") or ()]
    if not requested:
        if len(containers) == 1:
            return containers[0]
        msg = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        if init:
            msg += f" or one of the init containers: [{' '.join(init)}]"
        raise errors.bad_request(msg)
    if requested not in containers and requested not in init:
        raise errors.bad_request(f"container {requested} is not valid for pod {name}")
    return requested


class KubeletLogProxy:
    def __init__(self, *, get_node: Callable[[str], Awaitable[dict]], token: str | None,
                 ca_file: str | None = None):
        self.get_node = get_node
        self.token = token
        if ca_file:
            self._ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file)
        else:
            # Kubelet certificates are self-signed until the cluster CA issues them.
            self._ssl = False
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __call__(self, pod: dict, request: web.Request) -> web.StreamResponse:
        meta = pod["metadata"]
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise errors.bad_request(f"pod {meta['name']} does not have a host assigned")
        container = log_container(pod, request.query.get("container"))
        host, port = kubelet_location(await self.get_node(node_name))
        ns = meta.get("namespace") or "default"
        url = f"https://{host}:{port}/containerLogs/{quote(ns)}/{quote(meta['name'])}/{quote(container)}"
        params = {k: request.query[k] for k in FORWARDED if k in request.query}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            upstream = await self._http().get(url, params=params, headers=headers, ssl=self._ssl)
        except (aiohttp.ClientError, OSError) as e:
            raise errors.internal_error(f'Get "{url}": {e}') from None
        try:
            if upstream.status != 200:
                body = await upstream.read()
                if upstream.headers.get("Content-Type", "").startswith("application/json"):
                    return web.Response(status=upstream.status, body=body, content_type="application/json")
                raise errors.APIError(upstream.status, "InternalError", body.decode(errors="replace").strip())
            resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
            await resp.prepare(request)
            async for chunk in upstream.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        finally:
            upstream.release()
