"""Running the apiserver: open storage, serve the app (HTTPS when given a
certificate), wire the kubelet log proxy, compact periodically."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from ..storage import open_storage, start_compactor
from .app import HANDLERS_KEY, APIServerConfig, build_app

__all__ = ["ServeOptions", "APIServer", "run_apiserver"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """How to serve. ``ssl_context`` None means plain HTTP (tests and
    in-process uses only: the CLI refuses it unless ``--insecure-http``).
    ``kubelet_token`` set plugs the ``pods/log`` proxy in: the apiserver
    reaches kubelets with that bearer token, verifying their certificates
    against ``kubelet_ca_file`` when given."""

    data_dir: str
    address: str = "127.0.0.1"
    port: int = 6443
    storage: str = "sqlite"
    compaction_interval: float = 300.0
    compaction_keep: int = 1000
    config: APIServerConfig = APIServerConfig()
    ssl_context: ssl.SSLContext | None = None
    kubelet_token: str | None = None
    kubelet_ca_file: str | None = None


def _url_host(address: str) -> str:
    """A host clients on this machine can use for ``address``."""
    if address in ("", "0.0.0.0"):
        return "127.0.0.1"
    if address == "::":
        return "[::1]"
    return f"[{address}]" if ":" in address else address


class APIServer:
    """An apiserver on the running loop: ``await start()``, ``await stop()``."""

    def __init__(self, opts: ServeOptions):
        self.opts = opts
        self.storage = None
        self.runner: web.AppRunner | None = None
        self.compactor = None
        self.port = opts.port

    @property
    def url(self) -> str:
        scheme = "https" if self.opts.ssl_context else "http"
        return f"{scheme}://{_url_host(self.opts.address)}:{self.port}"

    async def start(self) -> None:
        self.storage = await asyncio.to_thread(open_storage, self.opts.storage, data_dir=self.opts.data_dir)
        try:
            app = build_app(self.storage, self.opts.config)
            if self.opts.kubelet_token and self.opts.config.log_proxy is None:
                self._plug_log_proxy(app)
            self.runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
            await self.runner.setup()
            site = web.TCPSite(self.runner, self.opts.address, self.opts.port,
                               ssl_context=self.opts.ssl_context, backlog=1024)
            await site.start()
        except BaseException:
            await self.stop()
            raise
        sockets = site._server.sockets if site._server else []  # the bound port when --port 0
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self.compactor = start_compactor(self.storage, interval=self.opts.compaction_interval,
                                         keep_revisions=self.opts.compaction_keep)

    def _plug_log_proxy(self, app: web.Application) -> None:
        from .kubelet_proxy import KubeletLogProxy

        handlers = app[HANDLERS_KEY]
        nodes = handlers.stores[("", "nodes")]
        handlers.log_proxy = KubeletLogProxy(get_node=lambda name: nodes.get(None, name),
                                             token=self.opts.kubelet_token, ca_file=self.opts.kubelet_ca_file)

    async def stop(self) -> None:
        if self.compactor is not None:
            await self.compactor.aclose()
            self.compactor = None
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.storage is not None:
            await self.storage.close()
            self.storage = None


async def run_apiserver(opts: ServeOptions, *, on_started: Callable[[APIServer], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM. ``on_started`` runs (blocking is fine: nothing
    is served concurrently yet that it could stall for long) once the port is bound,
    before the "listening on" line that tells a parent process the server is up."""
    server = APIServer(opts)
    await server.start()
    if on_started is not None:
        await asyncio.to_thread(on_started, server)
    print(f"apiserver listening on {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
