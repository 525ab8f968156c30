"""The kubelet's HTTPS server: container logs for `kubectl logs` (through the
apiserver's pods/log proxy), the pods it runs, and health.

Every path but ``/healthz`` needs ``Authorization: Bearer <token>`` with the
token given to the kubelet (``--token`` / ``--token-file``); a kubelet
without a token refuses every request — never anonymous access. Paths follow
the real kubelet's API: ``GET /containerLogs/{namespace}/{pod}/{container}``
with ``follow``, ``tailLines``, ``previous``, ``timestamps``, ``limitBytes``,
``sinceSeconds``, ``sinceTime``; ``GET /pods``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import datetime
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from .certs import ensure_serving_cert, server_ssl_context
from .runtime.logs import LogOptions, follow_log, read_log

if TYPE_CHECKING:
    from .kubelet import Kubelet

__all__ = ["LogServer"]

log = logging.getLogger(__name__)


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return web.Response(status=code, body=orjson.dumps(body), content_type="application/json")


def _bool(v: str | None) -> bool:
    return (v or "").lower() in ("true", "1")


def _int(q, name: str) -> int | None:
    v = q.get(name)
    if v in (None, ""):
        return None
    try:
        return int(v)
    except ValueError:
        raise web.HTTPBadRequest(text=f"invalid {name}: {v!r}") from None


class LogServer:
    def __init__(self, kubelet: Kubelet, *, address: str, port: int, token: str | None, pki_dir: str):
        self.kubelet = kubelet
        self.address = address
        self.port = port
        self.token = token
        self.pki_dir = pki_dir
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/pods", self._pods)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_get("/containerLogs/{namespace}/{pod}", self._logs)
        return app

    async def start(self) -> int:
        """Listen; returns the port (useful with port 0)."""
        ips = [self.kubelet.node_ip, "127.0.0.1"]
        if self.address not in ("0.0.0.0", "::", ""):
            ips.append(self.address)
        cert, key = await asyncio.to_thread(ensure_serving_cert, self.pki_dir,
                                            node_name=self.kubelet.config.node_name, ips=ips)
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, self.port, ssl_context=server_ssl_context(cert, key))
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if request.path == "/healthz":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        if not self.token or not token or not hmac.compare_digest(token, self.token):
            return _status(401, "Unauthorized", "Unauthorized")
        return await handler(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _pods(self, request: web.Request) -> web.Response:
        body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": self.kubelet.pods()}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        ns, pod_name = request.match_info["namespace"], request.match_info["pod"]
        found = self.kubelet.find_pod(ns, pod_name)
        if found is None:
            return _status(404, "NotFound", f'pods "{pod_name}" not found')
        pod, worker = found
        containers = [c["name"] for c in (pod["spec"].get("initContainers") or []) + pod["spec"]["containers"]]
        container = request.match_info.get("container") or request.query.get("container")
        if not container:
            regular = [c["name"] for c in pod["spec"]["containers"]]
            if len(regular) != 1:
                return _status(400, "BadRequest", f"a container name must be specified for pod {pod_name}, "
                                                  f"choose one of: [{' '.join(regular)}]")
            container = regular[0]
        if container not in containers:
            return _status(400, "BadRequest", f"container {container} is not valid for pod {pod_name}")
        attempts = sorted((c for c in self.kubelet.runtime.list_containers(worker.uid) if c.name == container),
                          key=lambda c: c.attempt)
        q = request.query
        previous = _bool(q.get("previous"))
        if previous:
            if len(attempts) < 2:
                return _status(400, "BadRequest",
                               f'previous terminated container "{container}" in pod "{pod_name}" not found')
            target = attempts[-2]
        else:
            if not attempts:
                return _status(400, "BadRequest",
                               f'container "{container}" in pod "{pod_name}" is waiting to start: '
                               "ContainerCreating")
            target = attempts[-1]
        since_time = None
        if q.get("sinceTime"):
            since_time = datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00")).timestamp()
        opts = LogOptions(tail_lines=_int(q, "tailLines"), timestamps=_bool(q.get("timestamps")),
                          limit_bytes=_int(q, "limitBytes"), since_seconds=_int(q, "sinceSeconds"),
                          since_time=since_time)
        path = target.log_path
        if not _bool(q.get("follow")) or target.state != "running":
            data = await asyncio.to_thread(read_log, path, opts)
            return web.Response(body=data, content_type="text/plain")
        resp = web.StreamResponse(headers={"Content-Type": "text/plain", "Transfer-Encoding": "chunked"})
        await resp.prepare(request)
        runtime = self.kubelet.runtime

        def running() -> bool:
            st = runtime.container_status(target.id)
            return st is not None and st.state == "running"

        try:
            async for chunk in follow_log(path, opts, running=running):
                await resp.write(chunk)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        await resp.write_eof()
        return resp
