"""Running the apiserver: open storage (SQLite, or etcd shared with other
apiservers), serve the app (HTTPS when given a certificate), wire the kubelet
log proxy, compact periodically."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from ..storage import StorageError, open_storage, start_compactor
from .app import HANDLERS_KEY, APIServerConfig, build_app
from .watch import STOPPING_KEY

__all__ = ["EtcdOptions", "ServeOptions", "APIServer", "StorageUnreachable", "run_apiserver"]

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0  # seconds in-flight requests get to finish when the server stops


# Kubernetes' --etcd-prefix default. Our storage keys already begin with it
# (/registry/core/pods/...), so only what precedes it goes to the etcd client.
DEFAULT_ETCD_PREFIX = "/registry"
# How long the first etcd round trip may take before start-up gives up.
ETCD_START_TIMEOUT = 10.0


class StorageUnreachable(RuntimeError):
    """The storage backend did not answer at start (etcd down or misaddressed)."""


@dataclass(frozen=True, slots=True)
class EtcdOptions:
    """``--etcd-servers`` and friends, with Kubernetes' meanings.

    Keys land under ``prefix`` exactly as Kubernetes lays them out when the
    prefix ends in ``/registry`` (the default: ``/registry/core/pods/ns/name``;
    ``/a/registry`` gives ``/a/registry/core/...``); any other prefix ``/x``
    holds them under ``/x/registry/...``. Apiservers sharing a cluster must use
    the same prefix."""

    servers: tuple[str, ...]
    prefix: str = DEFAULT_ETCD_PREFIX
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    # Recent events kept in memory: one etcd watch feeds every HTTP watch (0: one etcd watch each).
    watch_cache_size: int = 5000

    def storage_opts(self) -> dict:
        """Keyword arguments for ``open_storage("etcd", ...)``."""
        prefix = self.prefix.rstrip("/")
        prefix = prefix.removesuffix(DEFAULT_ETCD_PREFIX)
        return {"endpoints": list(self.servers), "prefix": prefix, "ca_file": self.ca_file,
                "cert_file": self.cert_file, "key_file": self.key_file,
                "watch_cache_size": self.watch_cache_size}


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """How to serve. ``ssl_context`` None means plain HTTP (tests and
    in-process uses only: the CLI refuses it unless ``--insecure-http``).
    ``kubelet_token`` set plugs the ``pods/log`` proxy in: the apiserver
    reaches kubelets with that bearer token, verifying their certificates
    against ``kubelet_ca_file`` when given. ``storage="etcd"`` needs ``etcd``."""

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
    etcd: EtcdOptions | None = None


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
        """Open storage, check it answers, then bind. Raises StorageUnreachable
        (nothing bound, nothing left open) when etcd does not answer."""
        self.storage = await asyncio.to_thread(self._open_storage)
        try:
            await self._check_storage()
            app = build_app(self.storage, self.opts.config)
            if self.opts.kubelet_token and self.opts.config.log_proxy is None:
                self._plug_log_proxy(app)
            # On stop, watches end at once (STOPPING_KEY); other requests get
            # SHUTDOWN_GRACE seconds (a followed log, a slow write) before they are cancelled.
            self.runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                                        shutdown_timeout=SHUTDOWN_GRACE)
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

    def _open_storage(self):
        opts = self.opts
        if opts.storage == "etcd":
            if opts.etcd is None or not opts.etcd.servers:
                raise ValueError("--storage etcd needs --etcd-servers URL[,URL...]")
            return open_storage("etcd", data_dir=opts.data_dir, **opts.etcd.storage_opts())
        return open_storage(opts.storage, data_dir=opts.data_dir)

    async def _check_storage(self) -> None:
        """One round trip, so an unreachable etcd fails start-up with a clear
        message instead of every request failing later."""
        if self.opts.storage != "etcd":
            return
        try:
            async with asyncio.timeout(ETCD_START_TIMEOUT):
                await self.storage.current_revision()
                # Watches from any revision after this one are then served from memory.
                await self.storage.start_watch_cache()
        except (TimeoutError, StorageError) as e:
            servers = ",".join(self.opts.etcd.servers)
            detail = str(e) or f"no answer within {ETCD_START_TIMEOUT:.0f}s"
            raise StorageUnreachable(f"cannot reach etcd at {servers}: {detail}") from None

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
            self.runner.app[STOPPING_KEY].set()
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
