"""Server-side apply and managedFields tracking, with exact expected objects."""

from __future__ import annotations

import copy
import json

import orjson
import pytest

from pybernetes.apiserver.apply import (
    LAST_APPLIED_ANNOTATION,
    ApplyConflict,
    decode_fields_v1,
    encode_fields_v1,
    manager_from_user_agent,
    path_string,
    server_side_apply,
    track_update,
)
from pybernetes.apiserver.errors import APIError
from pybernetes.apiserver.patch import PatchError, apply_patch

T0, T1, T2, T3 = (f"2024-01-01T00:0{i}:00Z" for i in range(4))


def cm(data: dict, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", **meta}, "data": data}


def fields(obj: dict, manager: str, operation: str = "Apply") -> dict | None:
    for e in obj["metadata"].get("managedFields", []):
        if e["manager"] == manager and e["operation"] == operation:
            return e["fieldsV1"]
    return None


def managers(obj: dict) -> list[tuple[str, str, str]]:
    return [(e["manager"], e["operation"], e.get("time", "")) for e in obj["metadata"].get("managedFields", [])]


# ------------------------------------------------------------ apply basics
class TestApply:
    def test_create_records_applier_entry(self):
        out = server_side_apply(None, cm({"k1": "v1", "k2": "v2"}, labels={"a": "1"}),
                                manager="m1", force=False, now=T0)
        assert out == {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cm", "labels": {"a": "1"}, "managedFields": [{
                "manager": "m1", "operation": "Apply", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:k1": {}, "f:k2": {}}, "f:metadata": {"f:labels": {"f:a": {}}}},
            }]},
            "data": {"k1": "v1", "k2": "v2"},
        }

    def test_arguments_are_not_modified(self):
        config = cm({"k": "v"})
        live = server_side_apply(None, config, manager="m1", force=False, now=T0)
        snapshot_live, snapshot_config = copy.deepcopy(live), copy.deepcopy(config)
        server_side_apply(live, cm({"k": "w"}), manager="m1", force=False, now=T1)
        assert (live, config) == (snapshot_live, snapshot_config)

    def test_reapply_unchanged_keeps_time(self):
        live = server_side_apply(None, cm({"k": "v"}), manager="m1", force=False, now=T0)
        again = server_side_apply(live, cm({"k": "v"}), manager="m1", force=False, now=T1)
        assert again == live

    def test_change_by_owner_bumps_time(self):
        live = server_side_apply(None, cm({"k": "v"}), manager="m1", force=False, now=T0)
        out = server_side_apply(live, cm({"k": "w"}), manager="m1", force=False, now=T1)
        assert out["data"] == {"k": "w"}
        assert managers(out) == [("m1", "Apply", T1)]

    def test_second_applier_shares_equal_values_and_adds_its_own(self):
        live = server_side_apply(None, cm({"k1": "v1", "k2": "v2"}), manager="m1", force=False, now=T0)
        out = server_side_apply(live, cm({"k1": "v1", "k3": "x"}), manager="m2", force=False, now=T1)
        assert out["data"] == {"k1": "v1", "k2": "v2", "k3": "x"}
        assert managers(out) == [("m1", "Apply", T0), ("m2", "Apply", T1)]
        assert fields(out, "m2") == {"f:data": {"f:k1": {}, "f:k3": {}}}

    def test_omitted_fields_are_removed_unless_someone_else_owns_them(self):
        live = server_side_apply(None, cm({"k1": "v1", "k2": "v2"}, labels={"a": "1"}),
                                 manager="m1", force=False, now=T0)
        live = server_side_apply(live, cm({"k1": "v1"}), manager="m2", force=False, now=T1)
        out = server_side_apply(live, cm({"k2": "v2"}), manager="m1", force=False, now=T2)
        # k1 survives (m2 owns it), the label goes and takes the emptied map with it.
        assert out["data"] == {"k1": "v1", "k2": "v2"}
        assert "labels" not in out["metadata"]
        assert [(m, t) for m, _, t in managers(out)] == [("m2", T1), ("m1", T2)]
        assert fields(out, "m1") == {"f:data": {"f:k2": {}}}

    def test_fields_set_by_updates_are_not_pruned(self):
        live = server_side_apply(None, cm({"k1": "v1"}), manager="m1", force=False, now=T0)
        edited = copy.deepcopy(live)
        edited["data"]["other"] = "x"
        live = track_update(live, edited, manager="editor", now=T1)
        out = server_side_apply(live, cm({"k1": "v1"}), manager="m1", force=False, now=T2)
        assert out["data"] == {"k1": "v1", "other": "x"}

    def test_null_in_config_removes_and_owns(self):
        live = server_side_apply(None, cm({"k1": "v1", "k2": "v2"}), manager="m1", force=False, now=T0)
        out = server_side_apply(live, cm({"k1": "v1", "k2": None}), manager="m1", force=False, now=T1)
        assert out["data"] == {"k1": "v1"}


class TestApplyConflicts:
    def test_conflict_with_update_manager(self):
        live = server_side_apply(None, rc(replicas=2), manager="m1", force=False, now=T0)
        scaled = apply_patch("application/merge-patch+json", live, b'{"spec":{"replicas":5}}',
                             definition="io.k8s.api.core.v1.ReplicationController")
        live = track_update(live, scaled, manager="kubectl", now=T1)
        assert fields(live, "kubectl", "Update") == {"f:spec": {"f:replicas": {}}}
        assert "f:replicas" not in fields(live, "m1")["f:spec"]
        with pytest.raises(ApplyConflict) as ei:
            server_side_apply(live, rc(replicas=2), manager="m1", force=False, now=T2)
        e = ei.value
        assert isinstance(e, APIError)
        assert e.conflicts == [('"kubectl" using v1', ".spec.replicas")]
        assert e.body() == (
            b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
            b'"message":"Apply failed with 1 conflict: conflict with \\"kubectl\\" using v1: .spec.replicas",'
            b'"reason":"Conflict","details":{"causes":[{"reason":"FieldManagerConflict",'
            b'"message":"conflict with \\"kubectl\\" using v1","field":".spec.replicas"}]},"code":409}')

    def test_force_takes_ownership(self):
        live = server_side_apply(None, rc(replicas=2), manager="m1", force=False, now=T0)
        scaled = copy.deepcopy(live)
        scaled["spec"]["replicas"] = 5
        live = track_update(live, scaled, manager="kubectl", now=T1)
        out = server_side_apply(live, rc(replicas=2), manager="m1", force=True, now=T2)
        assert out["spec"]["replicas"] == 2
        assert managers(out) == [("m1", "Apply", T2)]  # kubectl's only field is gone
        assert "f:replicas" in fields(out, "m1")["f:spec"]

    def test_several_conflicts_with_another_applier(self):
        live = server_side_apply(None, cm({"k1": "v1", "k3": "x"}), manager="m2", force=False, now=T0)
        with pytest.raises(ApplyConflict) as ei:
            server_side_apply(live, cm({"k1": "changed", "k3": "y"}), manager="m1", force=False, now=T1)
        assert str(ei.value) == 'Apply failed with 2 conflicts: conflicts with "m2":\n- .data.k1\n- .data.k3'
        assert ei.value.status()["details"]["causes"] == [
            {"reason": "FieldManagerConflict", "message": 'conflict with "m2"', "field": ".data.k1"},
            {"reason": "FieldManagerConflict", "message": 'conflict with "m2"', "field": ".data.k3"}]

    def test_conflict_path_in_associative_list(self):
        live = server_side_apply(None, rc(image="nginx:1"), manager="m1", force=False, now=T0)
        with pytest.raises(ApplyConflict) as ei:
            server_side_apply(live, rc(image="nginx:2"), manager="m2", force=False, now=T1)
        assert ei.value.conflicts == [('"m1"', '.spec.template.spec.containers[name="c"].image')]


def rc(replicas: int = 1, image: str = "nginx", ports: list | None = None, **extra) -> dict:
    container = {"name": "c", "image": image}
    if ports is not None:
        container["ports"] = ports
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "rc", "namespace": "default", **extra},
            "spec": {"replicas": replicas, "selector": {"app": "a"},
                     "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [container]}}}}


class TestApplyLists:
    def test_associative_list_keys_and_defaulted_protocol(self):
        out = server_side_apply(None, rc(ports=[{"containerPort": 80}]), manager="m1", force=False, now=T0)
        assert fields(out, "m1") == {"f:spec": {
            "f:replicas": {}, "f:selector": {},
            "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {
                'k:{"name":"c"}': {".": {}, "f:image": {}, "f:name": {}, "f:ports": {
                    'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}}}}}}

    def test_items_merge_by_key_and_removed_items_go(self):
        live = server_side_apply(None, rc(), manager="m1", force=False, now=T0)
        # Another manager adds a container through an ordinary update.
        two = copy.deepcopy(live)
        two["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
        live = track_update(live, two, manager="editor", now=T1)
        config = rc()
        config["spec"]["template"]["spec"]["containers"] = [{"name": "c", "image": "nginx:2"},
                                                           {"name": "extra", "image": "redis"}]
        out = server_side_apply(live, config, manager="m1", force=False, now=T2)
        assert out["spec"]["template"]["spec"]["containers"] == [
            {"name": "c", "image": "nginx:2"}, {"name": "side", "image": "busybox"},
            {"name": "extra", "image": "redis"}]
        # m1 drops "extra": it is removed; "side" (owned by editor) stays.
        config["spec"]["template"]["spec"]["containers"] = [{"name": "c", "image": "nginx:2"}]
        out = server_side_apply(out, config, manager="m1", force=False, now=T3)
        assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["c", "side"]

    def test_set_list_items_are_values(self):
        config = cm({"k": "v"}, finalizers=["a.example/x"])
        out = server_side_apply(None, config, manager="m1", force=False, now=T0)
        assert fields(out, "m1") == {"f:data": {"f:k": {}}, "f:metadata": {"f:finalizers": {
            'v:"a.example/x"': {}}}}
        live = copy.deepcopy(out)
        live["metadata"]["finalizers"].append("b.example/y")
        live = track_update(out, live, manager="ctrl", now=T1)
        out = server_side_apply(live, cm({"k": "v"}), manager="m1", force=False, now=T2)
        assert out["metadata"]["finalizers"] == ["b.example/y"]

    def test_atomic_list_replaced_whole(self):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "image": "i", "args": ["a", "b"]}]}}
        live = server_side_apply(None, pod, manager="m1", force=False, now=T0)
        pod2 = copy.deepcopy(pod)
        pod2["spec"]["containers"][0]["args"] = ["z"]
        out = server_side_apply(live, pod2, manager="m1", force=False, now=T1)
        assert out["spec"]["containers"][0]["args"] == ["z"]
        assert fields(out, "m1")["f:spec"]["f:containers"]['k:{"name":"c"}']["f:args"] == {}


class TestApplyStatusAndErrors:
    def test_status_is_not_applied_through_main_resource(self):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Running"}}
        out = server_side_apply(None, pod, manager="m1", force=False, now=T0)
        assert "status" not in out
        assert "f:status" not in fields(out, "m1")

    def test_wrong_api_version(self):
        live = server_side_apply(None, cm({"k": "v"}), manager="m1", force=False, now=T0)
        bad = cm({"k": "v"})
        bad["apiVersion"] = "v2"
        with pytest.raises(PatchError) as ei:
            server_side_apply(live, bad, manager="m1", force=False, now=T1)
        assert (ei.value.code, ei.value.reason, str(ei.value)) == (
            400, "BadRequest",
            "Incorrect version specified in apply patch. Specified patch version: /v2, expected: /v1")

    def test_managed_fields_in_config_refused(self):
        config = cm({"k": "v"})
        config["metadata"]["managedFields"] = [{"manager": "x"}]
        with pytest.raises(PatchError) as ei:
            server_side_apply(None, config, manager="m1", force=False, now=T0)
        assert ei.value.code == 500
        assert str(ei.value).startswith("managed fields must be nil but was ")

    def test_undeclared_field_is_kubernetes_500(self):
        config = rc()
        config["spec"]["template"]["spec"]["containers"][0]["bogus"] = 1
        with pytest.raises(PatchError) as ei:
            server_side_apply(None, config, manager="m1", force=False, now=T0)
        assert orjson.loads(ei.value.body()) == {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": 'failed to create typed patch object (default/rc; /v1, Kind=ReplicationController): '
                       '.spec.template.spec.containers[name="c"].bogus: field not declared in schema',
            "code": 500}

    def test_manager_required(self):
        with pytest.raises(PatchError) as ei:
            server_side_apply(None, cm({}), manager="", force=False, now=T0)
        assert ei.value.code == 400


# ------------------------------------------- client-side -> server-side apply
class TestClientSideApplyUpgrade:
    def csa_created(self) -> tuple[dict, dict]:
        last = rc()
        created = copy.deepcopy(last)
        created["metadata"]["annotations"] = {
            LAST_APPLIED_ANNOTATION: json.dumps(last, separators=(",", ":"), sort_keys=True) + "\n"}
        return last, track_update(None, created, manager="kubectl-client-side-apply", now=T0)

    def test_other_manager_conflicts_with_client_side_apply(self):
        last, live = self.csa_created()
        changed = copy.deepcopy(last)
        changed["spec"]["replicas"] = 3
        with pytest.raises(ApplyConflict) as ei:
            server_side_apply(live, changed, manager="other", force=False, now=T1)
        assert str(ei.value) == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
                                 'using v1: .spec.replicas')

    def test_kubectl_takes_over_fields_of_last_applied(self):
        last, live = self.csa_created()
        changed = copy.deepcopy(last)
        changed["spec"]["replicas"] = 3
        out = server_side_apply(live, changed, manager="kubectl", force=False, now=T1)
        assert out["spec"]["replicas"] == 3
        assert "f:replicas" not in fields(out, "kubectl-client-side-apply", "Update")["f:spec"]
        assert "f:replicas" in fields(out, "kubectl")["f:spec"]
        # The annotation now records what was applied.
        assert json.loads(out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]) == changed

    def test_kubectl_still_conflicts_on_fields_changed_since_last_apply(self):
        last, live = self.csa_created()
        scaled = copy.deepcopy(live)
        scaled["spec"]["replicas"] = 7  # kubectl scale after the client-side apply
        live = track_update(live, scaled, manager="kubectl-scale", now=T1)
        changed = copy.deepcopy(last)
        changed["spec"]["replicas"] = 3
        with pytest.raises(ApplyConflict) as ei:
            server_side_apply(live, changed, manager="kubectl", force=False, now=T2)
        assert ei.value.conflicts == [('"kubectl-scale" using v1', ".spec.replicas")]


# --------------------------------------------------------------- track_update
POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "nginx", "namespace": "default", "uid": "u", "creationTimestamp": "t",
                 "labels": {"run": "nginx"}},
    "spec": {"containers": [{"name": "nginx", "image": "nginx", "imagePullPolicy": "Always", "resources": {},
                             "terminationMessagePath": "/dev/termination-log",
                             "terminationMessagePolicy": "File"}],
             "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "securityContext": {},
             "terminationGracePeriodSeconds": 30},
    "status": {"phase": "Pending", "qosClass": "BestEffort"},
}


class TestTrackUpdate:
    def test_create_like_kubectl_run(self):
        out = track_update(None, POD, manager="kubectl-run", now=T0)
        assert out["metadata"]["managedFields"] == [{
            "manager": "kubectl-run", "operation": "Update", "apiVersion": "v1", "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:run": {}}},
                "f:spec": {
                    "f:containers": {'k:{"name":"nginx"}': {
                        ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:resources": {},
                        "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}},
                    "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:securityContext": {},
                    "f:terminationGracePeriodSeconds": {}},
            },
        }]
        assert {k: v for k, v in out.items() if k != "metadata"} == {k: v for k, v in POD.items()
                                                                    if k != "metadata"}

    def test_status_subresource_entry(self):
        live = track_update(None, POD, manager="kubectl-run", now=T0)
        new = copy.deepcopy(live)
        new["status"]["phase"] = "Running"
        new["status"]["podIP"] = "10.0.0.1"
        out = track_update(live, new, manager="kubelet", now=T1, subresource="status")
        assert out["metadata"]["managedFields"][1] == {
            "manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": T1,
            "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:phase": {}, "f:podIP": {}}},
            "subresource": "status"}

    def test_change_moves_ownership_and_removal_clears_it(self):
        live = track_update(None, POD, manager="creator", now=T0)
        new = copy.deepcopy(live)
        new["metadata"]["labels"] = {"run": "nginx", "tier": "x"}
        new["spec"]["dnsPolicy"] = "Default"
        del new["spec"]["securityContext"]
        out = track_update(live, new, manager="editor", now=T1)
        assert fields(out, "editor", "Update") == {"f:metadata": {"f:labels": {"f:tier": {}}},
                                                   "f:spec": {"f:dnsPolicy": {}}}
        creator = fields(out, "creator", "Update")["f:spec"]
        assert "f:dnsPolicy" not in creator and "f:securityContext" not in creator
        assert managers(out) == [("creator", "Update", T0), ("editor", "Update", T1)]

    def test_no_change_no_entry(self):
        live = track_update(None, POD, manager="creator", now=T0)
        assert track_update(live, copy.deepcopy(live), manager="other", now=T1) == live

    def test_status_changes_through_main_resource_are_not_owned(self):
        live = track_update(None, POD, manager="creator", now=T0)
        new = copy.deepcopy(live)
        new["status"]["phase"] = "Running"
        assert managers(track_update(live, new, manager="other", now=T1)) == [("creator", "Update", T0)]

    def test_client_rewritten_managed_fields_are_kept(self):
        live = track_update(None, POD, manager="kubectl-client-side-apply", now=T0)
        new = copy.deepcopy(live)
        entry = new["metadata"]["managedFields"][0]
        entry.update(manager="kubectl", operation="Apply")  # what kubectl's CSA->SSA upgrade patches in
        out = track_update(live, new, manager="kubectl", now=T1)
        assert managers(out) == [("kubectl", "Apply", T0)]

    def test_single_empty_entry_clears_managed_fields(self):
        live = track_update(None, POD, manager="creator", now=T0)
        new = copy.deepcopy(live)
        new["metadata"]["managedFields"] = [{}]
        assert "managedFields" not in track_update(live, new, manager="x", now=T1)["metadata"]

    def test_empty_list_keeps_stored_managed_fields(self):
        live = track_update(None, POD, manager="creator", now=T0)
        new = copy.deepcopy(live)
        new["metadata"]["managedFields"] = []
        assert managers(track_update(live, new, manager="x", now=T1)) == [("creator", "Update", T0)]

    def test_order_apply_first_then_time(self):
        live = track_update(None, cm({"a": "1"}), manager="z-creator", now=T0)
        live = server_side_apply(live, cm({"b": "2"}), manager="applier", force=False, now=T2)
        new = copy.deepcopy(live)
        new["data"]["c"] = "3"
        out = track_update(live, new, manager="a-editor", now=T1)
        assert managers(out) == [("applier", "Apply", T2), ("z-creator", "Update", T0),
                                 ("a-editor", "Update", T1)]


# -------------------------------------------------------------------- helpers
def test_fields_v1_round_trip_and_member_marker():
    paths = {("f:metadata", "f:labels"), ("f:metadata", "f:labels", "f:a"),
             ("f:spec", "f:containers", 'k:{"name":"c"}'), ("f:spec", "f:containers", 'k:{"name":"c"}', "f:image")}
    encoded = encode_fields_v1(paths)
    assert encoded == {"f:metadata": {"f:labels": {".": {}, "f:a": {}}},
                       "f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}}}}}
    assert decode_fields_v1(encoded) == paths


def test_path_string():
    assert path_string(("f:spec", "f:containers", 'k:{"name":"c"}', "f:ports",
                        'k:{"containerPort":80,"protocol":"TCP"}', "f:name")) == \
        '.spec.containers[name="c"].ports[containerPort=80,protocol="TCP"].name'
    assert path_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'
    assert path_string(("f:spec", "f:args", "i:0")) == ".spec.args[0]"


@pytest.mark.parametrize("ua, manager", [
    ("kubectl/v1.32.0 (linux/amd64) kubernetes/abc", "kubectl"),
    ("OpenAPI-Generator/31.0.0/python", "OpenAPI-Generator"),
    ("weird\x00agent/1", "weirdagent"),
    ("x" * 200, "x" * 128),
])
def test_manager_from_user_agent(ua, manager):
    assert manager_from_user_agent(ua) == manager


def test_update_managers_are_capped_into_ancient_changes():
    live = track_update(None, cm({"k0": "v"}), manager="m00", now="2024-01-01T00:00:00Z")
    for i in range(1, 12):
        new = copy.deepcopy(live)
        new["data"][f"k{i}"] = "v"
        live = track_update(live, new, manager=f"m{i:02d}", now=f"2024-01-01T00:00:{i:02d}Z")
    rows = [(e["manager"], e["time"]) for e in live["metadata"]["managedFields"]]
    assert len(rows) == 10
    # m00..m02 (the three oldest) were folded into one bucket carrying the newest of their times.
    assert rows[0] == ("ancient-changes", "2024-01-01T00:00:02Z")
    assert [m for m, _ in rows[1:]] == [f"m{i:02d}" for i in range(3, 12)]
    assert fields(live, "ancient-changes", "Update") == {"f:data": {".": {}, "f:k0": {}, "f:k1": {}, "f:k2": {}}}


def test_list_item_without_key_is_refused():
    config = rc()
    del config["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(PatchError) as ei:
        server_side_apply(None, config, manager="m1", force=False, now=T0)
    assert ei.value.code == 500
    assert str(ei.value) == ('failed to create typed patch object (default/rc; /v1, Kind=ReplicationController): '
                             'associative list with keys has an element that omits key field "name" '
                             "(and doesn't have default value)")
