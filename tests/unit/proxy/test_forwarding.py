"""TCP and UDP listeners with real sockets on loopback, no apiserver: byte
integrity, half-close, back-pressure, dial failover, refusal, UDP sessions.
TCP tests run on both data paths (splice where the kernel offers it)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket

import pytest

from pybernetes.proxy import RoundRobin
from pybernetes.proxy.splice import splice_available
from pybernetes.proxy.tcp import ConnectionSet, Target, TCPListener
from pybernetes.proxy.udp import UDPListener

DATA_PATHS = [pytest.param("splice", marks=pytest.mark.skipif(not splice_available(), reason="no os.splice")),
              "asyncio"]


@pytest.fixture(params=DATA_PATHS)
def data_path(request) -> str:
    return request.param


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: connecting is refused


async def _sink_server():
    """Reads everything, then answers with the sha256 of what it read and closes."""
    async def handle(r, w):
        h = hashlib.sha256()
        while data := await r.read(1 << 16):
            h.update(data)
        w.write(h.hexdigest().encode())
        await w.drain()
        w.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _listener(endpoints, data_path, **kw):
    bal = RoundRobin()
    bal.update(endpoints)
    conns = ConnectionSet()
    lst = TCPListener(host="127.0.0.1", port=0, target=Target("t/svc", bal), conns=conns,
                      dial_timeouts=kw.pop("dial_timeouts", (0.25, 0.5)), data_path=data_path, **kw)
    await lst.start()
    return lst, lst.server.sockets[0].getsockname()[1], conns


async def test_bytes_pass_intact_and_half_close_reaches_the_endpoint(data_path):
    server, port = await _sink_server()
    lst, lport, conns = await _listener([("127.0.0.1", port)], data_path)
    try:
        payload = os.urandom(5 << 20)
        r, w = await asyncio.open_connection("127.0.0.1", lport)
        w.write(payload)
        await w.drain()
        w.write_eof()  # the server answers only after our EOF crossed the proxy
        assert (await r.read()).decode() == hashlib.sha256(payload).hexdigest()
        w.close()
        await asyncio.sleep(0)
    finally:
        await lst.close()
        server.close()


async def test_slow_reader_back_pressure_bounds_buffering(data_path):
    sent = asyncio.Event()

    async def firehose(r, w):
        w.write(os.urandom(8 << 20))
        await w.drain()
        sent.set()
        w.close()
    server = await asyncio.start_server(firehose, "127.0.0.1", 0)
    lst, lport, conns = await _listener([("127.0.0.1", server.sockets[0].getsockname()[1])], data_path)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", lport, limit=1 << 16)
        await asyncio.sleep(0.3)  # client reads nothing: the proxy must stop reading too
        [pipe] = conns.pipes
        assert pipe.buffered() <= 1 << 20  # one pipe or high-water mark plus a read, not the whole 8 MiB
        total = 0
        while data := await r.read(1 << 16):
            total += len(data)
        assert total == 8 << 20
        w.close()
    finally:
        await lst.close()
        server.close()


async def test_dead_endpoint_is_skipped_and_all_dead_resets(data_path):
    server, port = await _sink_server()
    dead = _dead_port()
    lst, lport, _ = await _listener([("127.0.0.1", dead), ("127.0.0.1", port)], data_path)
    try:
        for _ in range(4):
            r, w = await asyncio.open_connection("127.0.0.1", lport)
            w.write_eof()
            assert len(await r.read()) == 64  # always reached the live endpoint
            w.close()
        assert lst.dial_failures >= 2
        lst.target.balancer.update([("127.0.0.1", dead)])
        with pytest.raises(ConnectionResetError):
            await _reset_read(lport)
    finally:
        await lst.close()
        server.close()


async def _reset_read(port: int) -> None:
    """Connect and read; the proxy's RST may arrive before the client's connect
    completes (the splice path resets right in its accept loop)."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        await r.read()
    finally:
        w.close()


async def test_no_endpoints_resets_without_dialing(data_path):
    lst, lport, _ = await _listener([], data_path)
    try:
        with pytest.raises(ConnectionResetError):
            await _reset_read(lport)
        assert lst.refused == 1
    finally:
        await lst.close()


async def test_closing_the_listener_leaves_established_connections(data_path):
    async def echo(r, w):
        while data := await r.read(100):
            w.write(data)
        w.close()
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    lst, lport, conns = await _listener([("127.0.0.1", server.sockets[0].getsockname()[1])], data_path)
    r, w = await asyncio.open_connection("127.0.0.1", lport)
    w.write(b"one")
    assert await r.readexactly(3) == b"one"
    await lst.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", lport)
    w.write(b"two")
    assert await r.readexactly(3) == b"two"
    conns.abort_all()
    assert await r.read() == b""
    w.close()
    server.close()


class _Echo(asyncio.DatagramProtocol):
    def __init__(self, name):
        self.name = name

    def connection_made(self, t):
        self.t = t

    def datagram_received(self, data, addr):
        self.t.sendto(self.name + data, addr)


async def test_udp_sessions_per_client_and_idle_timeout():
    loop = asyncio.get_running_loop()
    echoes = []
    for name in (b"a:", b"b:"):
        t, _ = await loop.create_datagram_endpoint(lambda n=name: _Echo(n), local_addr=("127.0.0.1", 0))
        echoes.append(t)
    bal = RoundRobin(shuffle=lambda xs: None)
    bal.update([t.get_extra_info("sockname") for t in echoes])
    lst = UDPListener(host="127.0.0.1", port=0, target=Target("t/udp", bal), idle_timeout=0.2)
    await lst.start()
    lport = lst.transport.get_extra_info("sockname")[1]

    async def client():
        q: asyncio.Queue = asyncio.Queue()

        class P(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                q.put_nowait(data)
        t, _ = await loop.create_datagram_endpoint(P, remote_addr=("127.0.0.1", lport))

        async def ask(d):
            t.sendto(d)
            async with asyncio.timeout(5):
                return await q.get()
        return t, ask

    try:
        t1, ask1 = await client()
        t2, ask2 = await client()
        assert [await ask1(b"1") for _ in range(3)] == [b"a:1"] * 3
        assert await ask2(b"2") == b"b:2"
        assert len(lst.sessions) == 2
        async with asyncio.timeout(5):
            while lst.sessions:
                await asyncio.sleep(0.05)
        assert await ask1(b"3") == b"a:3"  # a new session, round-robin back to a
        t1.close()
        t2.close()
    finally:
        await lst.close()
        for t in echoes:
            t.close()
