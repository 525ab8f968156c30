"""The schema walker: unknown fields, Go-style type errors, merge metadata."""

import copy
import time

from pybernetes.api import schema

POD = "io.k8s.api.core.v1.Pod"


def _pod(n_containers: int = 3) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {
            "containers": [
                {
                    "name": f"c{i}",
                    "image": "nginx:1.25",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": 1, "memory": "128Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
                for i in range(n_containers)
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "nodeSelector": {"disk": "ssd"},
        },
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": None}]},
    }


def test_definitions_load_and_resolve():
    d = schema.definition(POD)
    assert d["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert "containers" in schema.resolve(d["properties"]["spec"])["properties"]
    assert schema.definition_for_kind("coordination.k8s.io", "v1", "Lease") == "io.k8s.api.coordination.v1.Lease"
    assert schema.definition_for_kind("", "v1", "Nope") is None


def test_valid_pod_has_no_findings():
    f = schema.check(_pod(), POD)
    assert f.unknown_fields == [] and f.type_errors == []


def test_unknown_fields_use_strict_decoder_paths():
    pod = _pod(2)
    pod["spec"]["containers"][1]["foo"] = 1
    pod["spec"]["bar"] = {"x": 1}
    pod["metadata"]["labels"]["any-key"] = "maps allow any key"
    pod["weird"] = True
    assert schema.find_unknown_fields(pod, POD) == ["spec.containers[1].foo", "spec.bar", "weird"]
    assert schema.strict_decoding_message(["spec.bar", "weird"]) == (
        'strict decoding error: unknown field "spec.bar", unknown field "weird"'
    )


def test_drop_unknown_fields_in_place():
    pod = _pod(1)
    clean = copy.deepcopy(pod)
    pod["spec"]["containers"][0]["foo"] = 1
    pod["spec"]["bar"] = 2
    assert schema.drop_unknown_fields(pod, POD) == ["spec.containers[0].foo", "spec.bar"]
    assert pod == clean


def test_type_errors_match_go_json_wording():
    pod = _pod(1)
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = "80"
    pod["spec"]["containers"][0]["env"][0]["value"] = 5
    pod["metadata"]["labels"]["n"] = 1
    pod["spec"]["hostNetwork"] = "yes"
    errs = schema.type_errors(pod, POD)
    assert errs == [
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
        "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32",
        "json: cannot unmarshal number into Go struct field EnvVar.spec.containers.env.value of type string",
        "json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool",
    ]
    assert schema.cannot_handle_message("Pod", "v1", errs[0]).startswith(
        'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number'
    )


def test_type_errors_numbers_objects_and_special_types():
    rc = {"spec": {"replicas": 1.5, "template": "x"}}
    assert schema.type_errors(rc, "io.k8s.api.core.v1.ReplicationController") == [
        "json: cannot unmarshal number 1.5 into Go struct field ReplicationControllerSpec.spec.replicas of type int32",
        "json: cannot unmarshal string into Go struct field ReplicationControllerSpec.spec.template of type v1.PodTemplateSpec",
    ]
    assert schema.type_errors({"spec": {"replicas": 3.0}}, "io.k8s.api.core.v1.ReplicationController") == []
    assert schema.type_errors({"spec": {"replicas": 2**40}}, "io.k8s.api.core.v1.ReplicationController") == [
        "json: cannot unmarshal number 1099511627776 into Go struct field ReplicationControllerSpec.spec.replicas of type int32"
    ]
    svc = {"spec": {"ports": [{"port": 80, "targetPort": True}]}}
    assert schema.type_errors(svc, "io.k8s.api.core.v1.Service") == [
        "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32"
    ]
    pod = {"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1x"}}}]}}
    assert schema.type_errors(pod, POD) == [
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    ]
    assert schema.type_errors({"spec": {"containers": "nope"}}, POD) == [
        "json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type []v1.Container"
    ]


def test_secret_data_must_be_base64():
    sec = "io.k8s.api.core.v1.Secret"
    assert schema.type_errors({"data": {"a": "aGVsbG8="}}, sec) == []
    assert schema.type_errors({"data": {"a": "aGV!bG8="}}, sec) == ["illegal base64 data at input byte 3"]


def test_nulls_are_accepted_everywhere():
    assert schema.check({"spec": None, "metadata": {"labels": None}}, POD).type_errors == []


def test_merge_info():
    c = schema.merge_info(POD, "spec.containers")
    assert (c.kind, c.strategy, c.merge_key, c.list_type, c.list_map_keys) == ("array", "merge", "name", "map", ("name",))
    ports = schema.merge_info(POD, ["spec", "containers", "ports"])
    assert ports.merge_key == "containerPort" and ports.list_map_keys == ("containerPort", "protocol")
    assert schema.merge_info(POD, "spec.volumes").strategy == "merge,retainKeys"
    assert schema.merge_info(POD, "spec.containers.args") == schema.MergeInfo(kind="array", list_type="atomic")
    assert schema.merge_info(POD, "metadata.finalizers").strategy == "merge"
    assert schema.merge_info(POD, "spec.nodeSelector").kind == "map"
    assert schema.merge_info(POD, "spec.nope") is None


def test_check_is_fast():
    pod = _pod(3)
    schema.check(pod, POD)
    n = 300
    t = time.perf_counter()
    for _ in range(n):
        schema.check(pod, POD)
    per_call = (time.perf_counter() - t) / n
    print(f"schema.check(pod with 3 containers): {per_call * 1e6:.0f} us")


def test_sections_seen_clean_are_remembered_but_findings_stay_the_same():
    """A spec already found clean is not walked again; anything that differs is."""
    for _ in range(2):
        f = schema.check(_pod(2), POD)
        assert f.unknown_fields == [] and f.type_errors == []
    for _ in range(2):
        pod = _pod(2)
        pod["spec"]["containers"][0]["image"] = 5
        pod["spec"]["extra"] = 1
        pod["top"] = 1
        f = schema.check(pod, POD, drop_unknown=True)
        assert f.unknown_fields == ["spec.extra", "top"]
        assert f.type_errors == ["json: cannot unmarshal number into Go struct field "
                                 "Container.spec.containers.image of type string"]
        assert "extra" not in pod["spec"] and "top" not in pod
    pod = _pod(2)
    pod["metadata"]["name"] = 7  # a clean spec does not hide a bad metadata
    assert schema.type_errors(pod, POD) == [
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string"]
