"""Deletion semantics: graceful pods, finalizers, preconditions."""

from __future__ import annotations

import pytest

from .wire import Wire, pod

NS = "/api/v1/namespaces/default"


@pytest.fixture
async def wire(apiserver):
    w = Wire(apiserver.url)
    yield w
    await w.close()


async def test_unbound_pod_deleted_at_once(wire):
    await wire.req("POST", f"{NS}/pods", pod("u"))
    status, body, _ = await wire.req("DELETE", f"{NS}/pods/u")
    assert status == 200 and body["metadata"]["name"] == "u"
    assert (await wire.req("GET", f"{NS}/pods/u"))[0] == 404


async def test_bound_pod_marked_then_removed_by_zero_grace(wire):
    await wire.req("POST", f"{NS}/pods", pod("g", nodeName="n1"))
    status, marked, _ = await wire.req("DELETE", f"{NS}/pods/g")
    assert status == 200
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["deletionGracePeriodSeconds"] == 30
    status, still, _ = await wire.req("GET", f"{NS}/pods/g")
    assert status == 200 and still["metadata"]["deletionTimestamp"]
    # The kubelet confirms with a zero grace period.
    status, _, _ = await wire.req("DELETE", f"{NS}/pods/g", {"gracePeriodSeconds": 0})
    assert status == 200
    assert (await wire.req("GET", f"{NS}/pods/g"))[0] == 404


async def test_finalizers_hold_deletion_until_removed(wire):
    cm = {"metadata": {"name": "fin", "finalizers": ["example.com/hold"]}, "data": {}}
    await wire.req("POST", f"{NS}/configmaps", cm)
    status, marked, _ = await wire.req("DELETE", f"{NS}/configmaps/fin")
    assert status == 200 and marked["metadata"]["deletionTimestamp"]
    _, obj, _ = await wire.req("GET", f"{NS}/configmaps/fin")
    obj["metadata"]["finalizers"] = []
    status, _, _ = await wire.req("PUT", f"{NS}/configmaps/fin", obj)
    assert status == 200
    assert (await wire.req("GET", f"{NS}/configmaps/fin"))[0] == 404


async def test_delete_preconditions(wire):
    _, cm, _ = await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": "pre"}})
    status, body, _ = await wire.req("DELETE", f"{NS}/configmaps/pre", {"preconditions": {"uid": "wrong"}})
    assert status == 409
    assert body["message"] == (f'Operation cannot be fulfilled on configmaps "pre": Precondition failed: '
                               f'UID in precondition: wrong, UID in object meta: {cm["metadata"]["uid"]}')
    status, body, _ = await wire.req("DELETE", f"{NS}/configmaps/pre",
                                     {"preconditions": {"resourceVersion": "1"}})
    assert status == 409
    assert (await wire.req("GET", f"{NS}/configmaps/pre"))[0] == 200
    status, body, _ = await wire.req("DELETE", f"{NS}/configmaps/pre",
                                     {"preconditions": {"uid": cm["metadata"]["uid"],
                                                        "resourceVersion": cm["metadata"]["resourceVersion"]}})
    assert status == 200 and body["status"] == "Success"
    assert body["details"] == {"name": "pre", "kind": "configmaps", "uid": cm["metadata"]["uid"]}


async def test_delete_missing_is_404(wire):
    status, body, _ = await wire.req("DELETE", f"{NS}/configmaps/ghost")
    assert status == 404 and body["message"] == 'configmaps "ghost" not found'


async def test_orphan_propagation_adds_finalizer(wire):
    await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": "owner"}})
    status, marked, _ = await wire.req("DELETE", f"{NS}/configmaps/owner", {"propagationPolicy": "Orphan"})
    assert status == 200 and marked["metadata"]["finalizers"] == ["orphan"]
    status, body, _ = await wire.req("DELETE", f"{NS}/configmaps/owner", {"propagationPolicy": "Sideways"})
    assert status == 422


async def test_namespace_terminates_until_finalized(wire):
    status, ns, _ = await wire.req("POST", "/api/v1/namespaces", {"metadata": {"name": "gone"}})
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    status, marked, _ = await wire.req("DELETE", "/api/v1/namespaces/gone")
    assert status == 200 and marked["status"]["phase"] == "Terminating"
    status, got, _ = await wire.req("GET", "/api/v1/namespaces/gone/status")
    assert status == 200 and got["status"]["phase"] == "Terminating"
    got["spec"]["finalizers"] = []
    status, body, _ = await wire.req("PUT", "/api/v1/namespaces/gone/finalize", got)
    assert status == 200, body
    assert (await wire.req("GET", "/api/v1/namespaces/gone"))[0] == 404


async def test_patch_uid_and_resource_version_are_preconditions(wire):
    _, cm, _ = await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": "pp"}})
    status, body, _ = await wire.req("PATCH", f"{NS}/configmaps/pp", {"metadata": {"uid": "other"}},
                                     content_type="application/merge-patch+json")
    assert status == 409 and "UID in precondition: other" in body["message"]
    status, body, _ = await wire.req("PATCH", f"{NS}/configmaps/pp", {"metadata": {"resourceVersion": "1"}},
                                     content_type="application/merge-patch+json")
    assert status == 409 and body["reason"] == "Conflict"
    status, body, _ = await wire.req("PATCH", f"{NS}/configmaps/pp",
                                     {"metadata": {"uid": cm["metadata"]["uid"], "labels": {"a": "b"}}},
                                     content_type="application/merge-patch+json")
    assert status == 200 and body["metadata"]["labels"] == {"a": "b"}
