"""Discovery documents: legacy and aggregated, checked directly and through kubectl."""

from __future__ import annotations

import pytest

from pybernetes.api.resources import RESOURCES
from pybernetes.apiserver.discovery import (
    AGGREGATED_V2,
    AGGREGATED_V2BETA1,
    aggregated_discovery,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
    negotiate_discovery,
    storage_version_hash,
)

KUBECTL_132_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
KUBECTL_127_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"


def by_name(doc: dict) -> dict[str, dict]:
    return {r["name"]: r for r in doc["resources"]}


def test_api_versions():
    assert api_versions() == {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    assert api_versions("10.0.0.1:6443")["serverAddressByClientCIDRs"] == [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}]


def test_api_group_list_and_group():
    doc = api_group_list()
    assert doc["kind"] == "APIGroupList" and doc["apiVersion"] == "v1"
    groups = {g["name"]: g for g in doc["groups"]}
    assert set(groups) == {r.group for r in RESOURCES if r.group}
    assert groups["coordination.k8s.io"] == {
        "name": "coordination.k8s.io",
        "versions": [{"groupVersion": "coordination.k8s.io/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "coordination.k8s.io/v1", "version": "v1"},
    }
    g = api_group("discovery.k8s.io")
    assert g["kind"] == "APIGroup" and g["name"] == "discovery.k8s.io"
    assert api_group("apps") is None and api_group("") is None


def test_core_resource_list():
    doc = api_resource_list("", "v1")
    assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == "v1"
    names = [r["name"] for r in doc["resources"]]
    assert names == sorted(names)
    res = by_name(doc)
    assert res["pods"] == {
        "name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["po"], "categories": ["all"], "storageVersionHash": "xPOwRZ+Yhw8=",
    }
    assert res["pods/status"] == {"name": "pods/status", "singularName": "", "namespaced": True,
                                  "kind": "Pod", "verbs": ["get", "patch", "update"]}
    assert res["pods/log"]["kind"] == "Pod" and res["pods/log"]["verbs"] == ["get"]
    assert res["pods/binding"] == {"name": "pods/binding", "singularName": "", "namespaced": True,
                                   "kind": "Binding", "verbs": ["create"]}
    assert res["pods/eviction"] == {"name": "pods/eviction", "singularName": "", "namespaced": True,
                                    "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]}
    assert res["replicationcontrollers/scale"] == {
        "name": "replicationcontrollers/scale", "singularName": "", "namespaced": True,
        "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}
    assert res["namespaces/finalize"]["verbs"] == ["update"]
    assert res["namespaces"]["namespaced"] is False and "deletecollection" not in res["namespaces"]["verbs"]
    assert res["endpoints"]["singularName"] == "endpoints"
    assert "categories" not in res["configmaps"] and "shortNames" not in res["secrets"]
    short = {r["name"]: r.get("shortNames") for r in doc["resources"]}
    assert short["services"] == ["svc"] and short["replicationcontrollers"] == ["rc"]
    assert short["nodes"] == ["no"] and short["namespaces"] == ["ns"] and short["configmaps"] == ["cm"]
    assert short["events"] == ["ev"] and short["endpoints"] == ["ep"]


def test_group_resource_list_and_missing():
    doc = api_resource_list("coordination.k8s.io", "v1")
    assert doc["groupVersion"] == "coordination.k8s.io/v1"
    assert [r["name"] for r in doc["resources"]] == ["leases"]
    assert api_resource_list("coordination.k8s.io", "v2") is None
    assert api_resource_list("", "v2") is None
    assert api_resource_list("apps", "v1") is None


def test_storage_version_hash():
    assert storage_version_hash("", "v1", "Pod") == "xPOwRZ+Yhw8="


@pytest.mark.parametrize("accept,expected", [
    (KUBECTL_132_ACCEPT, AGGREGATED_V2),
    (KUBECTL_127_ACCEPT, AGGREGATED_V2BETA1),
    ("application/json", None),
    (None, None),
    ("*/*", None),
    ("application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", None),
    ("application/json;q=0.5,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", AGGREGATED_V2),
    ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
     "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", AGGREGATED_V2),
    ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json", None),
])
def test_negotiate_discovery(accept, expected):
    assert negotiate_discovery(accept) == expected


def test_aggregated_core():
    doc = aggregated_discovery("api", AGGREGATED_V2)
    assert doc["kind"] == "APIGroupDiscoveryList" and doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    [core] = doc["items"]
    assert "name" not in core["metadata"]
    [v1] = core["versions"]
    assert v1["version"] == "v1" and v1["freshness"] == "Current"
    res = {r["resource"]: r for r in v1["resources"]}
    pods = res["pods"]
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert pods["scope"] == "Namespaced" and pods["singularResource"] == "pod"
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert subs["eviction"]["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    assert subs["status"]["verbs"] == ["get", "patch", "update"]
    assert res["nodes"]["scope"] == "Cluster"
    rc_subs = {s["subresource"]: s for s in res["replicationcontrollers"]["subresources"]}
    assert rc_subs["scale"]["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert "subresources" not in res["configmaps"]


def test_aggregated_groups_and_v2beta1():
    doc = aggregated_discovery("apis", AGGREGATED_V2BETA1)
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    names = [g["metadata"]["name"] for g in doc["items"]]
    assert names == ["coordination.k8s.io", "discovery.k8s.io"]
    assert aggregated_discovery("apis", "v2")["apiVersion"] == "apidiscovery.k8s.io/v2"
    with pytest.raises(ValueError):
        aggregated_discovery("nope", AGGREGATED_V2)
    with pytest.raises(ValueError):
        aggregated_discovery("api", "application/json")


@pytest.mark.parametrize("version", ["1.32", "1.27"])
async def test_kubectl_api_resources(kubectl, fake_server, version):
    rc, out, err = await kubectl("api-resources", "--no-headers", "-o", "wide", version=version)
    assert rc == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert set(rows) == {r.plural for r in RESOURCES}
    assert rows["pods"][1:5] == ["po", "v1", "true", "Pod"]
    assert "all" in rows["pods"][-1]
    assert rows["leases"][1:4] == ["coordination.k8s.io/v1", "true", "Lease"]
    # kubectl used the aggregated form (no per-group-version requests).
    aggregated = {path for path, accept in fake_server.accepts if "apidiscovery.k8s.io" in accept}
    assert {"/api", "/apis"} <= aggregated
    assert not any(path.startswith("/apis/") for path, _ in fake_server.accepts)


async def test_kubectl_api_versions(kubectl):
    rc, out, err = await kubectl("api-versions")
    assert rc == 0, err
    assert out.split() == ["coordination.k8s.io/v1", "discovery.k8s.io/v1", "v1"]


@pytest.mark.parametrize("version", ["1.32", "1.27"])
async def test_kubectl_legacy_discovery(kubectl, fake_server, version):
    fake_server.aggregated = False
    rc, out, err = await kubectl("api-resources", "--no-headers", version=version)
    assert rc == 0, err
    assert {line.split()[0] for line in out.splitlines()} == {r.plural for r in RESOURCES}
    paths = {path for path, _ in fake_server.accepts}
    assert {"/api/v1", "/apis/coordination.k8s.io/v1", "/apis/discovery.k8s.io/v1"} <= paths


async def test_python_dynamic_client_discovery(fake_server, tmp_path):
    """The official Python client's DynamicClient resolves kinds and subresources from discovery."""
    import asyncio

    from kubernetes import client
    from kubernetes.dynamic import DynamicClient

    def discover() -> dict:
        cfg = client.Configuration()
        cfg.host = fake_server.url
        dyn = DynamicClient(client.ApiClient(cfg), cache_file=str(tmp_path / "discovery.json"))
        pods = dyn.resources.get(api_version="v1", kind="Pod")
        scale = dyn.resources.get(api_version="v1", name="replicationcontrollers").subresources["scale"]
        lease = dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
        return {"pods": (pods.name, pods.namespaced, pods.short_names, sorted(pods.subresources)),
                "scale": (scale.kind, scale.verbs), "lease": (lease.name, lease.namespaced)}

    found = await asyncio.to_thread(discover)
    assert found == {"pods": ("pods", True, ["po"], ["binding", "eviction", "log", "status"]),
                     "scale": ("Scale", ["get", "patch", "update"]), "lease": ("leases", True)}
