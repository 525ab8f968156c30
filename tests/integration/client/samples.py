"""Minimal valid objects of every served kind, for CRUD tests."""

from __future__ import annotations


def pod(name: str, *, labels: dict | None = None, node: str | None = None, image: str = "busybox") -> dict:
    spec: dict = {"containers": [{"name": "main", "image": image}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def sample(plural: str, name: str, ns: str = "default") -> dict:
    """(apiVersion, kind) and a body the apiserver accepts."""
    match plural:
        case "pods":
            return pod(name)
        case "replicationcontrollers":
            return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
                    "spec": {"replicas": 1, "selector": {"app": name},
                             "template": {"metadata": {"labels": {"app": name}},
                                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
        case "services":
            return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                    "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}
        case "endpoints":
            return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name},
                    "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}]}
        case "events":
            return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
                    "involvedObject": {"kind": "Pod", "name": "x", "namespace": ns},
                    "reason": "Testing", "message": "hello", "type": "Normal", "count": 1,
                    "source": {"component": "test"}}
        case "configmaps":
            return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
        case "secrets":
            return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque",
                    "data": {"k": "dg=="}}
        case "serviceaccounts":
            return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        case "nodes":
            return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {}}
        case "namespaces":
            return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        case "leases":
            return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
                    "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
        case "endpointslices":
            return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name},
                    "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.2.3"]}],
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    raise KeyError(plural)
