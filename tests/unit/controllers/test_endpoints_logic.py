"""Pure decisions of the endpoints and endpointslice controllers."""

from __future__ import annotations

from pybernetes.controllers.endpoints_logic import (
    HEADLESS_LABEL,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    endpoints_labels,
    endpoints_subsets,
    find_port,
    plan_slices,
    slice_endpoints,
    subsets_equal,
)


def svc(ports=None, **spec):
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.0.0.5",
                     "ports": ports if ports is not None else [
                         {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                         {"name": "metrics", "port": 9090, "targetPort": 9100, "protocol": "TCP"}],
                     **spec}}


def pod(name, ip, *, ready=True, named_port=8080, deleting=False, phase="Running", node="n1"):
    ports = [{"name": "http", "containerPort": named_port}] if named_port else []
    p = {"metadata": {"name": name, "namespace": "ns", "uid": name + "-uid"},
         "spec": {"nodeName": node, "containers": [{"name": "c", "ports": ports}]},
         "status": {"phase": phase, "podIP": ip,
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return p


def test_find_port_by_number_and_name():
    p = pod("a", "10.1.0.1")
    assert find_port(p, {"port": 80, "targetPort": 9100}) == 9100
    assert find_port(p, {"port": 80}) == 80
    assert find_port(p, {"port": 80, "targetPort": "http", "protocol": "TCP"}) == 8080
    assert find_port(p, {"port": 80, "targetPort": "http", "protocol": "UDP"}) is None
    assert find_port(p, {"port": 80, "targetPort": "nope"}) is None


def test_ready_and_not_ready_addresses_grouped_by_ports():
    pods = [pod("b", "10.1.0.2"), pod("a", "10.1.0.1"), pod("c", "10.1.0.3", ready=False),
            pod("noip", ""), pod("gone", "10.1.0.9", deleting=True),
            pod("other-port", "10.1.0.4", named_port=7070)]
    subsets = endpoints_subsets(svc(), pods)
    assert len(subsets) == 2
    first, second = subsets
    assert [a["ip"] for a in first["addresses"]] == ["10.1.0.1", "10.1.0.2"]
    assert [a["ip"] for a in first["notReadyAddresses"]] == ["10.1.0.3"]
    assert sorted((p["name"], p["port"]) for p in first["ports"]) == [("http", 8080), ("metrics", 9100)]
    assert first["addresses"][0]["targetRef"] == {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "a-uid"}
    assert first["addresses"][0]["nodeName"] == "n1"
    assert [a["ip"] for a in second["addresses"]] == ["10.1.0.4"]
    assert sorted(p["port"] for p in second["ports"]) == [7070, 9100]


def test_pod_without_the_named_port_serves_only_numbered_ports():
    subsets = endpoints_subsets(svc(), [pod("a", "10.1.0.1", named_port=None)])
    assert [(p["name"], p["port"]) for p in subsets[0]["ports"]] == [("metrics", 9100)]


def test_publish_not_ready_and_finished_pods():
    s = svc(publishNotReadyAddresses=True)
    subsets = endpoints_subsets(s, [pod("c", "10.1.0.3", ready=False)])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.1.0.3"]
    done = pod("d", "10.1.0.4", ready=False, phase="Succeeded")
    done["spec"]["restartPolicy"] = "Never"
    assert endpoints_subsets(svc(), [done]) == []


def test_headless_without_ports_and_labels():
    s = svc(ports=[], clusterIP="None")
    subsets = endpoints_subsets(s, [pod("a", "10.1.0.1")])
    assert subsets == [{"addresses": [subsets[0]["addresses"][0]]}]
    assert endpoints_labels(s) == {"app": "web", HEADLESS_LABEL: ""}
    assert endpoints_subsets(svc(ports=[]), [pod("a", "10.1.0.1")]) == []


def test_subsets_equal_ignores_order():
    a = endpoints_subsets(svc(), [pod("a", "10.1.0.1"), pod("b", "10.1.0.2")])
    b = [dict(a[0], addresses=list(reversed(a[0]["addresses"])), ports=list(reversed(a[0]["ports"])))]
    assert subsets_equal(a, b)
    assert not subsets_equal(a, endpoints_subsets(svc(), [pod("a", "10.1.0.1")]))


def test_slices_create_update_delete():
    s = svc()
    pods = [pod(f"p{i}", f"10.1.{i // 250}.{i % 250 + 1}") for i in range(150)]
    pods.append(pod("t", "10.9.0.1", deleting=True))
    desired = slice_endpoints(s, pods)
    assert len(desired) == 1
    group = next(iter(desired.values()))
    assert len(group["endpoints"]) == 151
    term = next(e for e in group["endpoints"] if e["addresses"] == ["10.9.0.1"])
    assert term["conditions"] == {"ready": False, "serving": True, "terminating": True}
    creates, updates, deletes = plan_slices(s, [], desired)
    assert [len(c["endpoints"]) for c in creates] == [100, 51] and not updates and not deletes
    sl = creates[0]
    assert sl["metadata"]["labels"][SERVICE_NAME_LABEL] == "web"
    assert sl["metadata"]["labels"][MANAGED_BY_LABEL] == "endpointslice-controller.k8s.io"
    assert sl["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    existing = [dict(c, metadata=dict(c["metadata"], name=f"web-{i}")) for i, c in enumerate(creates)]
    assert plan_slices(s, existing, desired) == ([], [], [])
    fewer = slice_endpoints(s, pods[:10])
    creates, updates, deletes = plan_slices(s, existing, fewer)
    assert not creates and len(updates) == 1 and len(updates[0]["endpoints"]) == 10
    assert [d["metadata"]["name"] for d in deletes] == ["web-1"]
    # No endpoints at all: one empty slice stays.
    creates, updates, deletes = plan_slices(s, existing, {})
    assert not creates and updates[0]["endpoints"] == [] and len(deletes) == 1
    creates, _, _ = plan_slices(s, [], {})
    assert len(creates) == 1 and creates[0]["endpoints"] == []
