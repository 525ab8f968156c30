"""The TCP data paths with real sockets on loopback: what the kernel-side
splice path must keep (and the asyncio fallback too, run by the same tests):
byte-exact bulk both ways at once, half-close in either direction, resets
passed on as resets, many connections at once, an established connection
outliving its endpoint's removal, and no descriptors left behind."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct

import pytest

from pybernetes.proxy import RoundRobin
from pybernetes.proxy import splice as splice_mod
from pybernetes.proxy.splice import splice_available
from pybernetes.proxy.tcp import ConnectionSet, Target, TCPListener

SPLICE = pytest.param("splice", marks=pytest.mark.skipif(not splice_available(), reason="no os.splice"))


@pytest.fixture(params=[SPLICE, "asyncio"])
def data_path(request) -> str:
    return request.param


class Proxy:
    def __init__(self, listener: TCPListener, conns: ConnectionSet):
        self.listener = listener
        self.conns = conns
        self.port = listener.server.sockets[0].getsockname()[1]

    async def wait_idle(self) -> None:
        """Until every proxied connection has ended (the proxy closed both sides)."""
        async with asyncio.timeout(10):
            while self.conns.pipes:
                await asyncio.sleep(0.01)


async def start_proxy(endpoints, data_path: str) -> Proxy:
    bal = RoundRobin(shuffle=lambda xs: None)
    bal.update(endpoints)
    conns = ConnectionSet()
    lst = TCPListener(host="127.0.0.1", port=0, target=Target("t/svc", bal), conns=conns,
                      dial_timeouts=(0.5, 1.0), data_path=data_path)
    await lst.start()
    return Proxy(lst, conns)


async def serve(handler) -> tuple[asyncio.Server, int]:
    # A backlog for hundreds of simultaneous dials (the default 100 drops SYNs).
    server = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=1024)
    return server, server.sockets[0].getsockname()[1]


def _reset_close(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _read_all_hash(reader: asyncio.StreamReader) -> tuple[int, str]:
    h, n = hashlib.sha256(), 0
    while data := await reader.read(1 << 18):
        h.update(data)
        n += len(data)
    return n, h.hexdigest()


async def test_the_default_data_path_is_splice_on_linux():
    if splice_available():
        p = await start_proxy([], None)
        assert p.listener.data_path == "splice"
        await p.listener.close()
    else:
        with pytest.raises(ValueError):
            TCPListener(host="127.0.0.1", port=0, target=Target("t", RoundRobin()), conns=ConnectionSet(),
                        dial_timeouts=(1.0,), data_path="splice")


def test_pyb_proxy_flag_chooses_the_data_path():
    import argparse

    from pybernetes.proxy import ProxyConfig
    from pybernetes.proxy.command import add_proxy_args, config_from_args

    ap = argparse.ArgumentParser()
    add_proxy_args(ap)
    assert config_from_args(ap.parse_args([])).tcp_data_path is None  # auto
    assert config_from_args(ap.parse_args(["--tcp-data-path", "asyncio"])).tcp_data_path == "asyncio"
    with pytest.raises(SystemExit):
        ap.parse_args(["--tcp-data-path", "sendfile"])
    with pytest.raises(ValueError):
        ProxyConfig(tcp_data_path="sendfile")


async def test_bulk_both_directions_at_once_is_byte_exact(data_path):
    up_payload = os.urandom(24 << 20)
    down_payload = os.urandom(24 << 20)
    received: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(r, w):
        async def send():
            for i in range(0, len(down_payload), 1 << 20):
                w.write(down_payload[i:i + (1 << 20)])
                await w.drain()
            w.write_eof()
        sender = asyncio.create_task(send())
        received.set_result(await _read_all_hash(r))
        await sender
        w.close()

    server, port = await serve(handler)
    p = await start_proxy([("127.0.0.1", port)], data_path)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", p.port)
        if data_path == "splice":
            [conn] = p.conns.pipes
            await asyncio.sleep(0.05)
            assert conn.spliced is not None  # forwarding in the kernel, not through transports

        async def send():
            for i in range(0, len(up_payload), 1 << 20):
                w.write(up_payload[i:i + (1 << 20)])
                await w.drain()
            w.write_eof()
        sender = asyncio.create_task(send())
        got = await _read_all_hash(r)
        await sender
        w.close()
        assert got == (len(down_payload), hashlib.sha256(down_payload).hexdigest())
        assert await asyncio.wait_for(received, 10) == (len(up_payload), hashlib.sha256(up_payload).hexdigest())
        await p.wait_idle()
    finally:
        await p.listener.close()
        server.close()


async def test_client_half_close_still_receives_the_reply(data_path):
    """The client shuts its write side; the endpoint sees EOF, then sends a
    large reply, which arrives whole before the proxy closes."""
    reply = os.urandom(6 << 20)

    async def handler(r, w):
        request = await r.read()  # until EOF: the client's shutdown crossed the proxy
        w.write(hashlib.sha256(request).digest() + reply)
        await w.drain()
        w.close()

    server, port = await serve(handler)
    p = await start_proxy([("127.0.0.1", port)], data_path)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", p.port)
        w.write(b"question")
        w.write_eof()
        data = await r.read()
        assert data[:32] == hashlib.sha256(b"question").digest()
        assert data[32:] == reply
        w.close()
        await p.wait_idle()
    finally:
        await p.listener.close()
        server.close()


async def test_endpoint_half_close_lets_the_client_keep_sending(data_path):
    """The reverse: the endpoint says all it has and shuts its write side; the
    client sees EOF yet can still send, and the endpoint still receives."""
    body = os.urandom(3 << 20)
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(r, w):
        w.write(b"hello")
        w.write_eof()
        got.set_result(await _read_all_hash(r))
        w.close()

    server, port = await serve(handler)
    p = await start_proxy([("127.0.0.1", port)], data_path)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", p.port)
        assert await r.read() == b"hello"  # EOF after the greeting
        w.write(body)
        await w.drain()
        w.write_eof()
        assert await asyncio.wait_for(got, 10) == (len(body), hashlib.sha256(body).hexdigest())
        w.close()
        await p.wait_idle()
    finally:
        await p.listener.close()
        server.close()


async def test_endpoint_reset_reaches_the_client_as_a_reset(data_path):
    async def handler(r, w):
        w.write(b"partial")
        await w.drain()
        await r.readexactly(2)
        _reset_close(w)

    server, port = await serve(handler)
    p = await start_proxy([("127.0.0.1", port)], data_path)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", p.port)
        assert await r.readexactly(7) == b"partial"
        w.write(b"go")
        with pytest.raises(ConnectionResetError):
            async with asyncio.timeout(10):
                while await r.read(1 << 16):
                    pass
        w.close()
        await p.wait_idle()
    finally:
        await p.listener.close()
        server.close()


async def test_client_reset_reaches_the_endpoint_as_a_reset(data_path):
    outcome: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(r, w):
        w.write(b"ready")
        try:
            while await r.read(1 << 16):
                pass
            outcome.set_result("eof")
        except ConnectionResetError:
            outcome.set_result("reset")
        w.close()

    server, port = await serve(handler)
    p = await start_proxy([("127.0.0.1", port)], data_path)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", p.port)
        assert await r.readexactly(5) == b"ready"
        _reset_close(w)
        assert await asyncio.wait_for(outcome, 10) == "reset"
        await p.wait_idle()
    finally:
        await p.listener.close()
        server.close()


async def test_many_concurrent_connections(data_path):
    async def echo(r, w):
        while data := await r.read(1 << 16):
            w.write(data)
            await w.drain()
        w.close()

    server, port = await serve(echo)
    p = await start_proxy([("127.0.0.1", port)], data_path)

    async def one(i: int) -> bool:
        payload = os.urandom(64 << 10) + i.to_bytes(4, "big")
        r, w = await asyncio.open_connection("127.0.0.1", p.port)
        w.write(payload)
        await w.drain()
        w.write_eof()
        back = await r.read()
        w.close()
        return back == payload

    try:
        async with asyncio.timeout(60):
            results = await asyncio.gather(*(one(i) for i in range(300)))
        assert all(results)
        await p.wait_idle()
    finally:
        await p.listener.close()
        server.close()


async def test_removed_endpoint_lets_an_established_connection_finish(data_path):
    """Endpoint a leaves the balancer mid-transfer: new connections go to b,
    the connection already on a finishes byte-exact."""
    payload = os.urandom(8 << 20)
    go = asyncio.Event()

    async def slow_a(r, w):
        w.write(b"a")
        await go.wait()
        for i in range(0, len(payload), 1 << 20):
            w.write(payload[i:i + (1 << 20)])
            await w.drain()
        w.close()

    async def b(r, w):
        w.write(b"b")
        w.close()

    server_a, port_a = await serve(slow_a)
    server_b, port_b = await serve(b)
    p = await start_proxy([("127.0.0.1", port_a), ("127.0.0.1", port_b)], data_path)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", p.port)
        assert await r.readexactly(1) == b"a"
        p.listener.target.balancer.update([("127.0.0.1", port_b)])
        for _ in range(3):
            r2, w2 = await asyncio.open_connection("127.0.0.1", p.port)
            assert await r2.read() == b"b"
            w2.close()
        go.set()
        assert await _read_all_hash(r) == (len(payload), hashlib.sha256(payload).hexdigest())
        w.close()
        await p.wait_idle()
    finally:
        await p.listener.close()
        server_a.close()
        server_b.close()


async def test_abort_all_closes_established_connections(data_path):
    async def hold(r, w):
        await r.read()
        w.close()

    server, port = await serve(hold)
    p = await start_proxy([("127.0.0.1", port)], data_path)
    try:
        clients = [await asyncio.open_connection("127.0.0.1", p.port) for _ in range(5)]
        async with asyncio.timeout(10):
            while len(p.conns) < 5:
                await asyncio.sleep(0.01)
        p.conns.abort_all()
        assert len(p.conns) == 0
        for r, w in clients:
            assert await asyncio.wait_for(r.read(), 10) == b""
            w.close()
    finally:
        await p.listener.close()
        server.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not splice_available(), reason="no os.splice")
async def test_splice_leaves_no_descriptors_behind():
    """Clean ends return empty pipes to a bounded pool; resets close theirs."""
    async def handler(r, w):
        if await r.read(1) == b"R":
            _reset_close(w)
            return
        w.write(os.urandom(256 << 10))
        await w.drain()
        w.close()

    server, port = await serve(handler)
    p = await start_proxy([("127.0.0.1", port)], "splice")
    before, pooled = _open_fds(), len(splice_mod._PIPES)

    async def one(kind: bytes) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", p.port)
        w.write(kind)
        try:
            await r.read()
        except ConnectionResetError:
            pass
        w.close()

    try:
        for _ in range(5):
            await asyncio.gather(*(one(b"R" if i % 3 == 0 else b"x") for i in range(40)))
        await p.wait_idle()
        await asyncio.sleep(0.05)  # the clients' own sockets close on the next loop turn
        assert _open_fds() - before <= 2 * (len(splice_mod._PIPES) - pooled)
        assert len(splice_mod._PIPES) <= splice_mod._PIPES_MAX
    finally:
        await p.listener.close()
        server.close()
