"""Builders for scheduler unit tests: nodes and pods as the apiserver would return them."""

from __future__ import annotations


def make_node(name, *, cpu="4", memory="8Gi", pods="110", labels=None, taints=None, ready=True,
              unschedulable=False):
    node = {
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }
    if taints:
        node["spec"]["taints"] = list(taints)
    if unschedulable:
        node["spec"]["unschedulable"] = True
    return node


def make_pod(name, *, ns="default", cpu=None, memory=None, node_name=None, labels=None,
             node_selector=None, affinity=None, tolerations=None, host_port=None, priority=None,
             init=None):
    requests = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    c = {"name": "c", "image": "busybox", "resources": {"requests": requests} if requests else {}}
    if host_port:
        c["ports"] = [{"containerPort": 80, "hostPort": host_port, "protocol": "TCP"}]
    spec = {"containers": [c], "schedulerName": "default-scheduler"}
    if init:
        spec["initContainers"] = init
    if node_name:
        spec["nodeName"] = node_name
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity:
        spec["affinity"] = affinity
    if tolerations:
        spec["tolerations"] = tolerations
    if priority is not None:
        spec["priority"] = priority
    return {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "labels": dict(labels or {})},
            "spec": spec, "status": {"phase": "Pending"}}


def required(*terms):
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def expr(key, op, *values):
    e = {"key": key, "operator": op}
    if values:
        e["values"] = list(values)
    return e
