"""Stock kubectl (v1.32 and v1.27) drives the apiserver through its whole
everyday workflow, with validation left strict. Each test runs once per
kubectl version, in its own namespace, against one apiserver per module."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

import yaml

from pybernetes import KUBE_GIT_VERSION

from .conftest import Kubectl

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: {app}}}
spec:
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
    ports: [{{containerPort: 80}}]
"""

RC = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        ports: [{containerPort: 80}]
"""


def columns(line: str) -> list[str]:
    """A kubectl table line split into cells (cells are separated by 2+ spaces)."""
    return re.split(r"\s{2,}", line.strip())


def header(out: str) -> list[str]:
    return columns(out.splitlines()[0])


def rows(out: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell."""
    return {c[0]: c for c in (columns(line) for line in out.splitlines()[1:] if line.strip())}


def ns_path(k: Kubectl, plural: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{k.namespace}/{plural}" + (f"/{name}" if name else "")


# --------------------------------------------------------------- discovery
def test_version_api_versions_api_resources(kubectl: Kubectl):
    out = kubectl.out("version", namespaced=False)
    assert KUBE_GIT_VERSION in out
    server = json.loads(kubectl.out("version", "-o", "json", namespaced=False))["serverVersion"]
    assert server["gitVersion"] == KUBE_GIT_VERSION and server["major"] == "1"

    assert kubectl.out("api-versions", namespaced=False).split() == [
        "coordination.k8s.io/v1", "discovery.k8s.io/v1", "v1"]

    out = kubectl.out("api-resources", namespaced=False)
    assert header(out) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    table = {c[0]: c for c in (line.split() for line in out.splitlines()[1:])}
    assert set(table) == {"configmaps", "endpoints", "events", "namespaces", "nodes", "pods",
                          "replicationcontrollers", "secrets", "serviceaccounts", "services",
                          "leases", "endpointslices"}
    assert table["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert table["replicationcontrollers"][1] == "rc"
    assert table["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert table["leases"] == ["leases", "coordination.k8s.io/v1", "true", "Lease"]
    verbs = kubectl.out("api-resources", "-o", "wide", namespaced=False)
    pods_line = [line for line in verbs.splitlines() if line.startswith("pods ")][0]
    # v1.32 prints the verbs comma-separated, v1.27 as a bracketed list.
    assert re.sub(r"[\[\],]", " ", pods_line).split()[5:] == [
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", "all"]
    assert kubectl.out("api-resources", "--namespaced=false", "-o", "name", namespaced=False).split() == [
        "namespaces", "nodes"]


def test_explain(kubectl: Kubectl):
    out = kubectl.out("explain", "pod.spec.containers", namespaced=False)
    assert "KIND:       Pod" in out and "FIELD: containers <[]Container>" in out
    assert re.search(r"^\s+image\s+<string>", out, re.M)
    out = kubectl.out("explain", "rc.spec.replicas", namespaced=False)
    assert "ReplicationController" in out and "replicas" in out


# --------------------------------------------------------------- create and get
def test_create_files_directories_lists_and_get_outputs(kubectl: Kubectl, api, tmp_path):
    d = tmp_path / "manifests"
    d.mkdir()
    (d / "app.yaml").write_text(POD.format(name="web-0", app="web") + "---\n" + RC + """---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
""")
    (d / "list.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1", "b": "2"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"user": "admin"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}},
    ]}))
    out = kubectl.out("create", "-f", str(d))
    assert sorted(out.splitlines()) == sorted([
        "pod/web-0 created", "replicationcontroller/web created", "service/web created",
        "configmap/settings created", "secret/creds created", "serviceaccount/robot created"])
    assert api.get(ns_path(kubectl, "pods", "web-0"))["spec"]["containers"][0]["image"] == "busybox"
    assert api.get(ns_path(kubectl, "secrets", "creds"))["data"] == {"user": "YWRtaW4="}
    # managedFields record the creator, as Kubernetes does.
    managers = [m["manager"] for m in api.get(ns_path(kubectl, "configmaps", "settings"))["metadata"]["managedFields"]]
    assert managers == ["kubectl-create"]

    again = kubectl.run("create", "-f", str(d / "list.json"), check=False)
    assert again.returncode != 0 and 'configmaps "settings" already exists' in again.stderr

    # Table layouts are Kubernetes' own.
    pods = kubectl.out("get", "pods")
    assert header(pods) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows(pods)["web-0"][1:4] == ["0/1", "Pending", "0"]
    assert header(kubectl.out("get", "pods", "-o", "wide")) == [
        "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    svc = kubectl.out("get", "svc")
    assert header(svc) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    cluster_ip = api.get(ns_path(kubectl, "services", "web"))["spec"]["clusterIP"]
    assert rows(svc)["web"][1:5] == ["ClusterIP", cluster_ip, "<none>", "80/TCP"]
    assert header(kubectl.out("get", "svc", "-o", "wide"))[-1] == "SELECTOR"
    rc = kubectl.out("get", "rc", "-o", "wide")
    assert header(rc) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows(rc)["web"][1:4] == ["2", "0", "0"] and rows(rc)["web"][5:] == ["web", "nginx", "app=web"]
    cm = kubectl.out("get", "cm", "settings")
    assert header(cm) == ["NAME", "DATA", "AGE"] and rows(cm)["settings"][1] == "2"
    sec = kubectl.out("get", "secret", "creds")
    assert header(sec) == ["NAME", "TYPE", "DATA", "AGE"] and rows(sec)["creds"][1:3] == ["Opaque", "1"]
    assert header(kubectl.out("get", "sa", "robot")) == ["NAME", "SECRETS", "AGE"]
    assert header(kubectl.out("get", "ns", kubectl.namespace, namespaced=False)) == ["NAME", "STATUS", "AGE"]

    everything = kubectl.out("get", "all")
    assert "pod/web-0" in everything and "service/web" in everything and "replicationcontroller/web" in everything

    # Output formats.
    assert sorted(kubectl.out("get", "pods,svc,cm", "-o", "name").split()) == [
        "configmap/kube-root-ca.crt", "configmap/settings", "pod/web-0", "service/web"] or \
        sorted(kubectl.out("get", "pods,svc,cm", "-o", "name").split()) == [
        "configmap/settings", "pod/web-0", "service/web"]
    as_json = kubectl.json("get", "pod", "web-0")
    assert as_json["kind"] == "Pod" and as_json["metadata"]["namespace"] == kubectl.namespace
    as_list = kubectl.json("get", "pods")
    assert as_list["kind"] == "List" and [i["metadata"]["name"] for i in as_list["items"]] == ["web-0"]
    as_yaml = yaml.safe_load(kubectl.out("get", "rc", "web", "-o", "yaml"))
    assert as_yaml["spec"]["replicas"] == 2 and "managedFields" not in as_yaml["metadata"]
    assert kubectl.out("get", "pod", "web-0", "-o", "jsonpath={.spec.containers[0].ports[0].containerPort}") == "80"
    assert kubectl.out("get", "pods", "-o", "jsonpath={.items[*].metadata.name}") == "web-0"
    custom = kubectl.out("get", "pods", "-o", "custom-columns=N:.metadata.name,IMG:.spec.containers[0].image")
    assert rows(custom)["web-0"] == ["web-0", "busybox"]


def test_node_table_and_cluster_scoped_get(kubectl: Kubectl, api, tmp_path):
    name = f"node-{kubectl.namespace}"
    kubectl.run("create", "-f", "-", namespaced=False, input_text=json.dumps({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"node-role.kubernetes.io/worker": ""}}}))
    kubectl.run("patch", "node", name, "--subresource=status", "--type=merge", "-p", json.dumps({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok"}],
        "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian", "kernelVersion": "6.1",
                     "containerRuntimeVersion": "process://1", "machineID": "", "systemUUID": "", "bootID": "",
                     "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
        "addresses": [{"type": "InternalIP", "address": "10.1.2.3"}]}}), namespaced=False)
    out = kubectl.out("get", "nodes", name, "-o", "wide", namespaced=False)
    assert header(out) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP",
                           "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    row = rows(out)[name]
    assert row[1:3] == ["Ready", "worker"] and row[4:] == ["v1.32.0", "10.1.2.3", "<none>", "Debian", "6.1",
                                                            "process://1"]
    kubectl.run("delete", "node", name, namespaced=False)
    assert api.get(f"/api/v1/nodes/{name}") is None


# --------------------------------------------------------------- selectors, -A, -w
def test_get_selectors_all_namespaces_and_labels(kubectl: Kubectl, api):
    for name, app in (("a1", "alpha"), ("b1", "beta")):
        kubectl.run("create", "-f", "-", input_text=POD.format(name=name, app=app))
    kubectl.run("patch", "pod", "b1", "--subresource=status", "--type=merge",
                "-p", '{"status":{"phase":"Running"}}')
    assert kubectl.out("get", "pods", "-l", "app=alpha", "-o", "name").split() == ["pod/a1"]
    assert kubectl.out("get", "pods", "-l", "app in (alpha,beta),app!=beta", "-o", "name").split() == ["pod/a1"]
    assert kubectl.out("get", "pods", "--field-selector", "status.phase=Running", "-o", "name").split() == ["pod/b1"]
    assert kubectl.out("get", "pods", "--field-selector", "metadata.name!=a1", "-o", "name").split() == ["pod/b1"]
    err = kubectl.fails("get", "pods", "--field-selector", "spec.bogus=1")
    assert 'field label not supported: spec.bogus' in err

    everywhere = kubectl.out("get", "pods", "-A")
    assert header(everywhere) == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    mine = [c for c in (columns(line) for line in everywhere.splitlines()[1:]) if c[0] == kubectl.namespace]
    assert sorted(c[1] for c in mine) == ["a1", "b1"]

    labelled = kubectl.out("get", "pods", "--show-labels")
    assert header(labelled)[-1] == "LABELS" and rows(labelled)["a1"][-1] == "app=alpha"
    col = kubectl.out("get", "pods", "-L", "app")
    assert header(col)[-1] == "APP" and rows(col)["b1"][-1] == "beta"
    by_name = kubectl.out("get", "pods", "--sort-by", ".metadata.name", "-o", "name").split()
    assert by_name == ["pod/a1", "pod/b1"]


def test_get_watch(kubectl: Kubectl):
    kubectl.run("create", "-f", "-", input_text=POD.format(name="w1", app="w"))
    cmd = [kubectl.binary, "--kubeconfig", str(kubectl.server.kubeconfig), "--cache-dir",
           str(kubectl.cache_dir), "-n", kubectl.namespace, "get", "pods", "-w"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killer = threading.Timer(30, proc.kill)  # never hang the suite
    killer.start()
    try:
        assert columns(proc.stdout.readline()) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert columns(proc.stdout.readline())[:3] == ["w1", "0/1", "Pending"]
        # The first rows are printed before the watch request is open: retry the change until seen.
        deadline = time.monotonic() + 20
        lines = []
        phase = 0
        while time.monotonic() < deadline:
            phase += 1
            kubectl.run("patch", "pod", "w1", "--subresource=status", "--type=merge",
                        "-p", json.dumps({"status": {"phase": "Running", "message": str(phase)}}))
            line = proc.stdout.readline()
            lines.append(line)
            if columns(line)[:3] == ["w1", "0/1", "Running"]:
                break
        else:
            raise AssertionError(f"no Running row in {lines}")
    finally:
        killer.cancel()
        proc.kill()
        proc.wait()


# --------------------------------------------------------------- apply
def test_apply_client_side_and_server_side(kubectl: Kubectl, api, tmp_path):
    f = tmp_path / "rc.yaml"
    f.write_text(RC)
    assert kubectl.out("apply", "-f", str(f)).strip() == "replicationcontroller/web created"
    stored = api.get(ns_path(kubectl, "replicationcontrollers", "web"))
    last = json.loads(stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["replicas"] == 2
    assert [m["manager"] for m in stored["metadata"]["managedFields"]] == ["kubectl-client-side-apply"]
    assert kubectl.out("apply", "-f", str(f)).strip() == "replicationcontroller/web unchanged"

    # diff and server-side dry runs change nothing.
    f.write_text(RC.replace("replicas: 2", "replicas: 4"))
    r = kubectl.run("diff", "-f", str(f), check=False)
    assert r.returncode == 1, r.stderr
    assert "-  replicas: 2" in r.stdout and "+  replicas: 4" in r.stdout
    assert "-  resourceVersion" not in r.stdout and "+  resourceVersion" not in r.stdout
    assert kubectl.out("apply", "--dry-run=server", "-f", str(f)).strip() == \
        "replicationcontroller/web configured (server dry run)"
    assert api.get(ns_path(kubectl, "replicationcontrollers", "web"))["spec"]["replicas"] == 2

    f.write_text(RC.replace("replicas: 2", "replicas: 3").replace("image: nginx", "image: nginx:2"))
    assert kubectl.out("apply", "-f", str(f)).strip() == "replicationcontroller/web configured"
    stored = api.get(ns_path(kubectl, "replicationcontrollers", "web"))
    assert stored["spec"]["replicas"] == 3
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert stored["metadata"]["generation"] == 2

    # Server-side apply takes over from client-side apply (kubectl's upgrade path).
    assert kubectl.out("apply", "--server-side", "-f", str(f)).strip() == \
        "replicationcontroller/web serverside-applied"
    stored = api.get(ns_path(kubectl, "replicationcontrollers", "web"))
    owners = {(m["manager"], m["operation"]) for m in stored["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in owners

    # Another manager changing an owned field conflicts, with Kubernetes' message; force takes over.
    f.write_text(RC.replace("replicas: 2", "replicas: 5"))
    err = kubectl.fails("apply", "--server-side", "--field-manager=other", "-f", str(f))
    assert "Apply failed with" in err and '"kubectl"' in err and ".spec.replicas" in err
    assert "--force-conflicts" in err
    assert api.get(ns_path(kubectl, "replicationcontrollers", "web"))["spec"]["replicas"] == 3
    kubectl.run("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", str(f))
    stored = api.get(ns_path(kubectl, "replicationcontrollers", "web"))
    assert stored["spec"]["replicas"] == 5
    other = [m for m in stored["metadata"]["managedFields"] if m["manager"] == "other"][0]
    assert other["operation"] == "Apply" and "f:replicas" in other["fieldsV1"]["f:spec"]

    # Server-side apply creates what does not exist yet.
    kubectl.run("apply", "--server-side", "-f", "-",
                input_text="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  k: v\n")
    cm = api.get(ns_path(kubectl, "configmaps", "ssa"))
    assert cm["data"] == {"k": "v"} and cm["metadata"]["managedFields"][0]["manager"] == "kubectl"


# --------------------------------------------------------------- changing objects
def test_replace_edit_patch_label_annotate_scale(kubectl: Kubectl, api, tmp_path):
    kubectl.run("create", "-f", "-", input_text=RC)
    rc_path = ns_path(kubectl, "replicationcontrollers", "web")

    live = kubectl.json("get", "rc", "web")
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:replaced"
    assert kubectl.out("replace", "-f", "-", input_text=json.dumps(live)).strip() == \
        "replicationcontroller/web replaced"
    assert api.get(rc_path)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:replaced"
    # A stale resourceVersion is a conflict.
    err = kubectl.fails("replace", "-f", "-", input_text=json.dumps(live))
    assert "the object has been modified" in err

    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/replicas: 2/replicas: 6/' \"$1\"\n")
    editor.chmod(0o755)
    out = kubectl.out("edit", "rc", "web", env={"EDITOR": str(editor), "KUBE_EDITOR": str(editor)})
    assert out.strip() == "replicationcontroller/web edited"
    assert api.get(rc_path)["spec"]["replicas"] == 6

    kubectl.run("patch", "rc", "web", "-p", json.dumps({"spec": {"template": {"spec": {"containers": [
        {"name": "side", "image": "busybox"}]}}}}))
    containers = api.get(rc_path)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["side", "web"]  # strategic merge by name
    kubectl.run("patch", "rc", "web", "--type=merge", "-p", '{"metadata":{"labels":{"tier":"front"}}}')
    kubectl.run("patch", "rc", "web", "--type=json",
                "-p", '[{"op":"remove","path":"/spec/template/spec/containers/0"}]')
    stored = api.get(rc_path)
    assert [c["name"] for c in stored["spec"]["template"]["spec"]["containers"]] == ["web"]
    assert stored["metadata"]["labels"] == {"app": "web", "tier": "front"}
    err = kubectl.fails("patch", "rc", "web", "--type=json", "-p", '[{"op":"test","path":"/spec/replicas","value":1}]')
    # Kubernetes answers a failed JSON-patch test with a bare 422, which kubectl prints so.
    assert "The request is invalid: the server rejected our request due to an error in our request" in err
    err = kubectl.fails("patch", "rc", "web", "-p", '{"spec":{"replicas":-1}}')
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in err

    assert kubectl.out("label", "rc", "web", "env=prod").strip() == "replicationcontroller/web labeled"
    kubectl.run("label", "rc", "web", "tier-")
    err = kubectl.fails("label", "rc", "web", "env=dev")
    assert "'env' already has a value (prod)" in err
    kubectl.run("label", "rc", "web", "env=dev", "--overwrite")
    assert api.get(rc_path)["metadata"]["labels"] == {"app": "web", "env": "dev"}
    kubectl.run("annotate", "rc", "web", "owner=team-a")
    assert api.get(rc_path)["metadata"]["annotations"]["owner"] == "team-a"

    assert kubectl.out("scale", "rc", "web", "--replicas=1").strip() == "replicationcontroller/web scaled"
    assert api.get(rc_path)["spec"]["replicas"] == 1
    err = kubectl.fails("scale", "rc", "web", "--replicas=3", "--current-replicas=2")
    assert "Expected replicas to be 2, was 1" in err
    scaler = [m for m in api.get(rc_path)["metadata"]["managedFields"] if m.get("subresource") == "scale"]
    assert len(scaler) == 1 and scaler[0]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    scale = api.get(rc_path + "/scale")
    assert scale["kind"] == "Scale" and scale["spec"] == {"replicas": 1} and scale["status"]["selector"] == "app=web"

    managers = {m["manager"] for m in api.get(rc_path)["metadata"]["managedFields"]}
    # kubectl-edit and kubectl-patch lost every field they set to later writers, so they are gone.
    assert {"kubectl-create", "kubectl-label", "kubectl-annotate"} <= managers, managers
    assert "kubectl-edit" not in managers and "kubectl-patch" not in managers


# --------------------------------------------------------------- delete and wait
def test_delete_forms_and_wait(kubectl: Kubectl, api, tmp_path):
    f = tmp_path / "pods.yaml"
    f.write_text("---\n".join(POD.format(name=f"p{i}", app="del" if i < 3 else "keep") for i in range(5)))
    kubectl.run("create", "-f", str(f))
    pods = ns_path(kubectl, "pods")

    waiter = subprocess.Popen(
        [kubectl.binary, "--kubeconfig", str(kubectl.server.kubeconfig), "--cache-dir", str(kubectl.cache_dir),
         "-n", kubectl.namespace, "wait", "--for=delete", "pod/p0", "--timeout=30s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        assert kubectl.out("delete", "pod", "p0").strip() == 'pod "p0" deleted'
        out, err = waiter.communicate(timeout=40)
    finally:
        waiter.kill()
    assert waiter.returncode == 0, err
    assert out.strip() == "pod/p0 condition met"

    assert sorted(kubectl.out("delete", "pods", "-l", "app=del").splitlines()) == [
        'pod "p1" deleted', 'pod "p2" deleted']
    assert api.names(pods) == ["p3", "p4"]
    kubectl.fails("delete", "pod", "p1")

    # wait --for=condition on a status change.
    kubectl.run("patch", "pod", "p3", "--subresource=status", "--type=merge", "-p", json.dumps(
        {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}))
    assert kubectl.out("wait", "--for=condition=Ready", "pod/p3", "--timeout=20s").strip() == \
        "pod/p3 condition met"
    r = kubectl.run("wait", "--for=condition=Ready", "pod/p4", "--timeout=1s", check=False)
    assert r.returncode != 0 and "timed out waiting for the condition on pods/p4" in r.stderr

    one = tmp_path / "one.yaml"
    one.write_text(POD.format(name="p4", app="keep"))
    assert kubectl.out("delete", "-f", str(one)).strip() == 'pod "p4" deleted'
    kubectl.run("create", "-f", "-", input_text=RC)
    assert kubectl.out("delete", "pods,rc", "--all").splitlines() == [
        'pod "p3" deleted', 'replicationcontroller "web" deleted']
    assert api.names(pods) == [] and api.names(ns_path(kubectl, "replicationcontrollers")) == []
    assert kubectl.out("get", "pods").strip() == "" and "No resources found in" in \
        kubectl.run("get", "pods").stderr


def test_delete_namespace(kubectl: Kubectl, api):
    kubectl.run("create", "-f", "-", input_text=POD.format(name="x", app="x"))
    out = kubectl.out("delete", "namespace", kubectl.namespace, "--wait=false", namespaced=False)
    assert out.strip() == f'namespace "{kubectl.namespace}" deleted'
    ns = api.get(f"/api/v1/namespaces/{kubectl.namespace}")
    assert ns is None or ns["status"]["phase"] == "Terminating"


# --------------------------------------------------------------- describe
def test_describe_with_events(kubectl: Kubectl, api):
    kubectl.run("create", "-f", "-", input_text=POD.format(name="d1", app="d"))
    uid = api.get(ns_path(kubectl, "pods", "d1"))["metadata"]["uid"]
    kubectl.run("create", "-f", "-", input_text=json.dumps({
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "d1.1"},
        "involvedObject": {"kind": "Pod", "name": "d1", "namespace": kubectl.namespace, "uid": uid,
                           "apiVersion": "v1"},
        "reason": "FailedScheduling", "message": "0/3 nodes are available: 3 node(s) didn't match selector.",
        "type": "Warning", "source": {"component": "default-scheduler"}, "count": 1,
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z"}))
    out = kubectl.out("describe", "pod", "d1")
    assert re.search(r"^Name:\s+d1$", out, re.M) and re.search(r"^Status:\s+Pending$", out, re.M)
    assert re.search(r"^Labels:\s+app=d$", out, re.M)
    events = out.split("Events:", 1)[1]
    assert "Warning  FailedScheduling" in events and "default-scheduler" in events
    assert "0/3 nodes are available" in events

    ev = kubectl.out("get", "events")
    assert header(ev) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "pod/d1" in ev and "FailedScheduling" in ev
    kubectl.run("create", "-f", "-", input_text=RC)
    out = kubectl.out("describe", "rc", "web")
    assert re.search(r"^Replicas:\s+0 current / 2 desired$", out, re.M)


# --------------------------------------------------------------- run, expose, logs
def test_run_expose_logs(kubectl: Kubectl, api):
    out = kubectl.out("run", "runner", "--image=busybox", "--labels=app=runner", "--port=8080",
                      "--", "sleep", "60")
    assert out.strip() == "pod/runner created"
    pod = api.get(ns_path(kubectl, "pods", "runner"))
    assert pod["spec"]["containers"][0]["args"] == ["sleep", "60"]
    assert pod["metadata"]["labels"] == {"app": "runner"}

    assert kubectl.out("expose", "pod", "runner", "--port=80", "--target-port=8080", "--name=runner-svc").strip() \
        == "service/runner-svc exposed"
    svc = api.get(ns_path(kubectl, "services", "runner-svc"))
    assert svc["spec"]["selector"] == {"app": "runner"}
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == 8080

    kubectl.run("create", "-f", "-", input_text=RC)
    kubectl.run("expose", "rc", "web", "--port=80", "--type=NodePort")
    svc = api.get(ns_path(kubectl, "services", "web"))
    assert svc["spec"]["type"] == "NodePort" and 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    assert svc["spec"]["selector"] == {"app": "web"}

    # No kubelet serves logs in this cluster: a clear 503, after the usual checks.
    err = kubectl.fails("logs", "runner")
    assert "Error from server (ServiceUnavailable): no kubelet serves logs yet" in err
    err = kubectl.fails("logs", "runner", "-c", "nope")
    assert "container nope is not valid for pod runner" in err
    err = kubectl.fails("logs", "nope")
    assert 'pods "nope" not found' in err


# --------------------------------------------------------------- bad input
BAD_INPUT = {
    "unknown-field": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\ndata: {a: b}\nbogus: 1\n",
                      'unknown field "bogus"'),
    "nested-unknown-field": (POD.format(name="p", app="x").replace("    image: busybox\n",
                                                                     "    image: busybox\n    imagePull: Always\n"),
                             'unknown field "spec.containers[0].imagePull"'),
    "invalid-name": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
                     'metadata.name: Invalid value: "Bad_Name"'),
    "missing-required": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: noimage\nspec:\n  containers:\n  - name: c\n",
                         "spec.containers[0].image: Required value"),
    "malformed-yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n",
                       "error converting YAML to JSON: yaml: line"),
}


def test_bad_input_is_refused_and_nothing_stored(kubectl: Kubectl, api, tmp_path):
    for case, (manifest, expected) in BAD_INPUT.items():
        f = tmp_path / f"{case}.yaml"
        f.write_text(manifest)
        for verb in (("create",), ("apply",), ("replace",)):
            err = kubectl.fails(*verb, "-f", str(f))
            assert expected in err, (case, verb, err)
            assert len(err.strip().splitlines()) == 1, (case, verb, err)
    ssa = kubectl.fails("apply", "--server-side", "-f", str(tmp_path / "unknown-field.yaml"))
    assert ".bogus: field not declared in schema" in ssa
    assert api.names(ns_path(kubectl, "configmaps")) in ([], ["kube-root-ca.crt"])
    assert api.names(ns_path(kubectl, "pods")) == []


# --------------------------------------------------------------- generator commands (protobuf bodies)
def test_create_generators_send_protobuf(kubectl: Kubectl, api):
    ns = f"{kubectl.namespace}-gen"
    assert kubectl.out("create", "namespace", ns, namespaced=False).strip() == f"namespace/{ns} created"
    created = api.get(f"/api/v1/namespaces/{ns}")
    assert created["status"]["phase"] == "Active" and created["spec"]["finalizers"] == ["kubernetes"]
    assert created["metadata"]["labels"] == {"kubernetes.io/metadata.name": ns}
    assert [m["manager"] for m in created["metadata"]["managedFields"]] == ["kubectl-create"]

    kubectl.run("create", "configmap", "cfg", "--from-literal=a=1", "--from-literal=b=two")
    assert api.get(ns_path(kubectl, "configmaps", "cfg"))["data"] == {"a": "1", "b": "two"}
    kubectl.run("create", "secret", "generic", "sec", "--from-literal=user=admin", "--type=example.com/x")
    sec = api.get(ns_path(kubectl, "secrets", "sec"))
    assert sec["data"] == {"user": "YWRtaW4="} and sec["type"] == "example.com/x"
    kubectl.run("create", "serviceaccount", "robot")
    assert api.get(ns_path(kubectl, "serviceaccounts", "robot"))["metadata"]["name"] == "robot"
    kubectl.run("create", "service", "nodeport", "np", "--tcp=81:8081")
    svc = api.get(ns_path(kubectl, "services", "np"))
    port = svc["spec"]["ports"][0]
    assert svc["spec"]["type"] == "NodePort" and svc["spec"]["selector"] == {"app": "np"}
    assert (port["name"], port["port"], port["targetPort"], port["protocol"]) == ("81-8081", 81, 8081, "TCP")
    assert 30000 <= port["nodePort"] <= 32767
    kubectl.run("create", "service", "clusterip", "headless", "--clusterip=None")
    assert api.get(ns_path(kubectl, "services", "headless"))["spec"]["clusterIP"] == "None"

    err = kubectl.fails("create", "configmap", "Bad_Name", "--from-literal=a=b")
    assert 'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in err
    err = kubectl.fails("create", "namespace", ns, namespaced=False)
    assert f'namespaces "{ns}" already exists' in err
    kubectl.run("delete", "namespace", ns, "--wait=false", namespaced=False)


def test_malformed_protobuf_is_a_bad_request(server, api):
    ns = "default"
    path = f"/api/v1/namespaces/{ns}/configmaps"
    status, body = api.request("POST", path, b"not protobuf", content_type="application/vnd.kubernetes.protobuf")
    assert status == 400 and body["reason"] == "BadRequest"
    status, body = api.request("POST", path, b"k8s\x00\x12\xff", content_type="application/vnd.kubernetes.protobuf")
    assert status == 400 and "unable to decode protobuf ConfigMap" in body["message"]
    status, body = api.request("POST", f"/api/v1/namespaces/{ns}/pods", b"k8s\x00",
                               content_type="application/vnd.kubernetes.protobuf")
    assert status == 415 and body["reason"] == "UnsupportedMediaType"
