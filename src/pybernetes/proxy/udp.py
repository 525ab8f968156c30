"""UDP: a listener per (address, port) with one session per client address.

A session is a connected UDP socket from the proxy to one endpoint (chosen
round-robin, or pinned by ClientIP affinity): the client's datagrams go out
on it, the endpoint's replies come back to the client from the listener's
address. A session idle for ``idle_timeout`` seconds (no datagram either
way) is closed, as kube-proxy's ``--udp-timeout``; an ICMP error on a session
(endpoint gone) closes it too, so the client's next datagram picks another
endpoint. With no endpoint, datagrams are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from .balancer import NoEndpoints
from .tcp import Target

__all__ = ["UDPListener"]

log = logging.getLogger(__name__)

_MAX_PENDING = 64  # datagrams held per client while its session is being opened


class _Session(asyncio.DatagramProtocol):
    def __init__(self, listener: UDPListener, client: tuple, endpoint: tuple[str, int]):
        self.listener = listener
        self.client = client
        self.endpoint = endpoint
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.last_used = time.monotonic()
        self.failed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, data: bytes) -> None:
        self.last_used = time.monotonic()
        if self.transport is None:
            if len(self.pending) < _MAX_PENDING:
                self.pending.append(data)
        else:
            self.transport.sendto(data)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.last_used = time.monotonic()
        out = self.listener.transport
        if out is not None:
            out.sendto(data, self.client)

    def error_received(self, exc: Exception) -> None:
        log.info("%s: UDP endpoint %s:%s: %s; closing the session", self.listener.target.name,
                 *self.endpoint, exc)
        self.failed = True
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener._forget(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        else:
            self.listener._forget(self)


class UDPListener(asyncio.DatagramProtocol):
    protocol = "UDP"

    def __init__(self, *, host: str, port: int, target: Target, idle_timeout: float):
        self.host = host
        self.port = port
        self.target = target
        self.idle_timeout = idle_timeout
        self.transport: asyncio.DatagramTransport | None = None
        self.sessions: dict[tuple, _Session] = {}
        self._failed_clients: set[tuple] = set()  # reset affinity on their next session
        self._sweeper: asyncio.Task | None = None
        self.dropped = 0

    def __repr__(self) -> str:
        return f"<UDPListener {self.host}:{self.port} -> {self.target.name}>"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port),
                                            reuse_port=False)
        self._sweeper = loop.create_task(self._sweep(), name=f"udp-sweep-{self.host}:{self.port}")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        session = self.sessions.get(addr)
        if session is None:
            session = self._open(addr)
            if session is None:
                self.dropped += 1
                return
        session.send(data)

    def _open(self, client: tuple) -> _Session | None:
        reset = client in self._failed_clients
        self._failed_clients.discard(client)
        try:
            endpoint = self.target.balancer.next(client[0], reset_affinity=reset)
        except NoEndpoints:
            return None
        session = _Session(self, client, endpoint)
        self.sessions[client] = session
        asyncio.get_running_loop().create_task(self._connect(session))
        return session

    async def _connect(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: session, remote_addr=session.endpoint)
        except OSError as e:
            log.info("%s: UDP endpoint %s:%s: %s", self.target.name, *session.endpoint, e)
            session.failed = True
            self._forget(session)
            return
        if self.transport is None or self.sessions.get(session.client) is not session:
            transport.close()  # listener or session closed while connecting
            return
        for data in session.pending:
            transport.sendto(data)
        session.pending.clear()

    def _forget(self, session: _Session) -> None:
        if self.sessions.get(session.client) is session:
            del self.sessions[session.client]
        if session.failed:
            if len(self._failed_clients) > 4096:
                self._failed_clients.clear()
            self._failed_clients.add(session.client)

    async def _sweep(self) -> None:
        interval = max(0.05, self.idle_timeout / 2)
        while True:
            await asyncio.sleep(interval)
            cutoff = time.monotonic() - self.idle_timeout
            for s in [s for s in self.sessions.values() if s.last_used < cutoff]:
                s.close()

    async def close(self) -> None:
        """Stop receiving and close every session."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        for s in list(self.sessions.values()):
            s.close()
