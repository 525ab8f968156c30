"""UDP through the proxy: echo over a cluster IP and a node port, per-client
sessions, idle sessions closing, ClientIP affinity across sessions."""

from __future__ import annotations

import asyncio

from pybernetes.proxy import ServiceProxy

from .backends import UDPClient, UDPEcho, free_port
from .conftest import create_service, proxy_config, put_slice, slice_body, wait_for


async def _udp_service(client, ns, name, n, **kw):
    hosts = [f"127.0.0.{i + 2}" for i in range(n)]
    port = free_port(["0.0.0.0"])
    echoes = []
    for i, h in enumerate(hosts):
        echoes.append(await UDPEcho(f"u{i}").start(h, port if i else 0))
        port = echoes[0].port
    svc_port = free_port(["0.0.0.0"])
    svc = await create_service(client, ns, name, ports=[{"port": svc_port, "targetPort": port, "protocol": "UDP",
                                                         "name": "dns"}], **kw)
    await put_slice(client, ns, slice_body(name, hosts, port=port, protocol="UDP", port_name="dns"))
    return svc, echoes


async def _ask_when_ready(host, port, data=b"ping"):
    async def once():
        c = await UDPClient.open(host, port)
        try:
            return await c.ask(data, timeout=0.5)
        finally:
            c.close()
    return await wait_for(once, what=f"UDP echo from {host}:{port}")


async def test_udp_echo_cluster_ip_and_node_port(client, namespace, proxy):
    svc, echoes = await _udp_service(client, namespace, "echo", 1, type_="NodePort")
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    node_port = svc["spec"]["ports"][0]["nodePort"]
    try:
        assert await _ask_when_ready(ip, port, b"hello") == b"u0:hello"
        assert await _ask_when_ready("127.0.0.1", node_port, b"np") == b"u0:np"
        c = await UDPClient.open(ip, port)
        replies = [await c.ask(b"%d" % i) for i in range(20)]
        assert replies == [b"u0:%d" % i for i in range(20)]
        c.close()
    finally:
        for e in echoes:
            e.stop()


async def test_udp_sessions_round_robin_and_idle_out(client, namespace, proxy):
    svc, echoes = await _udp_service(client, namespace, "sess", 3)
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    try:
        await wait_for(lambda: len(proxy.listeners[("UDP", ip, port)].target.balancer.endpoints) == 3)
        # One client socket = one session = one endpoint, however many datagrams.
        a = await UDPClient.open(ip, port)
        first = {(await a.ask(b"x")).split(b":")[0] for _ in range(10)}
        assert len(first) == 1
        # Another client gets the next endpoint, round-robin.
        b = await UDPClient.open(ip, port)
        other = (await b.ask(b"y")).split(b":")[0]
        b.close()
        assert other not in first
        listener = proxy.listeners[("UDP", ip, port)]
        await wait_for(lambda: not listener.sessions, what="sessions idled out")
        # The first client, its session gone, starts a new one: the third endpoint.
        again = (await a.ask(b"z")).split(b":")[0]
        assert first | {other, again} == {b"u0", b"u1", b"u2"}
        a.close()
    finally:
        for e in echoes:
            e.stop()


async def test_udp_client_ip_affinity(client, namespace, proxy_apiserver):
    p = ServiceProxy(client, proxy_config(proxy_apiserver, namespace, udp_idle_timeout=0.1))
    await p.start()
    svc, echoes = await _udp_service(client, namespace, "udpsticky", 3, affinity={"timeoutSeconds": 60})
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    try:
        await wait_for(lambda: len(p.listeners[("UDP", ip, port)].target.balancer.endpoints) == 3)
        got = set()
        for _ in range(5):  # new client ports, sessions idling out in between: still one endpoint
            c = await UDPClient.open(ip, port)
            got.add((await c.ask(b"s")).split(b":")[0])
            c.close()
            await asyncio.sleep(0.25)
        assert len(got) == 1
    finally:
        await p.stop()
        for e in echoes:
            e.stop()
