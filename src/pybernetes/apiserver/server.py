"""Running the apiserver: open storage, serve the app, compact periodically."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

from aiohttp import web

from ..storage import open_storage, start_compactor
from .app import APIServerConfig, build_app

__all__ = ["ServeOptions", "APIServer", "run_apiserver"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    data_dir: str
    address: str = "127.0.0.1"
    port: int = 6443
    storage: str = "sqlite"
    compaction_interval: float = 300.0
    compaction_keep: int = 1000
    config: APIServerConfig = APIServerConfig()
    ssl_context: object | None = None


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
        return f"{scheme}://{self.opts.address}:{self.port}"

    async def start(self) -> None:
        self.storage = await asyncio.to_thread(open_storage, self.opts.storage, data_dir=self.opts.data_dir)
        app = build_app(self.storage, self.opts.config)
        self.runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.opts.address, self.opts.port,
                           ssl_context=self.opts.ssl_context, backlog=1024)
        await site.start()
        sockets = site._server.sockets if site._server else []  # the bound port when --port 0
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self.compactor = start_compactor(self.storage, interval=self.opts.compaction_interval,
                                         keep_revisions=self.opts.compaction_keep)

    async def stop(self) -> None:
        if self.compactor is not None:
            await self.compactor.aclose()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.storage is not None:
            await self.storage.close()


async def run_apiserver(opts: ServeOptions) -> None:
    server = APIServer(opts)
    await server.start()
    print(f"apiserver listening on {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
