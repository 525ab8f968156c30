"""Creates take a one-walk path to their managedFields; it must give exactly
what the general comparison gives, for every kind of field."""

from __future__ import annotations

import orjson
import pytest

from pybernetes.api import defaults
from pybernetes.api.resources import RESOURCES
from pybernetes.apiserver.apply import track_update

T0 = "2024-01-01T00:00:00Z"
META = {"name": "x", "namespace": "default", "uid": "u-1", "creationTimestamp": T0, "generation": 1,
        "labels": {"app": "web", "tier": "front"}, "annotations": {"a": "1"},
        "finalizers": ["example.com/one", "example.com/two"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ReplicationController", "name": "rc", "uid": "u-rc",
                             "controller": True, "blockOwnerDeletion": True}]}

POD_SPEC = {
    "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
    "containers": [
        {"name": "web", "image": "nginx", "args": ["-g", "daemon off;"],
         "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 53, "protocol": "UDP"},
                   {"containerPort": 53}],
         "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "A", "value": "dup"}],
         "envFrom": [{"configMapRef": {"name": "cm"}}],
         "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
         "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "64Mi"}},
         "securityContext": {}, "livenessProbe": None},
        {"name": "side", "image": "busybox"},
    ],
    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cm", "items": [
        {"key": "k", "path": "p"}]}}],
    "nodeSelector": {"disk": "ssd"},
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
    "imagePullSecrets": [{"name": "reg"}],
    "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["h"]}],
}


def pod() -> dict:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": dict(META), "spec": dict(POD_SPEC),
           "status": {"phase": "Pending"}}
    return defaults.apply_defaults("Pod", obj)


OBJECTS = {
    "pod (defaulted)": pod(),
    "pod, bare": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                  "spec": {"containers": [{"name": "c", "image": "i"}]}},
    "pod, a container without its key": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                          "spec": {"containers": [{"name": "a", "image": "i"}, {"image": "j"},
                                                                  {"image": "k"}]}},
    "pod, no spec": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
    "pod, empty containers": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                              "spec": {"containers": []}},
    "service": {"apiVersion": "v1", "kind": "Service", "metadata": dict(META), "spec": {
        "selector": {"app": "web"}, "type": "NodePort", "clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"],
        "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30001}, {"port": 53, "protocol": "UDP"}]},
        "status": {"loadBalancer": {}}},
    "node": {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"k": "v"}},
             "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}], "podCIDR": "10.244.0.0/24"},
             "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
                        "conditions": [{"type": "Ready", "status": "True"}], "capacity": {"cpu": "4"}}},
    "replication controller": {"apiVersion": "v1", "kind": "ReplicationController", "metadata": dict(META),
                               "spec": {"replicas": 2, "selector": {"app": "web"},
                                        "template": {"metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC}}},
    "event": {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
              "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}, "reason": "Scheduled",
              "message": "m", "source": {"component": "default-scheduler"}, "type": "Normal", "count": 1,
              "firstTimestamp": T0, "lastTimestamp": T0},
    "configmap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {}},
                  "data": {"a": "1", "b": ""}, "binaryData": {"c": "AA=="}, "immutable": None},
    "secret": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque",
               "data": {"k": "dg=="}},
    "namespace": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"},
                  "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}},
    "lease": {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
              "metadata": {"name": "l", "namespace": "kube-node-lease"},
              "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40, "renewTime": "2024-01-01T00:00:00.000000Z"}},
    "endpointslice": {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": "es", "namespace": "default"}, "addressType": "IPv4",
                      "endpoints": [{"addresses": ["10.0.0.5"], "conditions": {"ready": True}}],
                      "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
    "unknown field": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"},
                      "extra": {"nested": [1, 2]}},
}


def definition_of(obj: dict) -> str:
    group, _, _ = obj["apiVersion"].rpartition("/")
    return next(r.definition for r in RESOURCES if r.kind == obj["kind"] and r.group == group)


@pytest.mark.parametrize("name", sorted(OBJECTS))
@pytest.mark.parametrize("subresource", ["", "status"])
def test_create_fields_match_the_general_path(name, subresource):
    obj = OBJECTS[name]
    kw = {"manager": "kubectl-create", "now": T0, "definition": definition_of(obj),
          "api_version": obj["apiVersion"], "subresource": subresource}
    fast = track_update(None, obj, **kw)
    general = track_update(None, obj, **kw, fast_create=False)
    assert orjson.dumps(fast) == orjson.dumps(general)  # same fields, same order, byte for byte


def test_create_fields_own_the_new_fields_only():
    out = track_update(None, OBJECTS["pod, bare"], manager="m", now=T0, definition="io.k8s.api.core.v1.Pod",
                       api_version="v1")
    assert out["metadata"]["managedFields"] == [{
        "manager": "m", "operation": "Update", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}, "f:name": {}}}}}}]
    assert "managedFields" not in OBJECTS["pod, bare"]["metadata"]  # the argument is left alone


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_repeated_shapes_give_the_same_fields_as_fresh_copies(name):
    """Sections of a shape seen before come from a memo: still byte-identical
    to the general path, and each answer is the caller's own to edit."""
    obj = OBJECTS[name]
    kw = {"manager": "kubectl-create", "now": T0, "definition": definition_of(obj),
          "api_version": obj["apiVersion"]}
    general = orjson.dumps(track_update(None, obj, **kw, fast_create=False))
    first = track_update(None, obj, **kw)
    for section in first.get("metadata", {}).get("managedFields", [{}])[0].get("fieldsV1", {}).values():
        section["f:edited-by-caller"] = {}
    again = track_update(None, obj, **kw)
    assert orjson.dumps(again) == general
