"""TCP: a listener per (address, port) and a byte pipe per accepted connection.

Two data paths, chosen per listener (``data_path``):

- ``"splice"`` (Linux, the default where :func:`.splice.splice_available`):
  the listener accepts and dials with plain non-blocking sockets and loop
  callbacks (no transports, no task per connection), then hands both sockets
  to :class:`.splice.SplicedConnection`, which moves the bytes in the kernel.
- ``"asyncio"`` (everywhere else): asyncio Protocols and transports.

The asyncio path uses asyncio Protocols and transports directly (no StreamReader
copies, no per-chunk coroutine switches): each side's ``data_received``
writes into the other side's transport, and transport flow control
(``pause_writing``/``resume_writing``) pauses reading on the opposite side,
so a slow receiver never makes the proxy buffer more than the transport's
high-water mark. Half-close is passed through (EOF from one side becomes
``write_eof`` on the other); the pipe closes when both directions ended or
either side closed.

Dialling (kube-proxy's userspace ``TryConnectEndpoints``): one attempt per
entry of ``dial_timeouts``, each on the balancer's next endpoint, the
affinity pin reset after a failure; so a dead endpoint is skipped as long as
another one answers. No endpoint (or all attempts failed): the client's
connection is reset at once.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct
import sys
from collections.abc import Callable

from .balancer import NoEndpoints, RoundRobin
from .splice import SplicedConnection, splice_available

__all__ = ["TCPListener", "Target", "ConnectionSet", "DATA_PATHS", "default_data_path"]

DATA_PATHS = ("splice", "asyncio")

log = logging.getLogger(__name__)

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
_HIGH_WATER = 256 * 1024
_READ_SIZE = 256 * 1024
# 3.11's selector transport copies what it cannot send at once into its own
# bytearray, so a read buffer may be reused right after write(); later
# versions may keep a view instead.
_WRITE_COPIES = sys.version_info < (3, 12)
# Read buffers outlive connections: a fresh 256 KiB bytearray per side per
# connection (an mmap/munmap pair each) halves the new-connection rate.
_POOL: list[memoryview] = []
_POOL_MAX = 32


def default_data_path() -> str:
    """``"splice"`` where the kernel offers it, else ``"asyncio"``."""
    return "splice" if splice_available() else "asyncio"


def _take_buffer() -> memoryview:
    return _POOL.pop() if _POOL else memoryview(bytearray(_READ_SIZE))


def _give_buffer(buf: memoryview | None) -> None:
    if buf is not None and _WRITE_COPIES and len(_POOL) < _POOL_MAX:
        _POOL.append(buf)


class Target:
    """What a listener forwards to: a service port's name and balancer.
    Mutable on purpose: the proxy retargets a listener instead of reopening it."""

    __slots__ = ("name", "balancer")

    def __init__(self, name: str, balancer: RoundRobin):
        self.name = name
        self.balancer = balancer


class ConnectionSet:
    """The connections alive in one proxy (dialling or forwarding, either data
    path), so a clean stop can close them."""

    def __init__(self) -> None:
        self.pipes: set[_Pipe | _SpliceConn] = set()

    def __len__(self) -> int:
        return len(self.pipes)

    def abort_all(self) -> None:
        for pipe in list(self.pipes):
            pipe.abort()


def _reset(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        except OSError:
            pass
    transport.abort()


class _Pipe:
    """Both halves of one proxied connection."""

    __slots__ = ("client", "upstream", "client_eof", "upstream_eof", "conns", "closed")

    def __init__(self, conns: ConnectionSet):
        self.client: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.client_eof = False
        self.upstream_eof = False
        self.conns = conns
        self.closed = False
        conns.pipes.add(self)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.conns.pipes.discard(self)
        for t in (self.client, self.upstream):
            if t is not None and not t.is_closing():
                t.close()  # flushes what is buffered, then closes

    def abort(self) -> None:
        self.closed = True
        self.conns.pipes.discard(self)
        for t in (self.client, self.upstream):
            if t is not None:
                t.abort()

    def lost(self, exc: Exception | None) -> None:
        """One side is gone: a reset or broken pipe resets the other side, as
        the splice path does; anything else closes it after a flush."""
        if isinstance(exc, ConnectionError) and not self.closed:
            self.closed = True
            self.conns.pipes.discard(self)
            for t in (self.client, self.upstream):
                if t is not None:
                    _reset(t)
        else:
            self.close()

    def buffered(self) -> int:
        """Bytes read from one side and not yet written to the other."""
        return sum(t.get_write_buffer_size() for t in (self.client, self.upstream) if t is not None)


class _Reader:
    """Reads into one reused buffer (``BufferedProtocol``): no new bytes object,
    hence no large malloc/free (mmap/munmap for 256 KiB) per read. Where the
    transport might keep a view of what it could not send, the buffer is
    replaced after such a write."""

    __slots__ = ()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buf  # type: ignore[attr-defined]

    def _forward(self, out: asyncio.Transport, nbytes: int) -> None:
        out.write(self.buf[:nbytes])  # type: ignore[attr-defined]
        if not _WRITE_COPIES and out.get_write_buffer_size():
            self.buf = memoryview(bytearray(_READ_SIZE))  # type: ignore[attr-defined]

    # Each side of a pipe: flow control applies to the other side's reading.
    def _peer(self) -> asyncio.Transport | None:
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.lost(exc)  # type: ignore[attr-defined]
        _give_buffer(self.buf)  # type: ignore[attr-defined]
        self.buf = None  # type: ignore[attr-defined]

    def pause_writing(self) -> None:
        peer = self._peer()
        if peer is not None:
            peer.pause_reading()

    def resume_writing(self) -> None:
        peer = self._peer()
        if peer is not None and not peer.is_closing():
            peer.resume_reading()


class _UpstreamSide(_Reader, asyncio.BufferedProtocol):
    __slots__ = ("pipe", "buf")

    def __init__(self, pipe: _Pipe):
        self.pipe = pipe
        self.buf = _take_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self._forward(self.pipe.client, nbytes)  # type: ignore[arg-type]

    def eof_received(self) -> bool:
        pipe = self.pipe
        pipe.upstream_eof = True
        client = pipe.client
        if pipe.client_eof or client is None or not client.can_write_eof():
            pipe.close()
            return False
        client.write_eof()
        return True

    def _peer(self) -> asyncio.Transport | None:
        return self.pipe.client


class _ClientSide(_Reader, asyncio.BufferedProtocol):
    """An accepted connection: dial an endpoint, then pipe bytes both ways."""

    __slots__ = ("listener", "pipe", "transport", "buf")

    def __init__(self, listener: TCPListener):
        self.listener = listener
        self.pipe = _Pipe(listener.conns)
        self.transport: asyncio.Transport | None = None
        self.buf = _take_buffer()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pipe.client = transport
        transport.set_write_buffer_limits(high=_HIGH_WATER)
        target = self.listener.target
        if not target.balancer:
            # Fast path for "no endpoints": no task, reset right away.
            self.listener.refused += 1
            self.pipe.closed = True
            self.pipe.conns.pipes.discard(self.pipe)
            _reset(transport)
            return
        transport.pause_reading()  # nothing is read until an endpoint answers
        asyncio.get_running_loop().create_task(self._dial(target))

    async def _dial(self, target: Target) -> None:
        transport = self.transport
        assert transport is not None
        peer = transport.get_extra_info("peername")
        client_ip = peer[0] if peer else None
        loop = asyncio.get_running_loop()
        for attempt, timeout in enumerate(self.listener.dial_timeouts):
            if transport.is_closing():
                self.pipe.close()
                return
            try:
                host, port = target.balancer.next(client_ip, reset_affinity=attempt > 0)
            except NoEndpoints:
                break
            try:
                async with asyncio.timeout(timeout):
                    up, _ = await loop.create_connection(lambda: _UpstreamSide(self.pipe), host, port)
            except (OSError, TimeoutError) as e:
                self.listener.dial_failures += 1
                log.info("%s: dial %s:%s failed (%s), trying the next endpoint", target.name, host, port,
                         e or "timeout")
                continue
            up.set_write_buffer_limits(high=_HIGH_WATER)  # type: ignore[attr-defined]
            self.pipe.upstream = up  # type: ignore[assignment]
            if self.pipe.closed or transport.is_closing():
                self.pipe.closed = False
                self.pipe.close()
                return
            if self.pipe.client_eof:
                up.write_eof()  # type: ignore[attr-defined]
            transport.resume_reading()
            return
        self.listener.refused += 1
        log.info("%s: no endpoint reachable; resetting the client connection", target.name)
        self.pipe.closed = True
        self.pipe.conns.pipes.discard(self.pipe)
        _reset(transport)

    def buffer_updated(self, nbytes: int) -> None:
        self._forward(self.pipe.upstream, nbytes)  # type: ignore[arg-type]

    def eof_received(self) -> bool:
        pipe = self.pipe
        pipe.client_eof = True
        up = pipe.upstream
        if up is None:
            return True  # still dialling: the EOF is passed on once connected
        if pipe.upstream_eof or not up.can_write_eof():
            pipe.close()
            return False
        up.write_eof()
        return True

    def _peer(self) -> asyncio.Transport | None:
        return self.pipe.upstream


def _reset_socket(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    except OSError:
        pass
    sock.close()


class _SpliceConn:
    """One accepted connection on the splice path: dial (the same attempts,
    failover and affinity reset as ``_ClientSide._dial``, with callbacks and
    timers instead of a task), then a :class:`SplicedConnection`."""

    __slots__ = ("listener", "loop", "client", "client_ip", "target", "attempt", "up", "timer", "spliced",
                 "closed")

    def __init__(self, listener: TCPListener, client: socket.socket, client_ip: str | None, target: Target):
        self.listener = listener
        self.loop = listener.loop
        self.client = client
        self.client_ip = client_ip
        self.target = target
        self.attempt = 0
        self.up: socket.socket | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.spliced: SplicedConnection | None = None
        self.closed = False
        listener.conns.pipes.add(self)

    def buffered(self) -> int:
        return self.spliced.buffered() if self.spliced is not None else 0

    def dial_next(self) -> None:
        timeouts = self.listener.dial_timeouts
        while self.attempt < len(timeouts):
            attempt = self.attempt
            self.attempt += 1
            try:
                host, port = self.target.balancer.next(self.client_ip, reset_affinity=attempt > 0)
            except NoEndpoints:
                break
            try:
                up = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            except OSError as e:
                self._dial_failed(host, port, e)
                continue
            up.setblocking(False)
            err = up.connect_ex((host, port))
            if err in (0, errno.EINPROGRESS):
                self.up = up
                if err == 0:
                    self._connected()
                else:
                    self.loop.add_writer(up.fileno(), self._connect_done, host, port)
                    self.timer = self.loop.call_later(timeouts[attempt], self._connect_timeout, host, port)
                return
            up.close()
            self._dial_failed(host, port, OSError(err, errno.errorcode.get(err, str(err))))
        self.listener.refused += 1
        log.info("%s: no endpoint reachable; resetting the client connection", self.target.name)
        self._end(reset=True)

    def _dial_failed(self, host: str, port: int, e: object) -> None:
        self.listener.dial_failures += 1
        log.info("%s: dial %s:%s failed (%s), trying the next endpoint", self.target.name, host, port, e)

    def _drop_up(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.up is not None:
            self.loop.remove_writer(self.up.fileno())
            self.up.close()
            self.up = None

    def _connect_timeout(self, host: str, port: int) -> None:
        self.timer = None
        self._drop_up()
        self._dial_failed(host, port, "timeout")
        self.dial_next()

    def _connect_done(self, host: str, port: int) -> None:
        assert self.up is not None
        err = self.up.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._drop_up()
            self._dial_failed(host, port, OSError(err, errno.errorcode.get(err, str(err))))
            self.dial_next()
            return
        self.loop.remove_writer(self.up.fileno())
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._connected()

    def _connected(self) -> None:
        up = self.up
        assert up is not None
        self.up = None
        try:
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            self.spliced = SplicedConnection(self.loop, self.client, up, on_close=self._spliced_closed)
        except OSError as e:
            log.warning("%s: cannot forward a connection: %s", self.target.name, e)
            _reset_socket(up)
            self._end(reset=True)
            return
        self.spliced.start()

    def _spliced_closed(self, _: SplicedConnection) -> None:
        self.closed = True
        self.listener.conns.pipes.discard(self)

    def _end(self, *, reset: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.listener.conns.pipes.discard(self)
        self._drop_up()
        if reset:
            _reset_socket(self.client)
        else:
            self.client.close()

    def abort(self) -> None:
        if self.spliced is not None:
            self.spliced.abort()
        else:
            self._end(reset=False)


class _AcceptingSocket:
    """The part of ``asyncio.Server`` callers use (``sockets``, ``close()``) for
    a listener whose accepts the loop drives directly."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket):
        self.loop = loop
        self.sockets = (sock,)

    def close(self) -> None:
        sock = self.sockets[0]
        if sock.fileno() >= 0:
            self.loop.remove_reader(sock.fileno())
            sock.close()


class TCPListener:
    """Accepts on ``host:port`` and forwards each connection to ``target``.

    ``close()`` stops accepting; connections already established keep going
    (they end when either side closes, or on the proxy's ``abort_all``).
    ``data_path``: ``"splice"`` or ``"asyncio"`` (None: :func:`default_data_path`)."""

    protocol = "TCP"

    def __init__(self, *, host: str, port: int, target: Target, dial_timeouts: tuple[float, ...],
                 conns: ConnectionSet, backlog: int = 1024, data_path: str | None = None):
        self.host = host
        self.port = port
        self.target = target
        self.dial_timeouts = dial_timeouts
        self.conns = conns
        self.backlog = backlog
        self.data_path = data_path or default_data_path()
        if self.data_path not in DATA_PATHS:
            raise ValueError(f"data_path must be one of {DATA_PATHS}, not {self.data_path!r}")
        if self.data_path == "splice" and not splice_available():
            raise ValueError("the splice data path is not available here (Linux os.splice)")
        self.server: asyncio.Server | _AcceptingSocket | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.refused = 0
        self.dial_failures = 0

    def __repr__(self) -> str:
        return f"<TCPListener {self.host}:{self.port} -> {self.target.name}>"

    async def start(self) -> None:
        """Bind and listen (raises OSError: address not local, in use, no permission)."""
        self.loop = loop = asyncio.get_running_loop()
        if self.data_path == "asyncio":
            factory: Callable[[], asyncio.Protocol] = lambda: _ClientSide(self)  # noqa: E731
            self.server = await loop.create_server(
                factory, host=self.host, port=self.port, reuse_address=True, backlog=self.backlog)
            return
        # Bound like create_server does: SO_REUSEADDR, IPv6 sockets v6-only.
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, type_, proto, _, addr = infos[0]
        sock = socket.socket(family, type_, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
            sock.listen(self.backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.server = _AcceptingSocket(loop, sock)
        loop.add_reader(sock.fileno(), self._accept_ready, sock)

    def _accept_ready(self, lsock: socket.socket) -> None:
        # Like asyncio's accept loop: up to ``backlog`` accepts per wake-up.
        for _ in range(self.backlog):
            try:
                sock, addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors or memory: stop accepting for a second
                    # (asyncio does the same) instead of spinning on the error.
                    log.warning("%s: accept failed (%s); pausing accepts for 1 s", self.target.name, e)
                    assert self.loop is not None
                    self.loop.remove_reader(lsock.fileno())
                    self.loop.call_later(1.0, self._resume_accepting, lsock)
                else:
                    log.warning("%s: accept failed: %s", self.target.name, e)
                return
            sock.setblocking(False)
            target = self.target
            if not target.balancer:
                self.refused += 1  # no endpoints: reset at once, nothing dialled
                _reset_socket(sock)
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            _SpliceConn(self, sock, addr[0] if addr else None, target).dial_next()

    def _resume_accepting(self, lsock: socket.socket) -> None:
        if isinstance(self.server, _AcceptingSocket) and self.server.sockets[0] is lsock and lsock.fileno() >= 0:
            assert self.loop is not None
            self.loop.add_reader(lsock.fileno(), self._accept_ready, lsock)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()  # established connections are not touched (3.11 semantics)
            self.server = None
