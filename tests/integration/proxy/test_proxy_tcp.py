"""The proxy against a real apiserver, real listeners and real backends:
round-robin, NodePort and ClusterIP, scale-down, dead endpoints, affinity."""

from __future__ import annotations

import asyncio
import collections
import subprocess

import pytest

from pybernetes.proxy.splice import splice_available

from .backends import HeldConnection, http_get, service_port, start_backends
from .conftest import create_service, put_slice, slice_body, wait_for


def lo_addresses() -> str:
    return subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout


async def _service_with_backends(client, ns, name, names, **kw):
    backends = await start_backends(names)
    svc = await create_service(client, ns, name, ports=[{"port": service_port(), "targetPort": backends[0].port,
                                                         "protocol": "TCP"}], **kw)
    await put_slice(client, ns, slice_body(name, [b.host for b in backends], port=backends[0].port))
    return svc, backends


async def test_round_robin_over_three(client, namespace, proxy):
    svc, backends = await _service_with_backends(client, namespace, "web", ["a", "b", "c"])
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    try:
        await wait_for(lambda: http_get(ip, port), what="service answering")
        await wait_for(lambda: len(proxy.listeners[("TCP", ip, port)].target.balancer.endpoints) == 3,
                       what="3 endpoints")
        counts = collections.Counter([await http_get(ip, port) for _ in range(30)])
        assert counts == {"a": 10, "b": 10, "c": 10}
    finally:
        for b in backends:
            await b.stop()


async def test_nodeport_and_cluster_ip_both_answer(client, namespace, proxy):
    svc, backends = await _service_with_backends(client, namespace, "np", ["only"], type_="NodePort")
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    port = svc["spec"]["ports"][0]["port"]
    try:
        assert await wait_for(lambda: http_get(ip, port)) == "only"
        assert await wait_for(lambda: http_get("127.0.0.1", node_port)) == "only"
        assert f"inet {ip}/32" in lo_addresses()
    finally:
        for b in backends:
            await b.stop()


async def test_scale_down_moves_new_connections_without_errors(client, namespace, proxy):
    svc, backends = await _service_with_backends(client, namespace, "scale", ["a", "b", "c"])
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    seen: list[str] = []
    errors: list[Exception] = []
    stop = asyncio.Event()

    async def load():
        while not stop.is_set():
            try:
                seen.append(await http_get(ip, port))
            except Exception as e:  # noqa: BLE001 - counted, asserted below
                errors.append(e)

    try:
        await wait_for(lambda: http_get(ip, port))
        await wait_for(lambda: len(proxy.listeners[("TCP", ip, port)].target.balancer.endpoints) == 3)
        loaders = [asyncio.create_task(load()) for _ in range(4)]
        await wait_for(lambda: set(seen) == {"a", "b", "c"}, what="traffic to all three")
        # Scale down: the slice loses c, then c's process goes away (as a pod would).
        await put_slice(client, namespace, slice_body("scale", [backends[0].host, backends[1].host],
                                                      port=backends[0].port))
        await wait_for(lambda: len(proxy.listeners[("TCP", ip, port)].target.balancer.endpoints) == 2)
        mark = len(seen)
        await backends[2].stop()
        await wait_for(lambda: len(seen) > mark + 50, what="more requests after scale-down")
        stop.set()
        await asyncio.gather(*loaders)
        assert errors == []
        assert set(seen[mark:]) == {"a", "b"}
    finally:
        stop.set()
        for b in backends:
            await b.stop()


async def test_dead_endpoint_is_skipped(client, namespace, proxy):
    svc, backends = await _service_with_backends(client, namespace, "dead", ["a", "b", "c"])
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    try:
        await wait_for(lambda: len(proxy.listeners[("TCP", ip, port)].target.balancer.endpoints) == 3)
        await backends[1].stop()  # still listed as ready: the proxy must dial past it
        got = [await http_get(ip, port) for _ in range(12)]
        assert set(got) == {"a", "c"}
        assert proxy.listeners[("TCP", ip, port)].dial_failures > 0
    finally:
        for b in backends:
            await b.stop()


async def test_removed_endpoint_keeps_established_connection(client, namespace, proxy):
    svc, backends = await _service_with_backends(client, namespace, "keep", ["a", "b"])
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    try:
        await wait_for(lambda: len(proxy.listeners[("TCP", ip, port)].target.balancer.endpoints) == 2)
        held = await HeldConnection.open(ip, port)
        first = await held.get()
        gone = next(b for b in backends if b.name == first)
        stay = next(b for b in backends if b.name != first)
        await put_slice(client, namespace, slice_body("keep", [stay.host], port=stay.port))
        await wait_for(lambda: len(proxy.listeners[("TCP", ip, port)].target.balancer.endpoints) == 1)
        assert {await http_get(ip, port) for _ in range(6)} == {stay.name}
        assert await held.get() == gone.name  # the established connection still reaches its endpoint
        if splice_available():  # ... and it is the kernel-side path that carried it
            assert proxy.tcp_data_path == "splice"
            assert proxy.conns.pipes and all(c.spliced is not None for c in proxy.conns.pipes)
        await held.close()
    finally:
        for b in backends:
            await b.stop()


async def test_no_ready_endpoints_refuses_at_once(client, namespace, proxy):
    svc, backends = await _service_with_backends(client, namespace, "none", ["a"])
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    try:
        await wait_for(lambda: http_get(ip, port))
        await put_slice(client, namespace, slice_body("none", [(backends[0].host, False)], port=backends[0].port))
        await wait_for(lambda: not proxy.listeners[("TCP", ip, port)].target.balancer)
        with pytest.raises(ConnectionError):
            await http_get(ip, port, timeout=5)  # reset, not a hang (the timeout would raise TimeoutError)
    finally:
        for b in backends:
            await b.stop()


async def test_client_ip_affinity_pins(client, namespace, proxy):
    svc, backends = await _service_with_backends(client, namespace, "sticky", ["a", "b", "c"],
                                                  affinity={"timeoutSeconds": 60})
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    try:
        await wait_for(lambda: len(proxy.listeners[("TCP", ip, port)].target.balancer.endpoints) == 3)
        one = {await http_get(ip, port, local_addr=("127.0.0.10", 0)) for _ in range(10)}
        other = {await http_get(ip, port, local_addr=("127.0.0.11", 0)) for _ in range(10)}
        assert len(one) == 1 and len(other) == 1
        assert one != other  # the second client got the next endpoint round-robin
    finally:
        for b in backends:
            await b.stop()


async def test_endpoint_changes_never_restart_the_listener(client, namespace, proxy):
    svc, backends = await _service_with_backends(client, namespace, "stable", ["a", "b"], type_="NodePort")
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    port = svc["spec"]["ports"][0]["port"]
    try:
        await wait_for(lambda: ("TCP", "127.0.0.1", node_port) in proxy.listeners)
        before = {k: (v, v.server) for k, v in proxy.listeners.items()}
        await put_slice(client, namespace, slice_body("stable", [backends[0].host], port=backends[0].port))
        svc["metadata"].setdefault("labels", {})["touched"] = "yes"
        await client.services(namespace).update(svc)
        await wait_for(lambda: len(proxy.listeners[("TCP", ip, port)].target.balancer.endpoints) == 1)
        assert {k: (v, v.server) for k, v in proxy.listeners.items()} == before
    finally:
        for b in backends:
            await b.stop()


async def test_service_deletion_closes_listeners_and_removes_ip(client, namespace, proxy):
    svc, backends = await _service_with_backends(client, namespace, "gone", ["a"], type_="NodePort")
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    port = svc["spec"]["ports"][0]["port"]
    try:
        await wait_for(lambda: http_get(ip, port))
        await client.services(namespace).delete("gone")
        await wait_for(lambda: not proxy.listeners, what="listeners closed")
        assert f"inet {ip}/32" not in lo_addresses()
        with pytest.raises(OSError):
            await http_get("127.0.0.1", node_port, timeout=5)
    finally:
        for b in backends:
            await b.stop()


async def test_port_change_reopens_only_that_listener(client, namespace, proxy):
    svc, backends = await _service_with_backends(client, namespace, "moved", ["a"], type_="NodePort")
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    port = svc["spec"]["ports"][0]["port"]
    try:
        await wait_for(lambda: http_get(ip, port))
        node_listener = proxy.listeners[("TCP", "127.0.0.1", node_port)]
        svc = await client.services(namespace).get("moved")
        new_port = service_port()
        svc["spec"]["ports"][0]["port"] = new_port
        await client.services(namespace).update(svc)
        assert await wait_for(lambda: http_get(ip, new_port)) == "a"
        assert ("TCP", ip, port) not in proxy.listeners
        assert proxy.listeners[("TCP", "127.0.0.1", node_port)] is node_listener
    finally:
        for b in backends:
            await b.stop()


async def test_hand_written_endpoints_without_slices(client, namespace, proxy):
    backends = await start_backends(["e1", "e2"])
    svc = await create_service(client, namespace, "legacy",
                               ports=[{"name": "http", "port": service_port(), "targetPort": backends[0].port}])
    await client.endpoints(namespace).create({
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "legacy"},
        "subsets": [{"addresses": [{"ip": b.host} for b in backends],
                     "ports": [{"name": "http", "port": backends[0].port}]}]})
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    try:
        await wait_for(lambda: len(proxy.listeners[("TCP", ip, port)].target.balancer.endpoints) == 2)
        assert {await http_get(ip, port) for _ in range(4)} == {"e1", "e2"}
    finally:
        for b in backends:
            await b.stop()


async def test_clean_stop_removes_service_ips(client, namespace, proxy_apiserver):
    from pybernetes.proxy import ServiceProxy

    from .conftest import proxy_config

    svc = await create_service(client, namespace, "cleanup", ports=[{"port": service_port()}])
    ip = svc["spec"]["clusterIP"]
    p = ServiceProxy(client, proxy_config(proxy_apiserver, namespace))
    await p.start()
    try:
        await wait_for(lambda: f"inet {ip}/32" in lo_addresses(), what="IP on lo")
    finally:
        await p.stop()
    assert f"inet {ip}/32" not in lo_addresses()


async def test_without_loopback_management_node_ports_still_answer(client, namespace, proxy_apiserver, caplog):
    """What a proxy that is not root does: no address added to lo, a clear
    warning, the cluster IP listener retried, the NodePort serving."""
    from pybernetes.proxy import ServiceProxy

    from .conftest import proxy_config

    svc, backends = await _service_with_backends(client, namespace, "noroot", ["a"], type_="NodePort")
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    p = ServiceProxy(client, proxy_config(proxy_apiserver, namespace, manage_loopback=False))
    caplog.set_level("INFO", logger="pybernetes.proxy")
    await p.start()
    try:
        assert await wait_for(lambda: http_get("127.0.0.1", node_port)) == "a"
        assert f"inet {ip}/32" not in lo_addresses()
        assert ("TCP", ip, svc["spec"]["ports"][0]["port"]) not in p.listeners
        text = caplog.text
        assert "not running as root" in text and "clusterIP:port answers on this node only where" in text
        assert await wait_for(lambda: "Cannot assign requested address" in caplog.text or
                              "cannot assign requested address" in caplog.text.lower())
    finally:
        await p.stop()
        for b in backends:
            await b.stop()
