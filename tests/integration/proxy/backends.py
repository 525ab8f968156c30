"""Small real servers and clients for proxy tests: HTTP backends that answer
their own name, a UDP echo that prefixes its name, and one-shot clients."""

from __future__ import annotations

import asyncio
import contextlib
import socket


class HTTPBackend:
    """An HTTP/1.0 server on ``host:port`` answering every request with its
    name (and, for ``GET /hold``, keeping the connection for more requests)."""

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 0):
        self.name = name
        self.host = host
        self.port = port
        self.server: asyncio.Server | None = None
        self.requests = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> HTTPBackend:
        self.server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                hold = head.startswith(b"GET /hold")
                body = self.name.encode()
                writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (
                    len(body), b"Connection: keep-alive\r\n" if hold else b"", body))
                await writer.drain()
                if not hold:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        """Stop listening and drop open connections (a pod that died)."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in list(self.writers):
            w.transport.abort()


async def start_backends(names, *, hosts=None, port: int = 0) -> list[HTTPBackend]:
    """Backends on distinct loopback IPs (127.0.0.2, .3, ...) sharing one port,
    as pods behind one targetPort."""
    hosts = hosts or [f"127.0.0.{i + 2}" for i in range(len(names))]
    if not port:
        port = free_port(hosts)
    return [await HTTPBackend(n, h, port).start() for n, h in zip(names, hosts, strict=True)]


def service_port() -> int:
    """A port no socket on this host holds (a wildcard listener on a service's
    port would keep the proxy from binding the cluster IP)."""
    return free_port(["0.0.0.0"])


def free_port(hosts) -> int:
    """A TCP port free on every host (tries a few)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        ok = True
        for h in hosts:
            with socket.socket() as s:
                try:
                    s.bind((h, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no common free port")


async def http_get(host: str, port: int, path: str = "/", *, local_addr: tuple | None = None,
                   timeout: float = 10.0) -> str:
    """One request on a fresh connection; returns the body."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, local_addr=local_addr)
        try:
            writer.write(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            data = await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    head, sep, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200"):
        raise ConnectionError(f"bad response {data!r}")
    return body.decode()


class HeldConnection:
    """A keep-alive connection that sends ``GET /hold`` requests one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> HeldConnection:
        return cls(*await asyncio.open_connection(host, port))

    async def get(self) -> str:
        async with asyncio.timeout(10):
            self.writer.write(b"GET /hold HTTP/1.0\r\n\r\n")
            head = await self.reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            return (await self.reader.readexactly(length)).decode()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class UDPEcho(asyncio.DatagramProtocol):
    """Echoes each datagram back prefixed with ``name:``."""

    def __init__(self, name: str):
        self.name = name
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.peers: set[tuple] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> UDPEcho:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self.port = self.transport.get_extra_info("sockname")[1]
        return self

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.peers.add(addr)
        self.transport.sendto(self.name.encode() + b":" + data, addr)

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()


class UDPClient(asyncio.DatagramProtocol):
    """A connected UDP socket; ``ask(data)`` sends and awaits one reply."""

    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport = None

    @classmethod
    async def open(cls, host: str, port: int) -> UDPClient:
        self = cls()
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: self, remote_addr=(host, port))
        return self

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.replies.put_nowait(data)

    def error_received(self, exc) -> None:
        pass

    async def ask(self, data: bytes, timeout: float = 5.0) -> bytes:
        self.transport.sendto(data)
        async with asyncio.timeout(timeout):
            return await self.replies.get()

    def close(self) -> None:
        self.transport.close()
