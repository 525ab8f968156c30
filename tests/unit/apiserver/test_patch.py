"""The patch engine against the bodies real clients send.

Expected results follow Kubernetes' strategicpatch package and json-patch
library semantics: exact objects, exact Status bodies.
"""

from __future__ import annotations

import copy
import json

import orjson
import pytest

from pybernetes.apiserver.errors import APIError
from pybernetes.apiserver.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    SchemaNode,
    apply_patch,
)

POD = "io.k8s.api.core.v1.Pod"


def pod() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "fe"},
                     "finalizers": ["a.example/x", "b.example/y"]},
        "spec": {
            "containers": [
                {"name": "main", "image": "nginx:1",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                {"name": "side", "image": "busybox"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "k1", "operator": "Exists"}],
        },
    }


def smp(original: dict, patch, definition: str = POD) -> dict:
    return apply_patch(STRATEGIC_MERGE_PATCH, original, json.dumps(patch).encode(), definition=definition)


def status_of(exc: PatchError) -> dict:
    return orjson.loads(exc.body())


# ---------------------------------------------------------------- JSON patch
class TestJSONPatch:
    def test_ops_apply_in_order(self):
        body = json.dumps([
            {"op": "test", "path": "/metadata/labels/app", "value": "web"},
            {"op": "replace", "path": "/metadata/labels/app", "value": "api"},
            {"op": "add", "path": "/spec/containers/0/env/-", "value": {"name": "C", "value": "3"}},
            {"op": "remove", "path": "/spec/containers/1"},
            {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"},
            {"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/labels/moved"},
        ])
        out = apply_patch(JSON_PATCH, pod(), body, definition=POD)
        assert out["metadata"]["labels"] == {"app": "api", "copied": "api", "moved": "fe"}
        assert [c["name"] for c in out["spec"]["containers"]] == ["main"]
        assert out["spec"]["containers"][0]["env"][-1] == {"name": "C", "value": "3"}

    def test_original_is_not_modified(self):
        original = pod()
        apply_patch(JSON_PATCH, original, b'[{"op":"remove","path":"/metadata/labels"}]', definition=POD)
        assert original == pod()

    def test_replace_missing_key_sets_it_like_kubernetes(self):
        out = apply_patch(JSON_PATCH, pod(), b'[{"op":"replace","path":"/metadata/labels/new","value":"v"}]',
                          definition=POD)
        assert out["metadata"]["labels"] == {"app": "web", "tier": "fe", "new": "v"}

    @pytest.mark.parametrize("ops, detail", [
        ([{"op": "test", "path": "/metadata/labels/app", "value": "nope"}],
         "testing value /metadata/labels/app failed: test failed"),
        ([{"op": "remove", "path": "/metadata/labels/missing"}], None),
        ([{"op": "add", "path": "/no/such/path", "value": 1}], None),
        ([{"op": "replace", "path": "/spec/containers/9/image", "value": "x"}], None),
        ([{"op": "frobnicate", "path": "/metadata"}], "Unexpected kind: frobnicate"),
    ])
    def test_failed_operation_is_422_with_kubernetes_fixed_message(self, ops, detail):
        original = pod()
        with pytest.raises(PatchError) as ei:
            apply_patch(JSON_PATCH, original, json.dumps(ops), definition=POD)
        e = ei.value
        assert isinstance(e, APIError)
        assert e.body() == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                            b'"message":"the server rejected our request due to an error in our request",'
                            b'"reason":"Invalid","details":{},"code":422}')
        assert str(e) == "the server rejected our request due to an error in our request"
        if detail:
            assert e.detail == detail
        assert original == pod()

    def test_not_json_is_400(self):
        with pytest.raises(PatchError) as ei:
            apply_patch(JSON_PATCH, pod(), b"[{", definition=POD)
        assert ei.value.code == 400
        assert status_of(ei.value) == {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "error decoding patch: unexpected end of JSON input", "reason": "BadRequest", "code": 400}

    def test_object_instead_of_list_is_400(self):
        with pytest.raises(PatchError) as ei:
            apply_patch(JSON_PATCH, pod(), b'{"op":"add","path":"/a","value":1}', definition=POD)
        assert ei.value.code == 400
        assert str(ei.value) == ("error decoding patch: json: cannot unmarshal object into Go value of type "
                                 "[]handlers.jsonPatchOp")

    def test_invalid_character_wording(self):
        with pytest.raises(PatchError) as ei:
            apply_patch(JSON_PATCH, pod(), b"nope", definition=POD)
        assert str(ei.value) == "error decoding patch: invalid character 'n' looking for beginning of value"


# ---------------------------------------------------------- JSON merge patch
class TestMergePatch:
    def test_kubectl_label_and_annotate_bodies(self):
        # kubectl label / annotate send two-way JSON merge patches of metadata.
        out = apply_patch(MERGE_PATCH, pod(), b'{"metadata":{"labels":{"env":"prod","tier":null}}}',
                          definition=POD)
        assert out["metadata"]["labels"] == {"app": "web", "env": "prod"}
        out = apply_patch(MERGE_PATCH, out, b'{"metadata":{"annotations":{"note":"hi"}}}', definition=POD)
        assert out["metadata"]["annotations"] == {"note": "hi"}

    def test_kubectl_scale_body_on_scale_subresource(self):
        scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "rc"},
                 "spec": {"replicas": 1}, "status": {"replicas": 1}}
        out = apply_patch(MERGE_PATCH, scale, b'{"spec":{"replicas":3}}',
                          definition="io.k8s.api.autoscaling.v1.Scale")
        assert out == {**scale, "spec": {"replicas": 3}}

    def test_lists_are_replaced_and_nulls_pruned_from_new_values(self):
        body = b'{"spec":{"containers":[{"name":"only","image":"x","args":null}]},"x":{"a":null,"b":{"c":null}}}'
        out = apply_patch(MERGE_PATCH, pod(), body, definition=POD)
        assert out["spec"]["containers"] == [{"name": "only", "image": "x"}]
        assert out["x"] == {"b": {}}

    def test_null_removes_subtree_and_scalar_replaces_map(self):
        out = apply_patch(MERGE_PATCH, pod(), b'{"spec":null,"metadata":{"labels":"x"}}', definition=POD)
        assert "spec" not in out
        assert out["metadata"]["labels"] == "x"

    def test_array_body_is_400(self):
        with pytest.raises(PatchError) as ei:
            apply_patch(MERGE_PATCH, pod(), b"[]", definition=POD)
        assert str(ei.value) == ("error decoding patch: json: cannot unmarshal array into Go value of type "
                                 "map[string]interface {}")


# ---------------------------------------------------- strategic merge patch
class TestStrategicMergeLists:
    def test_new_container_is_merged_in_not_replacing(self):
        # The kubectl patch docs example: a new container joins the list; a
        # patch item new to the server goes before server-only items.
        out = smp(pod(), {"spec": {"containers": [{"name": "extra", "image": "redis"}]}})
        assert out["spec"]["containers"] == [{"name": "extra", "image": "redis"}] + pod()["spec"]["containers"]

    def test_existing_container_merged_by_name_in_place(self):
        out = smp(pod(), {"spec": {"containers": [{"name": "side", "image": "busybox:2",
                                                   "command": ["sleep", "1"]}]}})
        assert out["spec"]["containers"] == [
            pod()["spec"]["containers"][0],
            {"name": "side", "image": "busybox:2", "command": ["sleep", "1"]},
        ]

    def test_env_merged_by_name_and_ports_by_container_port(self):
        out = smp(pod(), {"spec": {"containers": [{
            "name": "main",
            "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}],
            "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
        }]}})
        main = out["spec"]["containers"][0]
        # A (server only) precedes B on the server, so it stays first; C follows
        # the patch item B it was sent after.
        assert main["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "two"},
                               {"name": "C", "value": "3"}]
        assert main["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"},
                                 {"containerPort": 443}]

    def test_patch_delete_directive_removes_item_by_merge_key(self):
        out = smp(pod(), {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}})
        assert [c["name"] for c in out["spec"]["containers"]] == ["main"]

    def test_patch_replace_directive_replaces_whole_list(self):
        out = smp(pod(), {"spec": {"containers": [{"name": "solo", "image": "x"}, {"$patch": "replace"}]}})
        assert out["spec"]["containers"] == [{"name": "solo", "image": "x"}]

    def test_list_without_merge_strategy_is_replaced(self):
        out = smp(pod(), {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}],
                                   "containers": [{"name": "main", "args": ["a"]}]}})
        assert out["spec"]["tolerations"] == [{"key": "k2", "operator": "Exists"}]
        out2 = smp(out, {"spec": {"containers": [{"name": "main", "args": ["b", "c"]}]}})
        assert out2["spec"]["containers"][0]["args"] == ["b", "c"]

    def test_primitive_list_with_merge_strategy_is_a_set(self):
        out = smp(pod(), {"metadata": {"finalizers": ["b.example/y", "c.example/z"]}})
        assert out["metadata"]["finalizers"] == ["a.example/x", "b.example/y", "c.example/z"]
        out = smp(pod(), {"metadata": {"finalizers": ["c.example/z"]}})
        assert out["metadata"]["finalizers"] == ["c.example/z", "a.example/x", "b.example/y"]

    def test_delete_from_primitive_list(self):
        out = smp(pod(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example/x", "nope"]}})
        assert out["metadata"]["finalizers"] == ["b.example/y"]

    def test_set_element_order_reorders_merged_list(self):
        out = smp(pod(), {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "main"}],
                                   "containers": [{"name": "main", "image": "nginx:2"}]}})
        assert [(c["name"], c["image"]) for c in out["spec"]["containers"]] == [("side", "busybox"),
                                                                              ("main", "nginx:2")]

    def test_set_element_order_for_primitives(self):
        out = smp(pod(), {"metadata": {"$setElementOrder/finalizers": ["b.example/y", "c", "a.example/x"],
                                       "finalizers": ["c"]}})
        assert out["metadata"]["finalizers"] == ["b.example/y", "c", "a.example/x"]

    def test_new_list_value_is_taken_without_directives_or_nulls(self):
        out = smp({"metadata": {"name": "x"}, "spec": {}},
                  {"spec": {"containers": [{"name": "c", "image": None, "env": [{"name": "Z", "$patch": "delete"}]}],
                            "volumes": [{"$patch": "delete", "name": "v"}]}})
        assert out == {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "env": []}],
                                                           "volumes": []}}


class TestStrategicMergeMaps:
    def test_null_deletes_keys_and_maps_merge(self):
        out = smp(pod(), {"metadata": {"labels": {"tier": None, "env": "prod"}, "annotations": {"a": "b"}}})
        assert out["metadata"]["labels"] == {"app": "web", "env": "prod"}
        assert out["metadata"]["annotations"] == {"a": "b"}

    def test_null_for_missing_key_is_ignored(self):
        out = smp(pod(), {"metadata": {"labels": {"absent": None}}, "spec": {"nodeName": None}})
        assert out == pod()

    def test_map_patch_replace_directive(self):
        out = smp(pod(), {"metadata": {"labels": {"$patch": "replace", "only": "this"}}})
        assert out["metadata"]["labels"] == {"only": "this"}

    def test_map_patch_delete_directive_empties_it(self):
        out = smp(pod(), {"metadata": {"labels": {"$patch": "delete"}}})
        assert out["metadata"]["labels"] == {}

    def test_retain_keys_clears_other_volume_source(self):
        # kubectl apply switching a volume from emptyDir to hostPath.
        out = smp(pod(), {"spec": {"$setElementOrder/volumes": [{"name": "data"}], "volumes": [
            {"$retainKeys": ["hostPath", "name"], "emptyDir": None, "hostPath": {"path": "/srv"},
             "name": "data"}]}})
        assert out["spec"]["volumes"] == [{"name": "data", "hostPath": {"path": "/srv"}}]

    def test_retain_keys_must_cover_patch_keys(self):
        with pytest.raises(PatchError) as ei:
            smp(pod(), {"spec": {"volumes": [{"$retainKeys": ["name"], "hostPath": {"path": "/x"},
                                              "name": "data"}]}})
        assert status_of(ei.value) == {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "invalid patch format of retainKeys", "reason": "BadRequest", "code": 400}

    def test_replace_strategy_map(self):
        pdb = {"spec": {"selector": {"matchLabels": {"a": "1"}, "matchExpressions": []}}}
        out = smp(pdb, {"spec": {"selector": {"matchLabels": {"b": "2"}}}},
                  definition="io.k8s.api.policy.v1.PodDisruptionBudget")
        assert out["spec"]["selector"] == {"matchLabels": {"b": "2"}}

    def test_scalar_over_map_replaces(self):
        out = smp(pod(), {"spec": {"volumes": "gone"}})
        assert out["spec"]["volumes"] == "gone"


class TestStrategicMergeRealClients:
    def test_kubectl_client_side_apply_three_way_patch(self):
        # What kubectl apply sends after the manifest drops label tier, env B,
        # and bumps the image (last-applied annotation elided).
        live = pod()
        body = {
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"},
                         "labels": {"tier": None}},
            "spec": {"$setElementOrder/containers": [{"name": "main"}, {"name": "side"}],
                     "containers": [{"$setElementOrder/env": [{"name": "A"}],
                                     "env": [{"$patch": "delete", "name": "B"}],
                                     "image": "nginx:2", "name": "main"}]},
        }
        out = smp(live, body)
        expected = pod()
        expected["metadata"]["labels"] = {"app": "web"}
        expected["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}
        expected["spec"]["containers"][0]["image"] = "nginx:2"
        expected["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
        assert out == expected

    def test_kubectl_apply_adding_container_with_order(self):
        body = {"spec": {"$setElementOrder/containers": [{"name": "main"}, {"name": "new"}, {"name": "side"}],
                         "containers": [{"name": "new", "image": "redis"}]}}
        out = smp(pod(), body)
        assert [c["name"] for c in out["spec"]["containers"]] == ["main", "new", "side"]

    def test_python_client_dict_patch(self):
        # CoreV1Api.patch_namespaced_pod(name, ns, {"metadata": {"labels": {...}}})
        out = smp(pod(), {"metadata": {"labels": {"patched": "true"}}})
        assert out["metadata"]["labels"] == {"app": "web", "tier": "fe", "patched": "true"}

    def test_kubectl_rollout_restart_style_annotation(self):
        body = {"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}}}}}
        rc = {"spec": {"replicas": 1, "template": {"metadata": {"labels": {"a": "b"}},
                                                    "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
        out = smp(rc, body, definition="io.k8s.api.core.v1.ReplicationController")
        assert out["spec"]["template"]["metadata"] == {
            "labels": {"a": "b"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}}

    def test_service_ports_merge_by_port(self):
        svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}], "selector": {"a": "b"}}}
        out = smp(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}},
                  definition="io.k8s.api.core.v1.Service")
        assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090, "protocol": "TCP"}, {"port": 443}]

    def test_owner_references_merge_by_uid(self):
        obj = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "kind": "RC", "apiVersion": "v1"}]}}
        out = smp(obj, {"metadata": {"ownerReferences": [{"uid": "2", "name": "b", "kind": "RC",
                                                          "apiVersion": "v1"}]}})
        assert [r["uid"] for r in out["metadata"]["ownerReferences"]] == ["2", "1"]

    def test_node_status_conditions_merge_by_type(self):
        node = {"status": {"conditions": [{"type": "Ready", "status": "False"},
                                          {"type": "MemoryPressure", "status": "False"}]}}
        out = smp(node, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                  definition="io.k8s.api.core.v1.Node")
        assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                               {"type": "MemoryPressure", "status": "False"}]


class TestStrategicMergeErrors:
    def test_missing_merge_key_is_plain_500(self):
        with pytest.raises(PatchError) as ei:
            smp(pod(), {"spec": {"containers": [{"image": "x"}]}})
        assert ei.value.body() == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                                   b'"message":"map: map[image:x] does not contain declared merge key: name",'
                                   b'"code":500}')

    def test_unknown_directive(self):
        with pytest.raises(PatchError) as ei:
            smp(pod(), {"metadata": {"labels": {"$patch": "explode"}}})
        assert ei.value.code == 500
        assert str(ei.value) == "unknown patch type: explode in map: map[$patch:explode]"

    def test_merge_directive_in_list_not_supported(self):
        with pytest.raises(PatchError) as ei:
            smp(pod(), {"spec": {"containers": [{"$patch": "merge"}]}})
        assert str(ei.value) == "merging lists cannot yet be specified in the patch"

    def test_bad_delete_list_key(self):
        with pytest.raises(PatchError) as ei:
            smp(pod(), {"metadata": {"$deleteFromPrimitiveList": ["x"]}})
        assert (ei.value.code, str(ei.value)) == (400, "invalid patch format of primitive list")

    def test_bad_set_element_order_key(self):
        with pytest.raises(PatchError) as ei:
            smp(pod(), {"spec": {"$setElementOrder": []}})
        assert (ei.value.code, str(ei.value)) == (400, "invalid patch format of setElementOrder list")

    def test_set_element_order_mismatch(self):
        with pytest.raises(PatchError) as ei:
            smp(pod(), {"spec": {"$setElementOrder/containers": [{"name": "main"}],
                                 "containers": [{"name": "other", "image": "x"}]}})
        assert ei.value.code == 500
        assert str(ei.value).startswith("The order in patch list:\n[map[image:x name:other]]\n doesn't match "
                                        "$setElementOrder list:\n[map[name:main]]")

    def test_list_of_lists_is_422(self):
        obj = {"metadata": {"finalizers": [["a"]]}}
        with pytest.raises(PatchError) as ei:
            smp(obj, {"metadata": {"finalizers": [["b"]]}})
        assert ei.value.code == 422
        assert ei.value.detail == "lists of lists are not supported"

    def test_body_must_be_an_object(self):
        with pytest.raises(PatchError) as ei:
            smp(pod(), [1])
        assert (ei.value.code, str(ei.value)) == (
            400, "json: cannot unmarshal array into Go value of type map[string]interface {}")

    def test_not_json(self):
        with pytest.raises(PatchError) as ei:
            apply_patch(STRATEGIC_MERGE_PATCH, pod(), b'{"a" 1}', definition=POD)
        assert (ei.value.code, str(ei.value)) == (400, "invalid character '1' after object key")

    def test_kind_without_schema_is_415_like_custom_resources(self):
        with pytest.raises(PatchError) as ei:
            smp({}, {"a": 1}, definition="com.example.v1.Widget")
        assert ei.value.code == 415
        assert ei.value.reason == "UnsupportedMediaType"


def test_unknown_content_type_is_415():
    with pytest.raises(PatchError) as ei:
        apply_patch("application/json", pod(), b"{}", definition=POD)
    assert ei.value.code == 415


def test_content_type_parameters_are_ignored():
    out = apply_patch("application/merge-patch+json; charset=utf-8", pod(), b'{"spec":null}', definition=POD)
    assert "spec" not in out


def test_original_never_mutated_by_strategic_merge():
    original = pod()
    snapshot = copy.deepcopy(original)
    smp(original, {"metadata": {"labels": {"app": None}, "$deleteFromPrimitiveList/finalizers": ["a.example/x"]},
                   "spec": {"containers": [{"name": "main", "env": [{"name": "A", "$patch": "delete"}]}],
                            "volumes": [{"name": "data", "$retainKeys": ["name"]}]}})
    assert original == snapshot


def test_schema_node_reads_patch_metadata():
    spec = SchemaNode.for_definition(POD).field("spec")
    containers = spec.field("containers")
    assert (containers.kind, containers.patch_strategy, containers.merge_key) == ("array", "merge", "name")
    assert containers.list_type == "map" and containers.list_map_keys == ("name",)
    volumes = spec.field("volumes")
    assert volumes.patch_strategies == ("merge", "retainKeys") and volumes.patch_strategy == "merge"
    labels = SchemaNode.for_definition(POD).field("metadata").field("labels")
    assert labels.kind == "map" and labels.field("anything").kind == "scalar"
    selector = SchemaNode.for_definition("io.k8s.api.policy.v1.PodDisruptionBudget").field("spec").field("selector")
    assert (selector.kind, selector.patch_strategy, selector.map_type) == ("struct", "replace", "atomic")


# Cases from apimachinery's strategicpatch tests, mapped onto real fields:
# mergingList -> spec.containers (merge key name), mergingIntList ->
# metadata.finalizers (merged set of scalars), nonMergingIntList -> a
# container's args (atomic list).
def _names(items):
    return [{"name": n, **extra} for n, extra in items]


@pytest.mark.parametrize("current, patch, expected", [
    pytest.param(
        {"spec": {"containers": _names([("1", {}), ("2", {"value": "b"}), ("3", {})])}},
        {"spec": {"containers": _names([("3", {"value": "c"}), ("1", {"value": "a"}), ("2", {"other": "x"})])}},
        {"spec": {"containers": _names([("3", {"value": "c"}), ("1", {"value": "a"}),
                                        ("2", {"value": "b", "other": "x"})])}},
        id="preserve the order from the patch in a merging list"),
    pytest.param(
        {"spec": {"containers": _names([("1", {}), ("2", {"value": "b"}), ("3", {})])}},
        {"spec": {"containers": _names([("3", {"value": "c"}), ("1", {"value": "a"})])}},
        {"spec": {"containers": _names([("2", {"value": "b"}), ("3", {"value": "c"}), ("1", {"value": "a"})])}},
        id="preserve the order from the patch in a merging list 2"),
    pytest.param(
        {"metadata": {"finalizers": ["1", "2", "3"]}}, {"metadata": {"finalizers": ["3", "1"]}},
        {"metadata": {"finalizers": ["2", "3", "1"]}},
        id="preserve the order from the patch in a merging int list"),
    pytest.param(
        {"spec": {"containers": _names([("1", {}), ("3", {})])}},
        {"spec": {"$setElementOrder/containers": _names([("3", {}), ("2", {}), ("1", {})]),
                  "containers": _names([("3", {"value": "3"}), ("1", {"value": "1"})])}},
        {"spec": {"containers": _names([("3", {"value": "3"}), ("1", {"value": "1"})])}},
        id="$setElementOrder contains item that is not present in the list to be merged"),
    pytest.param(
        {"metadata": {"finalizers": ["1", "3"]}},
        {"metadata": {"$setElementOrder/finalizers": ["3", "2", "1"]}},
        {"metadata": {"finalizers": ["3", "1"]}},
        id="$setElementOrder contains item that is not present in the int list"),
    pytest.param(
        {"metadata": {"finalizers": ["1", "2"]}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["3"]}},
        {"metadata": {"finalizers": ["1", "2"]}},
        id="$deleteFromPrimitiveList of nonexistent item"),
    pytest.param(
        {"metadata": {"foo": ["bar"]}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["3"]}},
        {"metadata": {"foo": ["bar"]}},
        id="$deleteFromPrimitiveList on nonexistent primitive list"),
    pytest.param(
        {"spec": {"containers": _names([("c", {"args": ["1", "2", "3"]})])}},
        {"spec": {"containers": [{"name": "c", "$deleteFromPrimitiveList/args": ["2"]}]}},
        {"spec": {"containers": _names([("c", {"args": ["1", "3"]})])}},
        id="$deleteFromPrimitiveList should delete item from a list without merge patch strategy"),
    pytest.param(
        {"spec": {"containers": _names([("1", {}), ("1", {}), ("2", {"value": "a"}), ("3", {}), ("3", {})])}},
        {"spec": {"containers": [{"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}]}},
        {"spec": {"containers": _names([("2", {"value": "a"})])}},
        id="delete all duplicate entries in a merging list"),
    pytest.param(
        {"spec": {"containers": _names([("1", {}), ("2", {})])}},
        {"spec": {"containers": [{"$patch": "replace"}]}},
        {"spec": {"containers": []}},
        id="delete all items from merging list"),
    pytest.param(
        {"spec": {"containers": _names([("hello2", {})])}, "name": "hi"},
        {"spec": {"$setElementOrder/containers": _names([("hello", {}), ("doesntexist", {})]),
                  "containers": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}]}},
        {"spec": {"containers": _names([("hello", {}), ("hello2", {})])}, "name": "hi"},
        id="nested patch merge with empty list (three-way)"),
    pytest.param(
        {"name": "hi", "spec": {}},
        {"spec": {"containers": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}]}},
        {"name": "hi", "spec": {"containers": _names([("hello", {})])}},
        id="nested patch merge with empty list (two-way)"),
    pytest.param(
        {"metadata": {"finalizers": ["1", "2", "3", "4"]}},
        {"metadata": {"$setElementOrder/finalizers": ["1", "2"], "$deleteFromPrimitiveList/finalizers": ["3"]}},
        {"metadata": {"finalizers": ["1", "2", "4"]}},
        id="delete items in lists of scalars"),
    pytest.param(
        {"metadata": {"finalizers": ["1", "2", "3", "4"]}},
        {"metadata": {"$setElementOrder/finalizers": ["1", "2", "4"], "$deleteFromPrimitiveList/finalizers": ["3"],
                      "finalizers": ["4"]}},
        {"metadata": {"finalizers": ["1", "2", "4"]}},
        id="add and delete items in lists of scalars"),
    pytest.param(
        {"spec": {"containers": _names([("1", {"other": "a"}), ("2", {"value": "2", "other": "b"})])}},
        {"spec": {"$setElementOrder/containers": _names([("4", {}), ("1", {}), ("2", {}), ("3", {})]),
                  "containers": _names([("4", {"value": "4"}), ("3", {"value": "3"})])}},
        {"spec": {"containers": _names([("4", {"value": "4"}), ("1", {"other": "a"}),
                                        ("2", {"value": "2", "other": "b"}), ("3", {"value": "3"})])}},
        id="merge lists of maps"),
    pytest.param(
        {"metadata": {"name": "1", "labels": {"a": "1"}}}, {"metadata": {"other": "a", "$patch": "replace"}},
        {"metadata": {"other": "a"}},
        id="add key and delete all keys from map"),
])
def test_apimachinery_cases(current, patch, expected):
    assert smp(current, patch) == expected


@pytest.mark.parametrize("current, patch", [
    ({"spec": {"containers": _names([("1", {}), ("3", {}), ("2", {})])}},
     {"spec": {"$setElementOrder/containers": _names([("1", {}), ("2", {}), ("3", {})]),
               "containers": _names([("3", {"value": "3"}), ("1", {"value": "1"})])}}),
    ({"metadata": {"finalizers": ["1", "3", "2"]}},
     {"metadata": {"$setElementOrder/finalizers": ["1", "2", "3"], "finalizers": ["3", "1"]}}),
])
def test_apimachinery_order_mismatch_cases(current, patch):
    with pytest.raises(PatchError) as ei:
        smp(current, patch)
    assert "doesn't match" in str(ei.value)
