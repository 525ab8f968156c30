"""The official Python client (`kubernetes` on PyPI) against a real apiserver:
typed CRUD for every kind, watch streams, patches, create_from_yaml (also with
server-side apply through the DynamicClient), discovery, and Kubernetes'
exact error bodies."""

from __future__ import annotations

import json
import threading

import pytest
import yaml
from kubernetes import client, config, dynamic, utils, watch
from kubernetes.client.rest import ApiException

from .conftest import unique_namespace


@pytest.fixture(scope="module")
def api_client(server):
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as c:
        yield c


@pytest.fixture
def ns(api_client) -> str:
    """A fresh namespace holding the `default` ServiceAccount (which the
    controller manager would create), as some client flows expect."""
    name = unique_namespace("py")
    v1 = client.CoreV1Api(api_client)
    v1.create_namespace({"metadata": {"name": name}})
    v1.create_namespaced_service_account(name, {"metadata": {"name": "default"}})
    return name


def status_body(e: ApiException) -> dict:
    return json.loads(e.body)


# --------------------------------------------------------------- CRUD per kind
def _pod(name: str) -> dict:
    return {"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": "busybox", "ports": [{"containerPort": 80}]}]}}


NS = "$namespace$"  # replaced by the test's namespace
NAMESPACED = {
    "pod": (_pod, {"metadata": {"labels": {"patched": "yes"}}}),
    "service": (lambda n: {"metadata": {"name": n}, "spec": {"selector": {"app": n}, "ports": [{"port": 80}]}},
                {"spec": {"selector": {"tier": "x"}}}),
    "replication_controller": (
        lambda n: {"metadata": {"name": n}, "spec": {"replicas": 1, "selector": {"app": n}, "template": {
            "metadata": {"labels": {"app": n}}, "spec": _pod(n)["spec"]}}},
        {"spec": {"replicas": 3}}),
    "endpoints": (lambda n: {"metadata": {"name": n}, "subsets": [
        {"addresses": [{"ip": "10.1.0.1"}], "ports": [{"port": 80}]}]},
        {"metadata": {"annotations": {"patched": "yes"}}}),
    "event": (lambda n: {"metadata": {"name": n}, "involvedObject": {"kind": "Pod", "name": "x", "namespace": NS},
                         "reason": "Tested", "message": "hello", "type": "Normal"},
              {"message": "patched"}),
    "config_map": (lambda n: {"metadata": {"name": n}, "data": {"a": "1"}}, {"data": {"b": "2"}}),
    "secret": (lambda n: {"metadata": {"name": n}, "stringData": {"user": "admin"}},
               {"data": {"pass": "c2VjcmV0"}}),
    "service_account": (lambda n: {"metadata": {"name": n}}, {"automountServiceAccountToken": False}),
}


@pytest.mark.parametrize("kind", list(NAMESPACED))
def test_core_v1_crud_namespaced(api_client, ns, kind):
    v1 = client.CoreV1Api(api_client)
    make, patch = NAMESPACED[kind]
    create = getattr(v1, f"create_namespaced_{kind}")
    read = getattr(v1, f"read_namespaced_{kind}")
    listing = getattr(v1, f"list_namespaced_{kind}")
    replace = getattr(v1, f"replace_namespaced_{kind}")
    patcher = getattr(v1, f"patch_namespaced_{kind}")
    delete = getattr(v1, f"delete_namespaced_{kind}")

    created = create(ns, json.loads(json.dumps(make("obj1")).replace(NS, ns)))
    assert created.metadata.name == "obj1" and created.metadata.namespace == ns and created.metadata.uid
    # The default field manager is the user agent's product name.
    assert {m.manager for m in created.metadata.managed_fields or []} <= {"OpenAPI-Generator"}
    got = read("obj1", ns)
    assert got.metadata.resource_version == created.metadata.resource_version
    listed = listing(ns)
    names = [i.metadata.name for i in listed.items]
    assert "obj1" in names and int(listed.metadata.resource_version) >= int(created.metadata.resource_version)

    body = api_client.sanitize_for_serialization(got)
    body["metadata"].setdefault("labels", {})["replaced"] = "yes"
    replaced = replace("obj1", ns, body)
    assert replaced.metadata.labels["replaced"] == "yes"
    assert int(replaced.metadata.resource_version) > int(got.metadata.resource_version)

    patched = api_client.sanitize_for_serialization(patcher("obj1", ns, patch))
    assert patched["metadata"]["labels"]["replaced"] == "yes"
    for key, value in patch.items():  # the patch landed, merged into what was there
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, dict):
                    assert patched[key][k].items() >= v.items()
                elif k != "ports":
                    assert patched[key][k] == v
        else:
            assert patched[key] == value
    delete("obj1", ns)
    with pytest.raises(ApiException) as e:
        read("obj1", ns)
    assert e.value.status == 404


def test_patched_values(api_client, ns):
    v1 = client.CoreV1Api(api_client)
    v1.create_namespaced_secret(ns, NAMESPACED["secret"][0]("s"))
    s = v1.patch_namespaced_secret("s", ns, {"data": {"pass": "c2VjcmV0"}})
    assert s.data == {"user": "YWRtaW4=", "pass": "c2VjcmV0"} and s.string_data is None
    v1.create_namespaced_service(ns, {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80, "name": "a"}]}})
    svc = v1.patch_namespaced_service("svc", ns, {"spec": {"ports": [{"port": 81, "name": "b"}]}})
    assert [(p.name, p.port) for p in svc.spec.ports] == [("b", 81), ("a", 80)]  # merged by port


def test_core_v1_crud_cluster_scoped_and_other_groups(api_client, ns):
    v1 = client.CoreV1Api(api_client)
    node_name = unique_namespace("node")
    node = v1.create_node({"metadata": {"name": node_name, "labels": {"zone": "a"}}})
    assert node.metadata.namespace is None
    assert node_name in [n.metadata.name for n in v1.list_node(label_selector="zone=a").items]
    v1.patch_node_status(node_name, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert v1.read_node(node_name).status.conditions[0].type == "Ready"
    v1.patch_node(node_name, {"spec": {"unschedulable": True}})
    assert v1.read_node(node_name).spec.unschedulable is True
    v1.delete_node(node_name)
    assert node_name not in [n.metadata.name for n in v1.list_node().items]

    got = v1.read_namespace(ns)
    assert got.status.phase == "Active"
    assert "kubernetes.io/metadata.name" in got.metadata.labels
    v1.patch_namespace(ns, {"metadata": {"labels": {"team": "a"}}})
    assert v1.read_namespace(ns).metadata.labels["team"] == "a"

    leases = client.CoordinationV1Api(api_client)
    lease = leases.create_namespaced_lease(ns, {"metadata": {"name": "l1"}, "spec": {
        "holderIdentity": "me", "leaseDurationSeconds": 40}})
    assert lease.spec.holder_identity == "me"
    leases.patch_namespaced_lease("l1", ns, {"spec": {"holderIdentity": "you"}})
    assert leases.read_namespaced_lease("l1", ns).spec.holder_identity == "you"
    leases.delete_namespaced_lease("l1", ns)

    slices = client.DiscoveryV1Api(api_client)
    sl = slices.create_namespaced_endpoint_slice(ns, {
        "metadata": {"name": "s1", "labels": {"kubernetes.io/service-name": "svc"}}, "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.1.0.1"], "conditions": {"ready": True}}], "ports": [{"port": 80}]})
    assert sl.endpoints[0].addresses == ["10.1.0.1"]
    assert [s.metadata.name for s in slices.list_namespaced_endpoint_slice(
        ns, label_selector="kubernetes.io/service-name=svc").items] == ["s1"]
    slices.delete_namespaced_endpoint_slice("s1", ns)


def test_rc_scale_and_status_subresources(api_client, ns):
    v1 = client.CoreV1Api(api_client)
    v1.create_namespaced_replication_controller(ns, NAMESPACED["replication_controller"][0]("rc"))
    scale = v1.read_namespaced_replication_controller_scale("rc", ns)
    assert scale.spec.replicas == 1 and scale.status.selector == "app=rc"
    v1.patch_namespaced_replication_controller_scale("rc", ns, {"spec": {"replicas": 4}})
    assert v1.read_namespaced_replication_controller("rc", ns).spec.replicas == 4
    v1.patch_namespaced_replication_controller_status("rc", ns, {"status": {"replicas": 4, "readyReplicas": 2}})
    rc = v1.read_namespaced_replication_controller_status("rc", ns)
    assert rc.status.replicas == 4 and rc.status.ready_replicas == 2
    # The main resource cannot change status.
    v1.patch_namespaced_replication_controller("rc", ns, {"status": {"replicas": 9}})
    assert v1.read_namespaced_replication_controller("rc", ns).status.replicas == 4


# --------------------------------------------------------------- patch kinds
def test_dict_patch_is_strategic_and_list_patch_is_json_patch(api_client, ns):
    v1 = client.CoreV1Api(api_client)
    v1.create_namespaced_replication_controller(ns, {"metadata": {"name": "rc"}, "spec": {
        "selector": {"app": "rc"}, "template": {"metadata": {"labels": {"app": "rc"}}, "spec": {"containers": [
            {"name": "a", "image": "busybox", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "busybox"}]}}}})
    # Strategic merge: containers merge by name, env by name; patched items come first.
    rc = v1.patch_namespaced_replication_controller("rc", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "busybox:2", "env": [{"name": "Y", "value": "2"}]}]}}}})
    containers = rc.spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("a", "busybox:2"), ("b", "busybox")]
    assert [(e.name, e.value) for e in containers[0].env] == [("Y", "2"), ("X", "1")]
    # $patch: delete removes one item by its merge key.
    rc = v1.patch_namespaced_replication_controller("rc", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "b", "$patch": "delete"}]}}}})
    assert [c.name for c in rc.spec.template.spec.containers] == ["a"]
    # JSON patch: a list of operations.
    rc = v1.patch_namespaced_replication_controller("rc", ns, [
        {"op": "add", "path": "/metadata/labels", "value": {"k": "v"}},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "busybox:3"}])
    assert rc.metadata.labels == {"k": "v"} and rc.spec.template.spec.containers[0].image == "busybox:3"
    with pytest.raises(ApiException) as e:
        v1.patch_namespaced_replication_controller("rc", ns, [
            {"op": "test", "path": "/metadata/labels/k", "value": "nope"}])
    assert e.value.status == 422
    # An explicit merge patch replaces lists wholesale.
    rc = v1.patch_namespaced_replication_controller("rc", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "busybox"}]}}}}, _content_type="application/merge-patch+json")
    assert [c.name for c in rc.spec.template.spec.containers] == ["only"]
    # Pods allow image changes only, with Kubernetes' message.
    v1.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "a", "image": "busybox"}]}})
    pod = v1.patch_namespaced_pod("p", ns, {"spec": {"containers": [{"name": "a", "image": "busybox:2"}]}})
    assert pod.spec.containers[0].image == "busybox:2"
    with pytest.raises(ApiException) as e:
        v1.patch_namespaced_pod("p", ns, {"spec": {"containers": [{"name": "a", "workingDir": "/tmp"}]}})
    assert e.value.status == 422 and "pod updates may not change fields" in status_body(e.value)["message"]


# --------------------------------------------------------------- watch
def test_watch_stream(api_client, ns):
    v1 = client.CoreV1Api(api_client)
    v1.create_namespaced_config_map(ns, {"metadata": {"name": "before"}})
    w = watch.Watch()
    seen: list[tuple[str, str]] = []

    def writer():
        v1.create_namespaced_config_map(ns, {"metadata": {"name": "w1"}, "data": {"a": "1"}})
        v1.patch_namespaced_config_map("w1", ns, {"data": {"a": "2"}})
        v1.delete_namespaced_config_map("w1", ns)

    t = None
    for ev in w.stream(v1.list_namespaced_config_map, ns, timeout_seconds=20):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["object"].metadata.name == "before" and t is None:
            # Initial state arrives as ADDED; then write while the stream is open.
            t = threading.Thread(target=writer)
            t.start()
        if ev["type"] == "DELETED":
            w.stop()
    t.join()
    assert seen == [("ADDED", "before"), ("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]

    # Resuming from a listed resourceVersion replays only later changes.
    rv = v1.list_namespaced_config_map(ns).metadata.resource_version
    v1.create_namespaced_config_map(ns, {"metadata": {"name": "w2", "labels": {"x": "y"}}})
    events = []
    for ev in w.stream(v1.list_namespaced_config_map, ns, resource_version=rv, label_selector="x=y",
                       timeout_seconds=20):
        events.append((ev["type"], ev["object"].metadata.name, ev["object"].metadata.labels))
        w.stop()
    assert events == [("ADDED", "w2", {"x": "y"})]


# --------------------------------------------------------------- errors
def test_error_bodies_are_kubernetes_bytes(api_client, ns):
    v1 = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as e:
        v1.read_namespaced_pod("missing", ns)
    assert e.value.status == 404
    assert e.value.body == ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                            '"message":"pods \\"missing\\" not found","reason":"NotFound",'
                            '"details":{"name":"missing","kind":"pods"},"code":404}')

    v1.create_namespaced_config_map(ns, {"metadata": {"name": "dup"}})
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map(ns, {"metadata": {"name": "dup"}})
    assert e.value.status == 409
    assert e.value.body == ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                            '"message":"configmaps \\"dup\\" already exists","reason":"AlreadyExists",'
                            '"details":{"name":"dup","kind":"configmaps"},"code":409}')

    with pytest.raises(ApiException) as e:
        v1.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}})
    assert e.value.status == 422
    assert e.value.body == ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                            '"message":"Pod \\"p\\" is invalid: spec.containers[0].image: Required value",'
                            '"reason":"Invalid","details":{"name":"p","kind":"Pod","causes":[{"reason":'
                            '"FieldValueRequired","message":"Required value","field":"spec.containers[0].image"}]},'
                            '"code":422}')

    stale = v1.read_namespaced_config_map("dup", ns)
    v1.patch_namespaced_config_map("dup", ns, {"data": {"a": "1"}})
    with pytest.raises(ApiException) as e:
        v1.replace_namespaced_config_map("dup", ns, api_client.sanitize_for_serialization(stale))
    assert e.value.status == 409
    assert e.value.body == ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                            '"message":"Operation cannot be fulfilled on configmaps \\"dup\\": the object has '
                            'been modified; please apply your changes to the latest version and try again",'
                            '"reason":"Conflict","details":{"name":"dup","kind":"configmaps"},"code":409}')

    # The typed client refuses unknown fields itself; the DynamicClient sends them.
    cms = dynamic.DynamicClient(api_client).resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(dynamic.exceptions.BadRequestError) as e:
        cms.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "bogus": 1},
                   namespace=ns, query_params=[("fieldValidation", "Strict")])
    assert e.value.status == 400
    assert e.value.body == ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                            '"message":"ConfigMap in version \\"v1\\" cannot be handled as a ConfigMap: '
                            'strict decoding error: unknown field \\"bogus\\"","reason":"BadRequest","code":400}')
    assert v1.list_namespaced_config_map(ns, field_selector="metadata.name=x").items == []

    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map(ns, {"metadata": {"name": "fm"}}, field_manager="m" * 129)
    assert e.value.status == 422
    assert e.value.body == ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                            '"message":"CreateOptions.meta.k8s.io \\"\\" is invalid: fieldManager: Too long: may not '
                            'be more than 128 bytes","reason":"Invalid","details":{"group":"meta.k8s.io",'
                            '"kind":"CreateOptions","causes":[{"reason":"FieldValueTooLong","message":"Too long: '
                            'may not be more than 128 bytes","field":"fieldManager"}]},"code":422}')
    assert v1.create_namespaced_config_map(ns, {"metadata": {"name": "fm"}, "data": {"a": "b"}},
                                           field_manager="mine").metadata.managed_fields[0].manager == "mine"

    with pytest.raises(ApiException) as e:
        v1.read_namespaced_pod_log("missing", ns)
    assert e.value.status == 404


# --------------------------------------------------------------- utils.create_from_yaml
MULTI = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: from-file
data: {a: "1"}
---
apiVersion: v1
kind: Service
metadata:
  name: from-file
spec:
  selector: {app: x}
  ports: [{port: 80}]
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: from-list}
  spec:
    containers: [{name: c, image: busybox}]
"""


def test_create_from_yaml_file_dict_directory_and_apply(api_client, ns, tmp_path):
    v1 = client.CoreV1Api(api_client)
    f = tmp_path / "multi.yaml"
    f.write_text(MULTI)
    created = utils.create_from_yaml(api_client, str(f), namespace=ns)
    assert [o.metadata.name for group in created for o in group] == ["from-file", "from-file", "from-list"]
    assert v1.read_namespaced_service("from-file", ns).spec.cluster_ip
    assert v1.read_namespaced_pod("from-list", ns).spec.containers[0].image == "busybox"

    utils.create_from_dict(api_client, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "from-dict"},
                                        "stringData": {"k": "v"}}, namespace=ns)
    assert v1.read_namespaced_secret("from-dict", ns).data == {"k": "dg=="}

    d = tmp_path / "dir"
    d.mkdir()
    (d / "a.yaml").write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: from-dir\n")
    (d / "b.yml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-dir\n")
    utils.create_from_directory(api_client, str(d), namespace=ns)
    assert v1.read_namespaced_service_account("from-dir", ns).metadata.name == "from-dir"
    assert v1.read_namespaced_config_map("from-dir", ns).metadata.name == "from-dir"

    with pytest.raises(utils.FailToCreateError) as e:
        utils.create_from_yaml(api_client, str(f), namespace=ns)
    assert all(err.status == 409 for err in e.value.api_exceptions)

    # apply=True: server-side apply through the DynamicClient, creating then updating.
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied", "namespace": ns},
           "data": {"a": "1"}}
    utils.create_from_dict(api_client, doc, namespace=ns, apply=True)
    doc["data"] = {"b": "2"}
    utils.create_from_yaml(api_client, yaml_objects=[doc], namespace=ns, apply=True)
    cm = v1.read_namespaced_config_map("applied", ns)
    assert cm.data == {"b": "2"}  # the applier's dropped field is removed
    assert [(m.manager, m.operation) for m in cm.metadata.managed_fields] == [("python-client", "Apply")]
    utils.create_from_yaml(api_client, str(f), namespace=ns, apply=True)
    managers = {m.manager for m in v1.read_namespaced_config_map("from-file", ns).metadata.managed_fields}
    assert managers == {"OpenAPI-Generator", "python-client"}


# --------------------------------------------------------------- DynamicClient
def test_dynamic_client_discovery_and_verbs(api_client, ns):
    dyn = dynamic.DynamicClient(api_client)
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    assert pods.namespaced and pods.name == "pods" and "po" in pods.short_names
    rcs = dyn.resources.get(api_version="v1", kind="ReplicationController")
    assert rcs.subresources["scale"].kind == "Scale"
    assert dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease").group == "coordination.k8s.io"
    assert {r.kind for r in dyn.resources.search(group="discovery.k8s.io")} >= {"EndpointSlice"}
    with pytest.raises(dynamic.exceptions.ResourceNotFoundError):
        dyn.resources.get(api_version="apps/v1", kind="Deployment")

    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d1", "labels": {"l": "1"}},
                     "data": {"a": "1"}}, namespace=ns)
    assert cms.get(name="d1", namespace=ns).data.a == "1"
    assert [i.metadata.name for i in cms.get(namespace=ns, label_selector="l=1").items] == ["d1"]
    cms.patch(name="d1", namespace=ns, body={"data": {"b": "2"}},
              content_type="application/merge-patch+json")
    applied = cms.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": "d1", "namespace": ns}, "data": {"c": "3"}},
                                    namespace=ns, field_manager="dyn")
    assert dict(applied.data) == {"a": "1", "b": "2", "c": "3"}
    with pytest.raises(dynamic.exceptions.ConflictError) as e:
        cms.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "d1", "namespace": ns}, "data": {"c": "4"}},
                              namespace=ns, field_manager="other")
    conflict = json.loads(e.value.body)
    assert conflict["reason"] == "Conflict" and conflict["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "dyn"', "field": ".data.c"}]
    cms.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "d1", "namespace": ns}, "data": {"c": "4"}},
                          namespace=ns, field_manager="other", force_conflicts=True)
    assert cms.get(name="d1", namespace=ns).data.c == "4"

    rcs.create(body=yaml.safe_load("""
apiVersion: v1
kind: ReplicationController
metadata: {name: r}
spec:
  replicas: 1
  selector: {app: r}
  template:
    metadata: {labels: {app: r}}
    spec: {containers: [{name: c, image: busybox}]}
"""), namespace=ns)
    rcs.subresources["scale"].patch(name="r", namespace=ns, body={"spec": {"replicas": 2}},
                                    content_type="application/merge-patch+json")
    assert rcs.get(name="r", namespace=ns).spec.replicas == 2

    events = []
    for ev in cms.watch(namespace=ns, timeout=5):
        events.append((ev["type"], ev["object"].metadata.name))
        break
    assert events == [("ADDED", "d1")]
    cms.delete(name="d1", namespace=ns)
    assert [i.metadata.name for i in cms.get(namespace=ns).items if i.metadata.name == "d1"] == []


def test_apply_patch_status_codes_and_conflict_body(api, ns):
    """Server-side apply on the wire: 201 creating, 200 updating, 409 with causes on conflict."""
    path = f"/api/v1/namespaces/{ns}/configmaps/ssa"
    cfg = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "1"}}
    apply_type = "application/apply-patch+yaml"
    status, body = api.request("PATCH", path + "?fieldManager=first", cfg, content_type=apply_type)
    assert status == 201 and body["data"] == {"k": "1"}
    assert [(m["manager"], m["operation"]) for m in body["metadata"]["managedFields"]] == [("first", "Apply")]
    status, body = api.request("PATCH", path + "?fieldManager=first", {**cfg, "data": {"k": "1", "j": "2"}},
                               content_type=apply_type)
    assert status == 200 and body["data"] == {"k": "1", "j": "2"}
    status, body = api.request("PATCH", path + "?fieldManager=second", {**cfg, "data": {"k": "9"}},
                               content_type=apply_type)
    assert status == 409
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": 'Apply failed with 1 conflict: conflict with "first": .data.k',
                    "reason": "Conflict", "details": {"causes": [
                        {"reason": "FieldManagerConflict", "message": 'conflict with "first"', "field": ".data.k"}]},
                    "code": 409}
    status, body = api.request("PATCH", path + "?fieldManager=second&force=true", {**cfg, "data": {"k": "9"}},
                               content_type=apply_type)
    assert status == 200 and body["data"] == {"k": "9", "j": "2"}
    status, body = api.request("PATCH", path, cfg, content_type=apply_type)
    assert status == 400 and body["message"] == \
        "PATCH, application/apply-patch+yaml requires fieldManager to be set"
