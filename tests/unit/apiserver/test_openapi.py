"""OpenAPI v3 documents: shape, schema conversion, operations, and real kubectl use."""

from __future__ import annotations

import hashlib
import json

import orjson
import pytest

from pybernetes.api.resources import RESOURCES
from pybernetes.apiserver.openapi import (
    OPENAPI_V2_PROTOBUF,
    load_definitions,
    openapi_v2_protobuf,
    openapi_v3_document,
    openapi_v3_index,
    openapi_v3_index_document,
    openapi_v3_paths,
    openapi_v3_serialized,
)

PATCH_TYPES = {"application/apply-patch+yaml", "application/json-patch+json",
               "application/merge-patch+json", "application/strategic-merge-patch+json"}


@pytest.fixture(scope="module")
def core() -> dict:
    return openapi_v3_document("", "v1")


def walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, (*path, i))


def test_index_lists_every_group_version_with_hash():
    idx = openapi_v3_index()
    assert list(idx["paths"]) == openapi_v3_paths() == \
        ["api/v1", "apis/coordination.k8s.io/v1", "apis/discovery.k8s.io/v1"]
    for path, entry in idx["paths"].items():
        doc = openapi_v3_serialized(path)
        assert entry == {"serverRelativeURL": f"/openapi/v3/{path}?hash={doc.hash}"}
        assert doc.hash == hashlib.sha512(doc.body).hexdigest().upper()
        assert doc.etag == f'"{doc.hash}"'
    index_doc = openapi_v3_index_document()
    assert orjson.loads(index_doc.body) == idx


def test_unknown_paths_are_none():
    assert openapi_v3_document("apps", "v1") is None
    assert openapi_v3_serialized("apis/apps/v1") is None
    assert openapi_v3_serialized("nonsense") is None
    assert openapi_v3_serialized("/api/v1/") is openapi_v3_serialized("api/v1")  # cached, slash-tolerant


def test_document_is_openapi_3_0(core):
    assert core["openapi"] == "3.0.0"
    schemas = core["components"]["schemas"]
    text = json.dumps(core)
    assert "#/$defs/" not in text
    for path, node in walk(core):
        if isinstance(node.get("type"), list):
            pytest.fail(f"type list at {path}")
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.startswith("#/components/schemas/"), path
            assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_schemas_keep_kubernetes_extensions(core):
    schemas = core["components"]["schemas"]
    pod = schemas["io.k8s.api.core.v1.Pod"]
    assert pod["type"] == "object"
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert pod["properties"]["apiVersion"] == {
        "description": pod["properties"]["apiVersion"]["description"], "type": "string"}
    assert "enum" not in pod["properties"]["kind"]
    # A $ref with its own description is wrapped in allOf, as Kubernetes publishes it.
    target_port = schemas["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]
    assert target_port["allOf"] == [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]
    assert target_port["description"].startswith("Number or name of the port")
    assert "$ref" not in target_port
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    assert schemas["io.k8s.api.core.v1.ContainerPort"]["required"] == ["containerPort"]
    ios = schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert ios["format"] == "int-or-string"
    assert ios["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    assert schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]["oneOf"] == [
        {"type": "string"}, {"type": "number"}]
    for meta in ("ObjectMeta", "Status", "DeleteOptions", "Patch", "WatchEvent", "APIResourceList",
                 "ListMeta"):
        assert f"io.k8s.apimachinery.pkg.apis.meta.v1.{meta}" in schemas
    # Referenced kinds of subresources are included, unrelated groups are not.
    assert "io.k8s.api.autoscaling.v1.Scale" in schemas
    assert "io.k8s.api.policy.v1.Eviction" in schemas
    assert "io.k8s.api.apps.v1.Deployment" not in schemas
    # The JSONSchemaProps-style property literally named "enum" is untouched elsewhere;
    # here make sure an ordinary string enum survives conversion.
    assert schemas["io.k8s.api.core.v1.Container"]["properties"]["name"]["type"] == "string"


def _ops(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield path, method, op


def test_every_operation_has_action_and_gvk(core):
    for path, method, op in _ops(core):
        assert op["x-kubernetes-action"] in {"get", "list", "post", "put", "patch", "delete",
                                             "deletecollection"}, (path, method)
        assert set(op["x-kubernetes-group-version-kind"]) == {"group", "version", "kind"}


@pytest.mark.parametrize("gv", [("", "v1"), ("coordination.k8s.io", "v1"), ("discovery.k8s.io", "v1")])
def test_every_patch_lists_field_validation(gv):
    doc = openapi_v3_document(*gv)
    patches = [(p, op) for p, m, op in _ops(doc) if m == "patch"]
    assert patches
    for path, op in patches:
        params = {(p["name"], p["in"]) for p in op["parameters"]}
        assert {("fieldValidation", "query"), ("fieldManager", "query"), ("dryRun", "query"),
                ("force", "query")} <= params, path
        assert set(op["requestBody"]["content"]) == PATCH_TYPES


def test_pod_operations(core):
    ns = core["paths"]["/api/v1/namespaces/{namespace}/pods"]
    assert ns["get"]["operationId"] == "listCoreV1NamespacedPod"
    assert ns["get"]["x-kubernetes-action"] == "list"
    list_params = {p["name"] for p in ns["get"]["parameters"]}
    assert {"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch",
            "timeoutSeconds", "allowWatchBookmarks"} <= list_params
    assert ns["post"]["operationId"] == "createCoreV1NamespacedPod"
    assert {p["name"] for p in ns["post"]["parameters"]} == {"dryRun", "fieldManager", "fieldValidation"}
    assert ns["delete"]["x-kubernetes-action"] == "deletecollection"
    assert [p["name"] for p in ns["parameters"]] == ["namespace", "pretty"]
    item = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert {m for m in item if m != "parameters"} == {"get", "put", "patch", "delete"}
    assert [p["name"] for p in item["parameters"]] == ["name", "namespace", "pretty"]
    assert item["get"]["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    all_ns = core["paths"]["/api/v1/pods"]
    assert all_ns["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    log = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]
    assert {"container", "follow", "previous", "tailLines", "timestamps"} <= {p["name"] for p in log["parameters"]}
    assert "text/plain" in log["responses"]["200"]["content"]
    binding = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/binding"]
    assert set(binding) == {"post", "parameters"}
    assert binding["post"]["x-kubernetes-group-version-kind"]["kind"] == "Binding"
    eviction = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]
    assert eviction["x-kubernetes-group-version-kind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}


def test_scale_status_finalize_and_verbs(core):
    scale = core["paths"]["/api/v1/namespaces/{namespace}/replicationcontrollers/{name}/scale"]
    assert {m for m in scale if m != "parameters"} == {"get", "put", "patch"}
    assert scale["patch"]["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert scale["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"}
    assert core["paths"]["/api/v1/namespaces/{name}/finalize"]["put"]["operationId"] == \
        "replaceCoreV1NamespaceFinalize"
    assert "delete" not in core["paths"]["/api/v1/namespaces"]  # namespaces have no deletecollection
    assert core["paths"]["/api/v1/nodes/{name}/status"]["patch"]["operationId"] == "patchCoreV1NodeStatus"
    paths_for = {r.plural for r in RESOURCES if r.group == ""}
    assert all(any(f"/{p}" in path for path in core["paths"]) for p in paths_for)


def test_group_document_ids():
    doc = openapi_v3_document("coordination.k8s.io", "v1")
    item = doc["paths"]["/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"]
    assert item["patch"]["operationId"] == "patchCoordinationV1NamespacedLease"
    assert item["patch"]["tags"] == ["coordination_v1"]
    assert "io.k8s.api.coordination.v1.LeaseList" in doc["components"]["schemas"]
    assert "io.k8s.api.core.v1.Pod" not in doc["components"]["schemas"]


# ---------------------------------------------------------------- real kubectl


VERSIONS = pytest.mark.parametrize("version", ["1.32", "1.27"])


@VERSIONS
async def test_kubectl_explain_containers(kubectl, version):
    rc, out, err = await kubectl("explain", "pods.spec.containers", version=version)
    assert rc == 0, err
    assert "KIND:       Pod" in out and "FIELD: containers <[]Container>" in out
    assert "List of containers belonging to the pod." in out
    assert "imagePullPolicy\t<string>" in out and "ports\t<[]ContainerPort>" in out
    assert "name\t<string> -required-" in out


@VERSIONS
async def test_kubectl_explain_int_or_string_and_group(kubectl, version):
    rc, out, err = await kubectl("explain", "services.spec.ports.targetPort", version=version)
    assert rc == 0, err
    assert "FIELD: targetPort <IntOrString>" in out
    assert "Number or name of the port to access on the pods" in out  # the field's own description
    rc, out, err = await kubectl("explain", "leases.spec", version=version)
    assert rc == 0, err
    assert "coordination.k8s.io" in out and "holderIdentity\t<string>" in out


@VERSIONS
async def test_kubectl_strict_validation_sends_field_validation(kubectl, fake_server, tmp_path, version):
    manifest = tmp_path / "pod.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\nspec:\n"
                        "  containers:\n  - name: c\n    image: busybox\n")
    rc, out, err = await kubectl("create", "-f", str(manifest), "--validate=strict", version=version)
    assert rc == 0, err
    assert out.strip() == "pod/p1 created"
    [(method, path, body)] = fake_server.requests
    assert method == "POST" and "fieldValidation=Strict" in path
    assert body["spec"]["containers"][0]["name"] == "c"


async def test_kubectl_get_prints_server_table(kubectl, fake_server, tmp_path):
    fake_server.objects.append({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                     "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": [
            {"name": "c", "ready": True, "restartCount": 0, "state": {"running": {}}}]}})
    rc, out, err = await kubectl("get", "pods", "-o", "wide", "--show-labels")
    assert rc == 0, err
    header, row = out.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED",
                              "NODE", "READINESS", "GATES", "LABELS"]
    cols = row.split()
    assert cols[:4] == ["web", "1/1", "Running", "0"] and cols[5:] == [
        "10.0.0.7", "n1", "<none>", "<none>", "app=web"]
    rc, out, err = await kubectl("get", "pods")
    assert out.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]


async def test_kubectl_127_needs_openapi_v2(kubectl, fake_server, tmp_path):
    """Why /openapi/v2 is served: kubectl 1.27 fetches it first and gives up on a 404."""
    fake_server.serve_v2 = False
    rc, out, err = await kubectl("explain", "pods", version="1.27")
    assert rc != 0 and "NotFound" in err
    rc, out, err = await kubectl("explain", "pods", version="1.32")
    assert rc == 0, err


# ---------------------------------------------------------------- v2 protobuf


def _decode(buf: bytes) -> list[tuple[int, int, object]]:
    """Minimal protobuf wire decoder: [(field, wire type, int | bytes)]."""
    out, i = [], 0

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    while i < len(buf):
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            out.append((num, wt, varint()))
        elif wt == 1:
            out.append((num, wt, buf[i:i + 8]))
            i += 8
        elif wt == 2:
            n = varint()
            out.append((num, wt, buf[i:i + n]))
            i += n
        else:
            raise AssertionError(f"unexpected wire type {wt}")
    assert i == len(buf)
    return out


def test_openapi_v2_protobuf_document():
    doc = openapi_v2_protobuf()
    assert doc.content_type == OPENAPI_V2_PROTOBUF and "@" not in doc.content_type
    assert doc.hash == hashlib.sha512(doc.body).hexdigest().upper()
    top = {num: value for num, _, value in _decode(doc.body)}
    assert top[1] == b"2.0"
    definitions = _decode(top[9])
    named = {}
    for num, _, entry in definitions:
        assert num == 1
        fields = {n: v for n, _, v in _decode(entry)}
        named[fields[1].decode()] = fields[2]
    assert set(named) == set(load_definitions())
    pod = _decode(named["io.k8s.api.core.v1.Pod"])
    extensions = [dict((n, v) for n, _, v in _decode(v)) for n, _, v in pod if n == 31]
    gvk = [e for e in extensions if e[1] == b"x-kubernetes-group-version-kind"]
    assert len(gvk) == 1
    yaml_text = dict((n, v) for n, _, v in _decode(gvk[0][2]))[2]
    assert json.loads(yaml_text) == [{"group": "", "kind": "Pod", "version": "v1"}]
    types = [dict((n, v) for n, _, v in _decode(v)) for n, _, v in pod if n == 22]
    assert types == [{1: b"object"}]
    ios = {n: v for n, _, v in _decode(named["io.k8s.apimachinery.pkg.util.intstr.IntOrString"])}
    assert ios[2] == b"int-or-string"


@VERSIONS
async def test_kubectl_client_side_apply_uses_patch_metadata(kubectl, fake_server, tmp_path, version):
    """kubectl builds a strategic merge patch from the schema's merge keys ($setElementOrder by name)."""
    last = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}]}}
    live = json.loads(json.dumps(last))
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(last)}
    live["metadata"]["resourceVersion"] = "5"
    fake_server.objects.append(live)
    manifest = tmp_path / "pod.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\nspec:\n"
                        "  containers:\n  - name: b\n    image: redis:7\n  - name: a\n    image: nginx\n")
    rc, out, err = await kubectl("apply", "-f", str(manifest), version=version)
    assert rc == 0, err
    assert out.strip() == "pod/web configured"
    [(content_type, path, body)] = fake_server.patches
    assert content_type == "application/strategic-merge-patch+json"
    assert "fieldValidation=Strict" in path
    assert body["spec"] == {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                            "containers": [{"image": "redis:7", "name": "b"}]}


def test_definitions_loaded_once_and_shared_with_api_schema():
    from pybernetes.api import schema

    assert load_definitions() is schema.definitions()


def test_invalidate_rebuilds_identical_documents():
    from pybernetes.apiserver.openapi import invalidate

    before = openapi_v3_serialized("api/v1")
    index_before = openapi_v3_index_document()
    invalidate()
    after = openapi_v3_serialized("api/v1")
    assert after is not before and after.hash == before.hash
    assert openapi_v3_index_document() is not index_before
    assert openapi_v3_index_document().body == index_before.body
