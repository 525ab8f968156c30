"""Server-side printing: columns and cells as Kubernetes' printers make them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pybernetes.api.resources import ResourceInfo, by_kind
from pybernetes.apiserver.tables import (
    column_definitions,
    human_duration,
    negotiate_table,
    table_version,
    to_table,
    to_table_row_event,
)

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def res(kind: str, group: str = "") -> ResourceInfo:
    r = by_kind(group, kind)
    assert r is not None
    return r


def cells(kind: str, obj: dict, group: str = "") -> list:
    return to_table(res(kind, group), [obj], now=NOW)["rows"][0]["cells"]


def names(kind: str, group: str = "", wide: bool = True) -> list[str]:
    return [c["name"] for c in column_definitions(res(kind, group)) if wide or c["priority"] == 0]


# ---------------------------------------------------------------- negotiation


@pytest.mark.parametrize("accept,expected", [
    ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
     "application/json", True),
    ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", True),
    ("application/json", False),
    ("", False),
    (None, False),
    ("application/json;as=Table;v=v2;g=meta.k8s.io", False),
    ("application/json;as=Table;v=v1;g=meta.k8s.io;q=0", False),
    ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", False),
])
def test_negotiate_table(accept, expected):
    assert negotiate_table(accept) is expected


def test_table_version_prefers_first_listed():
    assert table_version("application/json;as=Table;v=v1;g=meta.k8s.io,"
                         "application/json;as=Table;v=v1beta1;g=meta.k8s.io") == "v1"
    assert table_version("application/json;as=Table;v=v1beta1;g=meta.k8s.io") == "v1beta1"


# ---------------------------------------------------------------- durations


@pytest.mark.parametrize("seconds,expected", [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"),
    (200, "3m20s"), (599, "9m59s"), (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"),
    (3 * 3600 + 5 * 60, "3h5m"), (8 * 3600, "8h"), (47 * 3600, "47h"), (2 * 86400, "2d"),
    (2 * 86400 + 3 * 3600, "2d3h"), (8 * 86400, "8d"), (400 * 86400, "400d"),
    (2 * 365 * 86400, "2y"), (2 * 365 * 86400 + 5 * 86400, "2y5d"), (9 * 365 * 86400, "9y"),
])
def test_human_duration(seconds, expected):
    assert human_duration(seconds) == expected


# ---------------------------------------------------------------- table shape


def test_table_shape_metadata_object_default():
    pod = {"kind": "Pod", "apiVersion": "v1",
           "metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"},
                        "creationTimestamp": ts(30), "resourceVersion": "7"},
           "spec": {"containers": [{"name": "c", "image": "i"}]}}
    t = to_table(res("Pod"), [pod], list_meta={"resourceVersion": "9", "continue": "x"}, now=NOW)
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert t["metadata"] == {"resourceVersion": "9", "continue": "x"}
    col = t["columnDefinitions"][0]
    assert set(col) == {"name", "type", "format", "description", "priority"}
    assert col["name"] == "Name" and col["format"] == "name"
    assert col["description"].startswith("Name must be unique within a namespace.")
    row = t["rows"][0]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": pod["metadata"]}
    assert len(row["cells"]) == len(t["columnDefinitions"])


def test_include_object_variants():
    obj = {"metadata": {"name": "x", "creationTimestamp": ts(1)}, "data": {"k": "v"}}
    r = res("ConfigMap")
    assert to_table(r, [obj], include_object="Object", now=NOW)["rows"][0]["object"] is obj
    assert "object" not in to_table(r, [obj], include_object="None", now=NOW)["rows"][0]
    assert to_table(r, [obj], include_object="", now=NOW)["rows"][0]["object"]["kind"] == \
        "PartialObjectMetadata"
    with pytest.raises(ValueError):
        to_table(r, [obj], include_object="Everything", now=NOW)


def test_empty_list_keeps_columns():
    t = to_table(res("Service"), [], now=NOW)
    assert t["rows"] == [] and [c["name"] for c in t["columnDefinitions"]][0] == "Name"


def test_row_event_is_one_row_table_with_object_rv():
    obj = {"metadata": {"name": "l", "namespace": "d", "resourceVersion": "42",
                        "creationTimestamp": ts(61)}, "spec": {"holderIdentity": "me"}}
    t = to_table_row_event(res("Lease", "coordination.k8s.io"), obj, now=NOW)
    assert t["metadata"] == {"resourceVersion": "42"}
    assert [r["cells"] for r in t["rows"]] == [["l", "me", "61s"]]
    assert to_table_row_event(res("Lease", "coordination.k8s.io"), obj, now=NOW,
                              include_headers=False)["columnDefinitions"] == []


# ---------------------------------------------------------------- columns per kind


@pytest.mark.parametrize("kind,group,normal,wide", [
    ("Pod", "", ["Name", "Ready", "Status", "Restarts", "Age"],
     ["IP", "Node", "Nominated Node", "Readiness Gates"]),
    ("Service", "", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], ["Selector"]),
    ("Node", "", ["Name", "Status", "Roles", "Age", "Version"],
     ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]),
    ("ReplicationController", "", ["Name", "Desired", "Current", "Ready", "Age"],
     ["Containers", "Images", "Selector"]),
    ("Namespace", "", ["Name", "Status", "Age"], []),
    ("ConfigMap", "", ["Name", "Data", "Age"], []),
    ("Secret", "", ["Name", "Type", "Data", "Age"], []),
    ("ServiceAccount", "", ["Name", "Secrets", "Age"], []),
    ("Endpoints", "", ["Name", "Endpoints", "Age"], []),
    ("Event", "", ["Last Seen", "Type", "Reason", "Object", "Message"],
     ["Subobject", "Source", "First Seen", "Count", "Name"]),
    ("Lease", "coordination.k8s.io", ["Name", "Holder", "Age"], []),
    ("EndpointSlice", "discovery.k8s.io", ["Name", "AddressType", "Ports", "Endpoints", "Age"], []),
])
def test_columns(kind, group, normal, wide):
    defs = column_definitions(res(kind, group))
    assert [c["name"] for c in defs if c["priority"] == 0] == normal
    assert [c["name"] for c in defs if c["priority"] == 1] == wide
    assert all(c["description"] for c in defs)


def test_default_columns_for_unknown_kind():
    r = ResourceInfo("example.com", "v1", "Widget", "widgets", True)
    t = to_table(r, [{"metadata": {"name": "w", "creationTimestamp": ts(3600 * 5)}}], now=NOW)
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Age"]
    assert t["rows"][0]["cells"] == ["w", "5h"]


# ---------------------------------------------------------------- pod status


def pod(status: dict | None = None, spec: dict | None = None, meta: dict | None = None) -> dict:
    return {
        "metadata": {"name": "p", "creationTimestamp": ts(300), **(meta or {})},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **(spec or {})},
        "status": status or {},
    }


def test_pod_running_ready():
    p = pod({"phase": "Running", "podIP": "10.0.0.5", "conditions": [{"type": "Ready", "status": "True"}],
             "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                                    "state": {"running": {"startedAt": ts(100)}}}]},
            {"nodeName": "n1"})
    assert cells("Pod", p) == ["p", "1/1", "Running", "0", "5m", "10.0.0.5", "n1", "<none>", "<none>"]


def test_pod_pending_unscheduled():
    assert cells("Pod", pod({"phase": "Pending"}))[:5] == ["p", "0/1", "Pending", "0", "5m"]


def test_pod_crashloop_with_restart_age():
    p = pod({"phase": "Running", "containerStatuses": [{
        "name": "c", "ready": False, "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ts(300)}}}]})
    assert cells("Pod", p)[1:4] == ["0/1", "CrashLoopBackOff", "5 (5m ago)"]


def test_pod_completed_has_row_condition():
    p = pod({"phase": "Succeeded", "containerStatuses": [{
        "name": "c", "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})
    t = to_table(res("Pod"), [p], now=NOW)
    assert t["rows"][0]["cells"][2] == "Completed"
    assert t["rows"][0]["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                           "message": "The pod has completed successfully."}]


def test_pod_exit_code_and_signal_without_reason():
    p = pod({"phase": "Failed", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 3}}}]})
    assert cells("Pod", p)[2] == "ExitCode:3"
    p = pod({"phase": "Failed", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 137,
                                                                                              "signal": 9}}}]})
    assert cells("Pod", p)[2] == "Signal:9"


def test_pod_init_containers():
    spec = {"initContainers": [{"name": "i1", "image": "x"}, {"name": "i2", "image": "x"}]}
    p = pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
        {"name": "i2", "state": {"running": {}}}]}, spec)
    assert cells("Pod", p)[2] == "Init:1/2"
    p = pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i1", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}, spec)
    assert cells("Pod", p)[2] == "Init:ImagePullBackOff"
    p = pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i1", "state": {"terminated": {"exitCode": 2}}}]}, spec)
    assert cells("Pod", p)[2] == "Init:ExitCode:2"
    p = pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}, spec)
    assert cells("Pod", p)[2] == "Init:Error"
    # Before any init container reports status, the pod still reads Pending.
    assert cells("Pod", pod({"phase": "Pending"}, spec))[2] == "Pending"


def test_pod_sidecar_counts_toward_ready_total():
    spec = {"initContainers": [{"name": "side", "image": "x", "restartPolicy": "Always"}]}
    p = pod({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"},
                                                {"type": "Ready", "status": "True"}],
             "initContainerStatuses": [{"name": "side", "started": True, "ready": True, "restartCount": 1,
                                        "state": {"running": {}}}],
             "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                                    "state": {"running": {}}}]}, spec)
    assert cells("Pod", p)[1:4] == ["2/2", "Running", "1"]


def test_pod_terminating_and_node_lost():
    p = pod({"phase": "Running"}, meta={"deletionTimestamp": ts(1)})
    assert cells("Pod", p)[2] == "Terminating"
    p = pod({"phase": "Running", "reason": "NodeLost"}, meta={"deletionTimestamp": ts(1)})
    assert cells("Pod", p)[2] == "Unknown"
    p = pod({"phase": "Succeeded"}, meta={"deletionTimestamp": ts(1)})
    assert cells("Pod", p)[2] == "Succeeded"


def test_pod_status_reason_and_scheduling_gated():
    assert cells("Pod", pod({"phase": "Failed", "reason": "Evicted"}))[2] == "Evicted"
    p = pod({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                 "reason": "SchedulingGated"}]})
    assert cells("Pod", p)[2] == "SchedulingGated"


def test_pod_completed_but_container_running_reads_running_or_notready():
    statuses = [{"name": "a", "ready": True, "state": {"running": {}}},
                {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]
    spec = {"containers": [{"name": "a"}, {"name": "b"}]}
    p = pod({"phase": "Running", "containerStatuses": statuses,
             "conditions": [{"type": "Ready", "status": "True"}]}, spec)
    assert cells("Pod", p)[1:3] == ["1/2", "Running"]
    p = pod({"phase": "Running", "containerStatuses": statuses}, spec)
    assert cells("Pod", p)[2] == "NotReady"


def test_pod_wide_readiness_gates_and_pod_ips():
    p = pod({"phase": "Running", "podIPs": [{"ip": "10.1.1.1"}, {"ip": "fd00::1"}],
             "nominatedNodeName": "n2",
             "conditions": [{"type": "example.com/gate", "status": "True"}]},
            {"readinessGates": [{"conditionType": "example.com/gate"}, {"conditionType": "other"}]})
    assert cells("Pod", p)[5:] == ["10.1.1.1", "<none>", "n2", "1/2"]


# ---------------------------------------------------------------- other kinds


def test_service_cells():
    svc = {"metadata": {"name": "s", "creationTimestamp": ts(10)},
           "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.10", "clusterIPs": ["10.0.0.10"],
                    "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                    "selector": {"b": "2", "a": "1"}}}
    assert cells("Service", svc) == ["s", "ClusterIP", "10.0.0.10", "<none>", "80/TCP,53/UDP", "10s", "a=1,b=2"]
    svc["spec"].update(type="NodePort", ports=[{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
                       externalIPs=["1.2.3.4"])
    svc["spec"].pop("selector")
    assert cells("Service", svc)[1:] == ["NodePort", "10.0.0.10", "1.2.3.4", "80:30080/TCP", "10s", "<none>"]
    svc["spec"].update(type="LoadBalancer", externalIPs=[])
    assert cells("Service", svc)[3] == "<pending>"
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example"}]}}
    assert cells("Service", svc)[3] == "5.6.7.8,lb.example"
    svc["spec"] = {"type": "ExternalName", "externalName": "db.example", "clusterIP": "None"}
    assert cells("Service", svc)[1:5] == ["ExternalName", "None", "db.example", "<none>"]


def test_node_cells():
    node = {"metadata": {"name": "n1", "creationTimestamp": ts(86400 * 3),
                         "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "edge"}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian"}}}
    assert cells("Node", node) == ["n1", "Ready,SchedulingDisabled", "control-plane,edge", "3d", "v1.32.0",
                                   "192.168.1.2", "<none>", "Debian", "<unknown>", "<unknown>"]
    assert cells("Node", {"metadata": {"name": "x"}})[1:3] == ["Unknown", "<none>"]
    node["status"]["conditions"][0]["status"] = "Unknown"
    node["spec"] = {}
    assert cells("Node", node)[1] == "NotReady"


def test_replication_controller_cells():
    rc = {"metadata": {"name": "rc", "creationTimestamp": ts(45)},
          "spec": {"replicas": 3, "selector": {"app": "web"},
                   "template": {"spec": {"containers": [{"name": "a", "image": "nginx"},
                                                        {"name": "b", "image": "redis"}]}}},
          "status": {"replicas": 2, "readyReplicas": 1}}
    assert cells("ReplicationController", rc) == ["rc", 3, 2, 1, "45s", "a,b", "nginx,redis", "app=web"]


def test_simple_kinds():
    m = {"name": "x", "creationTimestamp": ts(7)}
    assert cells("Namespace", {"metadata": m, "status": {"phase": "Active"}}) == ["x", "Active", "7s"]
    assert cells("ConfigMap", {"metadata": m, "data": {"a": "1"}, "binaryData": {"b": "AA=="}}) == ["x", 2, "7s"]
    assert cells("Secret", {"metadata": m, "type": "Opaque", "data": {"a": "MQ=="}}) == ["x", "Opaque", 1, "7s"]
    assert cells("ServiceAccount", {"metadata": m}) == ["x", 0, "7s"]
    assert cells("Lease", {"metadata": m, "spec": {}}, "coordination.k8s.io") == ["x", "", "7s"]


def test_endpoints_cells():
    m = {"name": "e", "creationTimestamp": ts(7)}
    assert cells("Endpoints", {"metadata": m}) == ["e", "<none>", "7s"]
    ep = {"metadata": m, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                                      "ports": [{"port": 80}, {"port": 443}]}]}
    assert cells("Endpoints", ep)[1] == "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
    ep = {"metadata": m, "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]}
    assert cells("Endpoints", ep)[1] == "[fd00::1]:80"
    ep = {"metadata": m, "subsets": [{"addresses": [{"ip": "10.0.0.9"}]}]}
    assert cells("Endpoints", ep)[1] == "10.0.0.9"


def test_endpoint_slice_cells():
    es = {"metadata": {"name": "s", "creationTimestamp": ts(7)}, "addressType": "IPv4",
          "ports": [{"port": 80}, {"name": "dns"}, {}, {"port": 1}],
          "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]}
    assert cells("EndpointSlice", es, "discovery.k8s.io") == [
        "s", "IPv4", "80,dns,* + 1 more...", "10.0.0.1,10.0.0.2", "7s"]
    es = {"metadata": {"name": "s", "creationTimestamp": ts(7)}, "addressType": "IPv4"}
    assert cells("EndpointSlice", es, "discovery.k8s.io")[2:4] == ["<unset>", "<unset>"]


def test_event_cells():
    ev = {"metadata": {"name": "p.123", "creationTimestamp": ts(70)},
          "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
          "reason": "Scheduled", "message": " Successfully assigned default/p to n1 \n", "type": "Normal",
          "source": {"component": "default-scheduler"}, "firstTimestamp": ts(70), "lastTimestamp": ts(10),
          "count": 2}
    assert cells("Event", ev) == ["10s", "Normal", "Scheduled", "pod/p", "spec.containers{c}",
                                  "default-scheduler", "Successfully assigned default/p to n1", "70s", 2,
                                  "p.123"]
    ev2 = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Node"}, "eventTime": "2024-06-01T11:59:00.000000Z",
           "reportingComponent": "kubelet", "reportingInstance": "n1"}
    assert cells("Event", ev2) == ["60s", "", "", "node", "", "kubelet, n1", "", "60s", 1, "e"]
    ev3 = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "x"},
           "series": {"count": 4, "lastObservedTime": "2024-06-01T11:59:55.000000Z"}, "firstTimestamp": ts(500)}
    assert cells("Event", ev3)[0] == "5s" and cells("Event", ev3)[8] == 4


def test_missing_creation_timestamp_is_unknown():
    assert cells("ConfigMap", {"metadata": {"name": "x"}})[2] == "<unknown>"


# ---------------------------------------------------------------- real kubectl


def _pod(name: str, ns: str, rv: str, phase: str = "Pending") -> dict:
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": rv, "labels": {"app": name},
                         "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}, "status": {"phase": phase}}


@pytest.mark.parametrize("version", ["1.32", "1.27"])
@pytest.mark.parametrize("headers_each_event", [True, False])
async def test_kubectl_get_watch_prints_table_rows(kubectl, fake_server, version, headers_each_event):
    fake_server.objects.append(_pod("web", "default", "1"))
    fake_server.watch_events += [("MODIFIED", _pod("web", "default", "2", "Running")),
                                 ("ADDED", _pod("db", "default", "3"))]
    fake_server.watch_headers = headers_each_event
    rc, out, err = await kubectl("get", "pods", "-w", "--output-watch-events", version=version)
    assert rc == 0, err
    lines = [line.split()[:4] for line in out.splitlines()]
    assert lines == [["EVENT", "NAME", "READY", "STATUS"], ["ADDED", "web", "0/1", "Pending"],
                     ["MODIFIED", "web", "0/1", "Running"], ["ADDED", "db", "0/1", "Pending"]]


@pytest.mark.parametrize("version", ["1.32", "1.27"])
async def test_kubectl_all_namespaces_labels_and_sort(kubectl, fake_server, version):
    fake_server.objects += [_pod("web", "default", "1"), _pod("db", "kube-system", "2")]
    rc, out, err = await kubectl("get", "pods", "-A", "--sort-by=.metadata.name", "-L", "app",
                                 version=version)
    assert rc == 0, err
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "APP"]
    assert [r[:2] for r in rows[1:]] == [["kube-system", "db"], ["default", "web"]]
    assert [r[-1] for r in rows[1:]] == ["db", "web"]
    assert fake_server.queries[-1].get("includeObject") == "Object"  # --sort-by asks for full objects
