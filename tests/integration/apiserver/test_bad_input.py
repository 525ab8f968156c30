"""Bad input gets a precise Status and stores nothing."""

from __future__ import annotations

import pytest

from .wire import Wire, pod

NS = "/api/v1/namespaces/default"


@pytest.fixture
async def wire(apiserver):
    w = Wire(apiserver.url)
    yield w
    await w.close()


async def _nothing_stored(wire, plural="pods"):
    _, body, _ = await wire.req("GET", f"{NS}/{plural}")
    assert body["items"] == []


async def test_malformed_json_is_400(wire):
    status, body, _ = await wire.req("POST", f"{NS}/pods", raw=b'{"metadata": {"name": "x"')
    assert status == 400 and body["kind"] == "Status" and body["reason"] == "BadRequest"
    await _nothing_stored(wire)


async def test_malformed_yaml_is_400(wire):
    status, body, _ = await wire.req("POST", f"{NS}/pods", raw=b"metadata:\n  name: [x\n",
                                     content_type="application/yaml")
    assert status == 400 and body["reason"] == "BadRequest" and "yaml" in body["message"]
    await _nothing_stored(wire)


async def test_yaml_body_accepted(wire):
    raw = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n"
    status, body, _ = await wire.req("POST", f"{NS}/configmaps", raw=raw, content_type="application/yaml")
    assert status == 201 and body["data"] == {"k": "v"}


async def test_unknown_field_strict_is_400(wire):
    p = pod("strict")
    p["spec"]["containers"][0]["bogus"] = 1
    status, body, _ = await wire.req("POST", f"{NS}/pods", p, params={"fieldValidation": "Strict"})
    assert status == 400
    assert body["message"] == ('Pod in version "v1" cannot be handled as a Pod: '
                               'strict decoding error: unknown field "spec.containers[0].bogus"')
    await _nothing_stored(wire)


async def test_unknown_field_warn_drops_with_header(wire):
    p = pod("warned")
    p["spec"]["bogus"] = True
    status, body, headers = await wire.req("POST", f"{NS}/pods", p)
    assert status == 201 and "bogus" not in body["spec"]
    assert headers.get("Warning") == '299 - "unknown field \\"spec.bogus\\""'


async def test_wrong_type_is_400(wire):
    p = pod("typed")
    p["spec"]["containers"][0]["ports"] = [{"containerPort": "eighty"}]
    status, body, _ = await wire.req("POST", f"{NS}/pods", p)
    assert status == 400 and body["message"].startswith('Pod in version "v1" cannot be handled as a Pod: ')
    await _nothing_stored(wire)


async def test_invalid_object_is_422_with_causes(wire):
    p = pod("Bad_Name")
    p["spec"]["containers"][0].pop("image")
    status, body, _ = await wire.req("POST", f"{NS}/pods", p)
    assert status == 422 and body["reason"] == "Invalid"
    fields = {c["field"] for c in body["details"]["causes"]}
    assert {"metadata.name", "spec.containers[0].image"} <= fields
    assert body["message"].startswith('Pod "Bad_Name" is invalid: [')
    assert body["details"]["name"] == "Bad_Name" and body["details"]["kind"] == "Pod"
    await _nothing_stored(wire)


async def test_missing_name_is_422(wire):
    status, body, _ = await wire.req("POST", f"{NS}/configmaps", {"data": {}})
    assert status == 422 and body["details"]["causes"][0]["field"] == "metadata.name"


async def test_rc_selector_must_match_template(wire):
    rc = {"metadata": {"name": "rc"}, "spec": {"replicas": 1, "selector": {"app": "a"}, "template": {
        "metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    status, body, _ = await wire.req("POST", f"{NS}/replicationcontrollers", rc)
    assert status == 422
    assert any(c["field"] == "spec.template.metadata.labels" for c in body["details"]["causes"])


async def test_oversized_body_is_413(wire):
    big = {"metadata": {"name": "big"}, "data": {"k": "x" * (3 * 1024 * 1024 + 10)}}
    status, body, _ = await wire.req("POST", f"{NS}/configmaps", big)
    assert status == 413 and body["reason"] == "RequestEntityTooLarge"
    await _nothing_stored(wire, "configmaps")


async def test_kind_and_name_mismatches_are_400(wire):
    status, body, _ = await wire.req("POST", f"{NS}/pods", {"apiVersion": "v1", "kind": "Service",
                                                             "metadata": {"name": "x"}})
    assert status == 400
    status, body, _ = await wire.req("PUT", f"{NS}/configmaps/a", {"metadata": {"name": "b"}})
    assert status == 400
    assert body["message"] == "the name of the object (b) does not match the name on the URL (a)"


async def test_unknown_paths_and_methods(wire):
    status, body, _ = await wire.req("GET", "/api/v1/widgets")
    assert status == 404 and body["kind"] == "Status"
    status, body, _ = await wire.req("POST", f"{NS}/pods/x")
    assert status == 405 and body["reason"] == "MethodNotAllowed"
