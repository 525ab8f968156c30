"""Round-robin, ClientIP affinity and endpoint extraction (pure code)."""

from __future__ import annotations

import pytest

from pybernetes.proxy import (
    NoEndpoints,
    RoundRobin,
    endpoints_from_endpoints,
    endpoints_from_slices,
    service_ports,
)


def rr(**kw):
    return RoundRobin(shuffle=lambda xs: None, **kw)


def test_round_robin_cycles_in_order():
    b = rr()
    b.update([("10.1.0.1", 80), ("10.1.0.2", 80), ("10.1.0.3", 80)])
    assert [b.next()[0] for _ in range(6)] == ["10.1.0.1", "10.1.0.2", "10.1.0.3"] * 2


def test_no_endpoints_raises():
    b = rr()
    with pytest.raises(NoEndpoints):
        b.next("1.2.3.4")
    b.update([("10.1.0.1", 80)])
    b.update([])
    with pytest.raises(NoEndpoints):
        b.next()


def test_unchanged_update_keeps_position_changed_restarts():
    b = rr()
    eps = [("10.1.0.1", 80), ("10.1.0.2", 80)]
    b.update(eps)
    assert b.next()[0] == "10.1.0.1"
    assert b.update(list(reversed(eps))) is False  # same set: index kept
    assert b.next()[0] == "10.1.0.2"
    assert b.update(eps + [("10.1.0.3", 80)]) is True
    assert b.next()[0] == "10.1.0.1"


def test_affinity_pins_until_timeout():
    now = [0.0]
    b = rr(affinity_timeout=10, clock=lambda: now[0])
    b.update([("10.1.0.1", 80), ("10.1.0.2", 80)])
    first = b.next("c1")
    assert all(b.next("c1") == first for _ in range(5))
    assert b.next("c2") != first
    now[0] = 9.0
    assert b.next("c1") == first  # used at 9: the timer restarts
    now[0] = 18.5
    assert b.next("c1") == first
    now[0] = 40.0  # expired: c1 takes the round-robin choice, whichever it is
    expected = b.endpoints[b._index]
    assert b.next("c1") == expected


def test_affinity_reset_after_dial_failure_repins():
    b = rr(affinity_timeout=100)
    b.update([("10.1.0.1", 80), ("10.1.0.2", 80)])
    first = b.next("c")
    second = b.next("c", reset_affinity=True)
    assert second != first
    assert b.next("c") == second


def test_removed_endpoint_drops_its_pins():
    b = rr(affinity_timeout=100)
    b.update([("10.1.0.1", 80), ("10.1.0.2", 80)])
    pinned = b.next("c")
    b.update([ep for ep in b.endpoints if ep != pinned])
    assert b.next("c") != pinned


def test_affinity_off_ignores_client():
    b = rr(affinity_timeout=10)
    b.update([("10.1.0.1", 80), ("10.1.0.2", 80)])
    b.set_affinity(None)
    assert b.next("c") != b.next("c")


SVC = {
    "metadata": {"namespace": "ns", "name": "web"},
    "spec": {"type": "NodePort", "clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"],
             "sessionAffinity": "ClientIP",
             "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080},
                       {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
                       {"name": "sctp", "port": 9, "protocol": "SCTP", "nodePort": 30009}]},
}


def test_service_ports():
    ports = service_ports(SVC)
    assert [(p.name, p.protocol, p.port, p.node_port) for p in ports] == [
        ("ns/web:http", "TCP", 80, 30080), ("ns/web:dns", "UDP", 53, 30053)]
    assert ports[0].cluster_ips == ("10.0.0.5",)
    assert ports[0].affinity_timeout == 10800


def test_service_ports_cluster_ip_type_has_no_node_port_and_headless_no_ip():
    svc = {"metadata": {"namespace": "ns", "name": "h"},
           "spec": {"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 80, "nodePort": 31000}]}}
    [p] = service_ports(svc)
    assert p.cluster_ips == () and p.node_port == 0 and p.name == "ns/h" and p.affinity_timeout is None
    assert service_ports({"metadata": {"name": "x"}, "spec": {"type": "ExternalName",
                                                               "externalName": "example.com"}}) == []


def _slice(eps, ports, address_type="IPv4"):
    return {"addressType": address_type, "endpoints": eps, "ports": ports}


def test_endpoints_from_slices_ready_only_and_port_by_name():
    slices = [
        _slice([{"addresses": ["10.1.0.1"], "conditions": {"ready": True}},
                {"addresses": ["10.1.0.2"]},  # no conditions: ready
                {"addresses": ["10.1.0.3"], "conditions": {"ready": False}}],
               [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]),
        _slice([{"addresses": ["10.1.0.4"], "conditions": {"ready": True}}],
               [{"name": "http", "port": 9090, "protocol": "TCP"}]),
        _slice([{"addresses": ["example.com"]}], [{"name": "http", "port": 1, "protocol": "TCP"}], "FQDN"),
    ]
    assert endpoints_from_slices(slices, port_name="http") == [
        ("10.1.0.1", 8080), ("10.1.0.2", 8080), ("10.1.0.4", 9090)]
    assert endpoints_from_slices(slices, port_name="dns", protocol="UDP") == [("10.1.0.1", 53), ("10.1.0.2", 53)]
    assert endpoints_from_slices(slices, port_name="dns") == []


def test_endpoints_from_slices_falls_back_to_serving_terminating():
    eps = [{"addresses": ["10.1.0.1"], "conditions": {"ready": False, "serving": True, "terminating": True}},
           {"addresses": ["10.1.0.2"], "conditions": {"ready": False, "serving": False, "terminating": True}}]
    ports = [{"name": "", "port": 80, "protocol": "TCP"}]
    assert endpoints_from_slices([_slice(eps, ports)], port_name="") == [("10.1.0.1", 80)]
    eps.append({"addresses": ["10.1.0.3"], "conditions": {"ready": True}})
    assert endpoints_from_slices([_slice(eps, ports)], port_name="") == [("10.1.0.3", 80)]


def test_endpoints_from_endpoints():
    ep = {"subsets": [{"addresses": [{"ip": "10.1.0.1"}, {"ip": "10.1.0.2"}],
                       "notReadyAddresses": [{"ip": "10.1.0.9"}],
                       "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}
    assert endpoints_from_endpoints(ep, port_name="http") == [("10.1.0.1", 8080), ("10.1.0.2", 8080)]
    assert endpoints_from_endpoints(ep, port_name="other") == []
    assert endpoints_from_endpoints(None, port_name="http") == []
