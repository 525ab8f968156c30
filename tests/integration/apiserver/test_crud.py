"""CRUD, PUT create-or-update, conflicts, status subresources, metadata."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from .wire import Wire, pod

NS = "/api/v1/namespaces/default"


@pytest.fixture
async def wire(apiserver):
    w = Wire(apiserver.url)
    yield w
    await w.close()


@pytest.fixture
async def shared(shared_apiserver):
    w = Wire(shared_apiserver.url)
    ns = "t-" + uuid.uuid4().hex[:8]
    status, _, _ = await w.req("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert status == 201
    w.ns = ns
    yield w
    await w.close()


async def test_health_endpoints(wire):
    for path in ("/healthz", "/livez", "/readyz"):
        status, body, _ = await wire.req("GET", path)
        assert (status, body) == (200, "ok")


async def test_system_namespaces_exist(wire):
    status, body, _ = await wire.req("GET", "/api/v1/namespaces")
    names = {i["metadata"]["name"] for i in body["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    assert body["kind"] == "NamespaceList"


KINDS = [
    ("pods", pod("p1")),
    ("services", {"metadata": {"name": "s1"}, "spec": {"ports": [{"port": 80}], "selector": {"a": "b"}}}),
    ("configmaps", {"metadata": {"name": "cm1"}, "data": {"k": "v"}}),
    ("secrets", {"metadata": {"name": "sec1"}, "data": {"k": "dmFsdWU="}}),
    ("serviceaccounts", {"metadata": {"name": "sa1"}}),
    ("endpoints", {"metadata": {"name": "ep1"}, "subsets": []}),
    ("replicationcontrollers", {"metadata": {"name": "rc1"}, "spec": {
        "replicas": 2, "selector": {"app": "x"},
        "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
    ("events", {"metadata": {"name": "ev1"}, "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "NS"},
                "reason": "Test", "message": "hello", "type": "Normal"}),
]


@pytest.mark.parametrize("plural,obj", KINDS, ids=[k for k, _ in KINDS])
async def test_namespaced_crud(shared, plural, obj):
    base = f"/api/v1/namespaces/{shared.ns}/{plural}"
    obj = dict(obj)
    if plural == "events":
        obj = {**obj, "involvedObject": {**obj["involvedObject"], "namespace": shared.ns}}
    name = obj["metadata"]["name"]
    status, created, _ = await shared.req("POST", base, obj)
    assert status == 201, created
    meta = created["metadata"]
    assert meta["namespace"] == shared.ns and meta["uid"] and meta["resourceVersion"]
    assert meta["creationTimestamp"].endswith("Z")
    status, got, _ = await shared.req("GET", f"{base}/{name}")
    assert status == 200 and got["metadata"]["uid"] == meta["uid"]
    status, lst, _ = await shared.req("GET", base)
    assert status == 200 and [i["metadata"]["name"] for i in lst["items"]] == [name]
    got["metadata"].setdefault("labels", {})["changed"] = "yes"
    status, updated, _ = await shared.req("PUT", f"{base}/{name}", got)
    assert status == 200, updated
    assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    status, again, _ = await shared.req("POST", base, obj)
    assert status == 409 and again["reason"] == "AlreadyExists"
    assert again["message"] == f'{plural} "{name}" already exists'
    status, _, _ = await shared.req("DELETE", f"{base}/{name}")
    assert status == 200
    status, gone, _ = await shared.req("GET", f"{base}/{name}")
    assert status == 404
    assert gone == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": f'{plural} "{name}" not found', "reason": "NotFound",
                    "details": {"name": name, "kind": plural}, "code": 404}


async def test_cluster_scoped_nodes_crud(wire):
    node = {"metadata": {"name": "n1", "labels": {"zone": "a"}}, "spec": {}}
    status, created, _ = await wire.req("POST", "/api/v1/nodes", node)
    assert status == 201 and "namespace" not in created["metadata"]
    status, got, _ = await wire.req("GET", "/api/v1/nodes/n1")
    assert got["metadata"]["labels"] == {"zone": "a"}
    status, _, _ = await wire.req("DELETE", "/api/v1/nodes/n1")
    assert status == 200


async def test_put_creates_then_updates(wire):
    cm = {"metadata": {"name": "put-me"}, "data": {"a": "1"}}
    status, created, _ = await wire.req("PUT", f"{NS}/configmaps/put-me", cm)
    assert status == 201 and created["data"] == {"a": "1"}
    cm["data"] = {"a": "2"}
    status, updated, _ = await wire.req("PUT", f"{NS}/configmaps/put-me", cm)
    assert status == 200 and updated["data"] == {"a": "2"}
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]


async def test_stale_put_conflicts_and_changes_nothing(wire):
    _, created, _ = await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": "cas"}, "data": {"v": "0"}})
    stale = dict(created)
    created["data"] = {"v": "1"}
    status, _, _ = await wire.req("PUT", f"{NS}/configmaps/cas", created)
    assert status == 200
    stale["data"] = {"v": "stale"}
    status, body, _ = await wire.req("PUT", f"{NS}/configmaps/cas", stale)
    assert status == 409 and body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on configmaps "cas": the object has been '
                               'modified; please apply your changes to the latest version and try again')
    _, now, _ = await wire.req("GET", f"{NS}/configmaps/cas")
    assert now["data"] == {"v": "1"}


async def test_concurrent_conflicting_updates_exactly_one_wins(wire):
    _, created, _ = await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": "race"}, "data": {}})

    async def writer(i: int):
        obj = {**created, "data": {"writer": str(i)}}
        return (await wire.req("PUT", f"{NS}/configmaps/race", obj))[0]

    codes = await asyncio.gather(*(writer(i) for i in range(12)))
    assert sorted(codes).count(200) == 1 and codes.count(409) == 11
    _, final, _ = await wire.req("GET", f"{NS}/configmaps/race")
    assert final["data"]["writer"] == str(codes.index(200))


async def test_generate_name(wire):
    status, created, _ = await wire.req("POST", f"{NS}/pods", {**pod(""), "metadata": {"generateName": "web-"}})
    assert status == 201
    name = created["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5


async def test_status_subresource_isolated(wire):
    _, p, _ = await wire.req("POST", f"{NS}/pods", pod("st"))
    p["status"] = {"phase": "Running"}
    p["spec"]["activeDeadlineSeconds"] = 100
    _, after_main, _ = await wire.req("PUT", f"{NS}/pods/st", p)
    assert after_main["status"]["phase"] == "Pending"
    assert after_main["spec"]["activeDeadlineSeconds"] == 100
    after_main["status"] = {"phase": "Running"}
    after_main["spec"]["activeDeadlineSeconds"] = 5
    status, after_status, _ = await wire.req("PUT", f"{NS}/pods/st/status", after_main)
    assert status == 200, after_status
    assert after_status["status"]["phase"] == "Running"
    assert after_status["spec"]["activeDeadlineSeconds"] == 100


async def test_generation_bumps_on_spec_change_only(wire):
    rc = KINDS[6][1]
    _, created, _ = await wire.req("POST", f"{NS}/replicationcontrollers", rc)
    assert created["metadata"]["generation"] == 1
    created["metadata"]["labels"] = {"x": "y"}
    _, same, _ = await wire.req("PUT", f"{NS}/replicationcontrollers/rc1", created)
    assert same["metadata"]["generation"] == 1
    same["spec"]["replicas"] = 3
    _, bumped, _ = await wire.req("PUT", f"{NS}/replicationcontrollers/rc1", same)
    assert bumped["metadata"]["generation"] == 2


async def test_scale_subresource(wire):
    await wire.req("POST", f"{NS}/replicationcontrollers", KINDS[6][1])
    status, scale, _ = await wire.req("GET", f"{NS}/replicationcontrollers/rc1/scale")
    assert status == 200 and scale["kind"] == "Scale" and scale["spec"]["replicas"] == 2
    assert scale["status"]["selector"] == "app=x"
    scale["spec"]["replicas"] = 7
    status, scaled, _ = await wire.req("PUT", f"{NS}/replicationcontrollers/rc1/scale", scale)
    assert status == 200 and scaled["spec"]["replicas"] == 7
    _, rc, _ = await wire.req("GET", f"{NS}/replicationcontrollers/rc1")
    assert rc["spec"]["replicas"] == 7


async def test_binding_sets_node_once(wire):
    await wire.req("POST", f"{NS}/pods", pod("b1"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b1"}, "target": {"name": "node-a"}}
    status, body, _ = await wire.req("POST", f"{NS}/pods/b1/binding", binding)
    assert status == 201 and body["status"] == "Success"
    _, p, _ = await wire.req("GET", f"{NS}/pods/b1")
    assert p["spec"]["nodeName"] == "node-a"
    status, body, _ = await wire.req("POST", f"{NS}/pods/b1/binding", {**binding, "target": {"name": "node-b"}})
    assert status == 409 and 'already assigned to node "node-a"' in body["message"]


async def test_binding_preconditions_uid_and_resource_version(wire):
    _, created, _ = await wire.req("POST", f"{NS}/pods", pod("b2"))
    uid, rv = created["metadata"]["uid"], created["metadata"]["resourceVersion"]
    binding = {"apiVersion": "v1", "kind": "Binding", "target": {"name": "node-a"}}
    status, body, _ = await wire.req("POST", f"{NS}/pods/b2/binding",
                                     {**binding, "metadata": {"name": "b2", "uid": "not-" + uid}})
    assert status == 409 and body["reason"] == "Conflict"
    assert body["message"] == (f'Operation cannot be fulfilled on pods "b2": Precondition failed: '
                               f'UID in precondition: not-{uid}, UID in object meta: {uid}')
    status, body, _ = await wire.req("POST", f"{NS}/pods/b2/binding",
                                     {**binding, "metadata": {"name": "b2", "resourceVersion": "1"}})
    assert status == 409 and "Precondition failed: ResourceVersion in precondition: 1, " \
        f"ResourceVersion in object meta: {rv}" in body["message"]
    _, p, _ = await wire.req("GET", f"{NS}/pods/b2")
    assert not p["spec"].get("nodeName")  # neither refused binding landed
    status, _, _ = await wire.req("POST", f"{NS}/pods/b2/binding",
                                  {**binding, "metadata": {"name": "b2", "uid": uid, "resourceVersion": rv}})
    assert status == 201
    _, p, _ = await wire.req("GET", f"{NS}/pods/b2")
    assert p["spec"]["nodeName"] == "node-a"


async def test_namespace_must_exist_and_not_terminate(wire):
    status, body, _ = await wire.req("POST", "/api/v1/namespaces/nope/pods", pod("x"))
    assert status == 404 and body["message"] == 'namespaces "nope" not found'
    await wire.req("POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    status, ns, _ = await wire.req("DELETE", "/api/v1/namespaces/doomed")
    assert status == 200 and ns["status"]["phase"] == "Terminating"
    status, body, _ = await wire.req("POST", "/api/v1/namespaces/doomed/configmaps", {"metadata": {"name": "c"}})
    assert status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == ('configmaps "c" is forbidden: unable to create new content in namespace '
                               'doomed because it is being terminated')


async def test_delete_collection(wire):
    for i in range(3):
        await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": f"dc{i}", "labels": {"g": "1" if i else "0"}}})
    status, body, _ = await wire.req("DELETE", f"{NS}/configmaps", params={"labelSelector": "g=1"})
    assert status == 200 and sorted(i["metadata"]["name"] for i in body["items"]) == ["dc1", "dc2"]
    _, left, _ = await wire.req("GET", f"{NS}/configmaps")
    assert [i["metadata"]["name"] for i in left["items"]] == ["dc0"]
