"""gRPC connections to a list of etcd endpoints, with failover.

One channel per endpoint, opened lazily on the event loop. Calls go to the
*current* endpoint; when it cannot be reached (or says it has no leader) the
pool moves on to the next one, round robin — etcd's own client balances the
same way (pick one, switch on failure). Stubs and messages are aetcd's
generated ones; nothing here speaks gRPC by hand.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import grpc
from aetcd import rpc

__all__ = ["Connection", "EndpointPool", "Endpoint", "REQUIRE_LEADER", "parse_endpoints"]

# etcd's "require leader" metadata: a member cut off from the leader refuses the
# call (ErrGRPCNoLeader, nothing proposed) instead of hanging or serving stale data.
REQUIRE_LEADER = (("hasleader", "true"),)

# Keepalive finds half-dead connections (etcd allows pings every 5 s or slower);
# short reconnect backoff lets a restarted member be used again quickly; lists
# can be large, so no receive cap (Kubernetes does the same).
_CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", 2 * 1024 * 1024),
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """``host:port`` and whether it speaks TLS."""

    target: str
    secure: bool


def parse_endpoints(urls: str | list[str] | tuple[str, ...], *, tls: bool) -> list[Endpoint]:
    """``http://h:p`` / ``https://h:p`` / ``h:p`` (TLS if ``tls``), comma-separated or a list."""
    if isinstance(urls, str):
        urls = [u for u in urls.split(",")]
    out = []
    for raw in urls:
        url = raw.strip()
        if not url:
            continue
        if "://" in url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https", "unix", "unixs"):
                raise ValueError(f"etcd endpoint {url!r}: unsupported scheme {parts.scheme!r}")
            if parts.scheme.startswith("unix"):
                out.append(Endpoint(f"unix:{parts.netloc}{parts.path}", parts.scheme == "unixs"))
                continue
            if not parts.hostname or not parts.port:
                raise ValueError(f"etcd endpoint {url!r}: expected scheme://host:port")
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            out.append(Endpoint(f"{host}:{parts.port}", parts.scheme == "https"))
        else:
            out.append(Endpoint(url, tls))
    if not out:
        raise ValueError("no etcd endpoints given")
    return out


@dataclass(slots=True)
class Connection:
    """One endpoint's channel and stubs."""

    index: int
    endpoint: Endpoint
    channel: grpc.aio.Channel
    kv: rpc.KVStub
    watch: rpc.WatchStub
    maintenance: rpc.MaintenanceStub


class EndpointPool:
    """Hands out the current endpoint's :class:`Connection` (event loop only)."""

    def __init__(
        self,
        endpoints: list[Endpoint],
        *,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.endpoints = endpoints
        self._credentials = credentials
        self._current = 0
        self._conns: dict[int, Connection] = {}
        self._closed = False

    def get(self) -> Connection:
        if self._closed:
            raise RuntimeError("etcd storage is closed")
        conn = self._conns.get(self._current)
        if conn is None:
            conn = self._conns[self._current] = self._open(self._current)
        return conn

    def failed(self, conn: Connection) -> None:
        """``conn`` failed at the transport (or has no leader): use the next endpoint.

        Only the first report of a failure moves on, so many calls failing at
        once on one endpoint do not skip the healthy ones."""
        if conn.index == self._current and len(self.endpoints) > 1:
            self._current = (self._current + 1) % len(self.endpoints)

    @property
    def current_endpoint(self) -> Endpoint:
        return self.endpoints[self._current]

    def _open(self, index: int) -> Connection:
        ep = self.endpoints[index]
        if ep.secure:
            creds = self._credentials or grpc.ssl_channel_credentials()
            channel = grpc.aio.secure_channel(ep.target, creds, options=_CHANNEL_OPTIONS)
        else:
            channel = grpc.aio.insecure_channel(ep.target, options=_CHANNEL_OPTIONS)
        return Connection(
            index=index,
            endpoint=ep,
            channel=channel,
            kv=rpc.KVStub(channel),
            watch=rpc.WatchStub(channel),
            maintenance=rpc.MaintenanceStub(channel),
        )

    async def close(self) -> None:
        self._closed = True
        conns, self._conns = list(self._conns.values()), {}
        await asyncio.gather(*(c.channel.close() for c in conns), return_exceptions=True)
