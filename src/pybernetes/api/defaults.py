"""Defaulting of v1 objects as the Kubernetes apiserver does it.

``apply_defaults(kind, obj)`` mutates ``obj`` in place (and returns it),
setting only what Kubernetes sets: the ``SetDefaults_*`` functions of
``pkg/apis/core/v1/defaults.go`` plus the values the default admission chain
adds to every pod (``ServiceAccount``: ``serviceAccountName: default``;
``Priority``: ``priority: 0`` / ``PreemptLowerPriority``;
``DefaultTolerationSeconds``: the two 300 s NoExecute tolerations) and the
service IP-family fields the service registry fills. Server-assigned values
(clusterIP, status.phase of a pod, uid, timestamps) are the registry's job.
One function per kind, looked up by name in ``DEFAULTERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "apply_defaults",
    "DEFAULTERS",
    "default_pod",
    "default_pod_spec",
    "default_pod_template",
    "default_container",
    "default_probe",
    "default_service",
    "default_replication_controller",
    "default_namespace",
    "default_secret",
    "default_node",
    "default_endpoints",
    "default_endpoint_slice",
    "image_pull_policy_for",
]

Obj = dict[str, Any]

_DEFAULT_MODE = 0o644  # 420: secret/configMap/downwardAPI/projected volumes
_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
)
_DEFAULT_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
)


def _sub(obj: Obj, key: str) -> Obj:
    v = obj.get(key)
    if not isinstance(v, dict):
        v = obj[key] = {}
    return v


def _items(obj: Obj | None, key: str) -> list:
    if not isinstance(obj, dict):
        return []
    v = obj.get(key)
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def image_pull_policy_for(image: str) -> str:
    """``Always`` when the image's tag is ``latest`` (or absent without a digest), else ``IfNotPresent``."""
    name, _, digest = (image or "").partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else ""
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_http_get(h: Obj | None) -> None:
    if isinstance(h, dict):
        if not h.get("path"):
            h["path"] = "/"
        h.setdefault("scheme", "HTTP")


def default_probe(p: Obj | None) -> None:
    """SetDefaults_Probe plus its handler's (httpGet path/scheme)."""
    if not isinstance(p, dict):
        return
    for k, v in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        if not p.get(k):
            p[k] = v
    _default_http_get(p.get("httpGet"))


def default_container(c: Obj) -> None:
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = image_pull_policy_for(c.get("image", ""))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for port in _items(c, "ports"):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        default_probe(c.get(probe))
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            h = lifecycle.get(hook)
            if isinstance(h, dict):
                _default_http_get(h.get("httpGet"))
    for env in _items(c, "env"):
        ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(ref, dict) and not ref.get("apiVersion"):
            ref["apiVersion"] = "v1"


def _default_volume(v: Obj) -> None:
    if not any(v.get(s) is not None for s in _VOLUME_SOURCES):
        v["emptyDir"] = {}
    for src in ("secret", "configMap", "downwardAPI", "projected"):
        s = v.get(src)
        if isinstance(s, dict) and s.get("defaultMode") is None:
            s["defaultMode"] = _DEFAULT_MODE
    hp = v.get("hostPath")
    if isinstance(hp, dict):
        hp.setdefault("type", "")
    for item in _items(v.get("downwardAPI"), "items"):
        ref = item.get("fieldRef")
        if isinstance(ref, dict) and not ref.get("apiVersion"):
            ref["apiVersion"] = "v1"


def _host_network_ports(containers: list) -> None:
    for c in containers:
        for port in _items(c, "ports"):
            if not port.get("hostPort") and port.get("containerPort"):
                port["hostPort"] = port["containerPort"]


def default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and the container/volume defaults below it (pods and templates)."""
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("hostNetwork"):
        _host_network_ports(_items(spec, "containers"))
        _host_network_ports(_items(spec, "initContainers"))
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    # the deprecated alias and the real field mirror each other
    if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in _items(spec, key):
            default_container(c)
    for v in _items(spec, "volumes"):
        _default_volume(v)


def _requests_from_limits(containers: list) -> None:
    for c in containers:
        res = c.get("resources")
        if not isinstance(res, dict) or not isinstance(res.get("limits"), dict) or not res["limits"]:
            continue
        req = _sub(res, "requests")
        for name, q in res["limits"].items():
            req.setdefault(name, q)


def default_pod(pod: Obj) -> None:
    spec = _sub(pod, "spec")
    default_pod_spec(spec)
    _requests_from_limits(_items(spec, "containers"))
    _requests_from_limits(_items(spec, "initContainers"))
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    # admission: ServiceAccount, Priority, DefaultTolerationSeconds
    sa = spec.get("serviceAccountName") or "default"
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa
    if spec.get("priority") is None and not spec.get("priorityClassName"):
        spec["priority"] = 0
    if spec.get("preemptionPolicy") is None:
        spec["preemptionPolicy"] = "PreemptLowerPriority"
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = spec["tolerations"] = []
    for t in _DEFAULT_TOLERATIONS:
        if not any(
            isinstance(x, dict) and x.get("key") == t["key"] and x.get("effect") in (None, "", "NoExecute")
            for x in tolerations
        ):
            tolerations.append(dict(t))


def default_pod_template(template: Obj) -> None:
    default_pod_spec(_sub(template, "spec"))


def default_service(svc: Obj) -> None:
    spec = _sub(svc, "spec")
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        cfg = _sub(spec, "sessionAffinityConfig")
        _sub(cfg, "clientIP").setdefault("timeoutSeconds", 10800)
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    stype = spec["type"]
    for p in _items(spec, "ports"):
        if not p.get("protocol"):
            p["protocol"] = "TCP"
        if p.get("targetPort") in (None, 0, ""):
            p["targetPort"] = p.get("port")
    if stype in ("NodePort", "LoadBalancer") and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if stype in ("ClusterIP", "NodePort", "LoadBalancer") and not spec.get("internalTrafficPolicy"):
        spec["internalTrafficPolicy"] = "Cluster"
    if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if stype != "ExternalName":
        # filled by the service registry's IP-family logic on a single-stack IPv4 cluster
        if not spec.get("ipFamilyPolicy"):
            spec["ipFamilyPolicy"] = "SingleStack"
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]


def default_replication_controller(rc: Obj) -> None:
    spec = _sub(rc, "spec")
    template = spec.get("template")
    labels = (template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    if labels is not None:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = _sub(rc, "metadata")
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if isinstance(template, dict):
        default_pod_template(template)


def default_namespace(ns: Obj) -> None:
    meta = _sub(ns, "metadata")
    if meta.get("name"):
        _sub(meta, "labels")["kubernetes.io/metadata.name"] = meta["name"]
    # spec.finalizers ["kubernetes"] is set on create only (the namespace
    # strategy), so finalize can empty it.
    status = _sub(ns, "status")
    if not status.get("phase"):
        status["phase"] = "Active"


def default_secret(secret: Obj) -> None:
    if not secret.get("type"):
        secret["type"] = "Opaque"


def default_node(node: Obj) -> None:
    status = node.get("status")
    if isinstance(status, dict) and status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


def default_endpoints(ep: Obj) -> None:
    for subset in _items(ep, "subsets"):
        for p in _items(subset, "ports"):
            if not p.get("protocol"):
                p["protocol"] = "TCP"


def default_endpoint_slice(es: Obj) -> None:
    for p in _items(es, "ports"):
        if p.get("name") is None:
            p["name"] = ""
        if not p.get("protocol"):
            p["protocol"] = "TCP"


def _no_defaults(obj: Obj) -> None:
    return None


DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "Pod": default_pod,
    "Service": default_service,
    "ReplicationController": default_replication_controller,
    "Namespace": default_namespace,
    "Secret": default_secret,
    "Node": default_node,
    "Endpoints": default_endpoints,
    "EndpointSlice": default_endpoint_slice,
    # Kubernetes sets nothing on these v1 kinds
    "Event": _no_defaults,
    "Lease": _no_defaults,
    "ConfigMap": _no_defaults,
    "ServiceAccount": _no_defaults,
}


def apply_defaults(kind: str, obj: Obj) -> Obj:
    """Default ``obj`` of ``kind`` in place and return it; unknown kinds are left alone."""
    fn = DEFAULTERS.get(kind)
    if fn is not None:
        fn(obj)
    return obj
