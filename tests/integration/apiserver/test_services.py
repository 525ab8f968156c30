"""Cluster IP and node port allocation."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from .wire import Wire

NS = "/api/v1/namespaces/default"


@pytest.fixture
async def wire(apiserver):
    w = Wire(apiserver.url)
    yield w
    await w.close()


def svc(name: str, **spec) -> dict:
    s = {"ports": [{"port": 80}], "selector": {"app": name}}
    s.update(spec)
    return {"metadata": {"name": name}, "spec": s}


async def test_cluster_ips_unique_under_concurrent_creates(wire):
    results = await asyncio.gather(*(wire.req("POST", f"{NS}/services", svc(f"s{i}")) for i in range(40)))
    assert all(r[0] == 201 for r in results), [r[1] for r in results if r[0] != 201]
    ips = [r[1]["spec"]["clusterIP"] for r in results]
    assert len(set(ips)) == 40
    net = ipaddress.ip_network("10.0.0.0/24")
    assert all(ipaddress.ip_address(ip) in net for ip in ips)
    assert all(r[1]["spec"]["clusterIPs"] == [r[1]["spec"]["clusterIP"]] for r in results)


async def test_explicit_cluster_ip_taken_is_invalid_and_freed_on_delete(wire):
    status, a, _ = await wire.req("POST", f"{NS}/services", svc("a", clusterIP="10.0.0.50"))
    assert status == 201 and a["spec"]["clusterIP"] == "10.0.0.50"
    status, b, _ = await wire.req("POST", f"{NS}/services", svc("b", clusterIP="10.0.0.50"))
    assert status == 422 and b["reason"] == "Invalid"
    assert "provided IP is already allocated" in b["message"]
    await wire.req("DELETE", f"{NS}/services/a")
    status, b, _ = await wire.req("POST", f"{NS}/services", svc("b", clusterIP="10.0.0.50"))
    assert status == 201


async def test_node_ports_allocated_unique_and_freed(wire):
    results = await asyncio.gather(*(wire.req("POST", f"{NS}/services", svc(f"np{i}", type="NodePort"))
                                     for i in range(20)))
    ports = [r[1]["spec"]["ports"][0]["nodePort"] for r in results]
    assert len(set(ports)) == 20 and all(30000 <= p <= 32767 for p in ports)
    status, clash, _ = await wire.req("POST", f"{NS}/services",
                                      svc("clash", type="NodePort", ports=[{"port": 80, "nodePort": ports[0]}]))
    assert status == 422 and "provided port is already allocated" in clash["message"]
    await wire.req("DELETE", f"{NS}/services/np0")
    status, ok, _ = await wire.req("POST", f"{NS}/services",
                                   svc("clash", type="NodePort", ports=[{"port": 80, "nodePort": ports[0]}]))
    assert status == 201 and ok["spec"]["ports"][0]["nodePort"] == ports[0]


async def test_update_keeps_cluster_ip_and_headless_has_none(wire):
    _, s, _ = await wire.req("POST", f"{NS}/services", svc("keep"))
    ip = s["spec"]["clusterIP"]
    s["spec"].pop("clusterIP")
    s["spec"].pop("clusterIPs")
    s["metadata"]["labels"] = {"v": "2"}
    status, s2, _ = await wire.req("PUT", f"{NS}/services/keep", s)
    assert status == 200 and s2["spec"]["clusterIP"] == ip
    status, h, _ = await wire.req("POST", f"{NS}/services", svc("headless", clusterIP="None"))
    assert status == 201 and h["spec"]["clusterIP"] == "None"
