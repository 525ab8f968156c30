"""Stock kubectl's basic paths against the apiserver: get, create -f, replace, delete."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: web
    image: busybox
    ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: blue
"""


def kubectl(apiserver, env, *args, input_text=None, check=True):
    r = subprocess.run(["kubectl", "--kubeconfig", str(apiserver.kubeconfig), *args],
                       input=input_text, capture_output=True, text=True, env=env, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {r.stderr}")
    return r


def test_create_get_replace_delete(apiserver, kubectl_env, tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(MANIFEST)
    out = kubectl(apiserver, kubectl_env, "create", "-f", str(f)).stdout
    assert "pod/web created" in out and "service/web created" in out and "configmap/settings created" in out

    got = json.loads(kubectl(apiserver, kubectl_env, "get", "pods", "web", "-o", "json").stdout)
    assert got["metadata"]["labels"] == {"app": "web"} and got["status"]["phase"] == "Pending"
    names = kubectl(apiserver, kubectl_env, "get", "pods,services,configmaps", "-o", "name").stdout.split()
    assert {"pod/web", "service/web", "configmap/settings"} <= set(names)

    table = kubectl(apiserver, kubectl_env, "get", "services").stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]

    cm = json.loads(kubectl(apiserver, kubectl_env, "get", "configmap", "settings", "-o", "json").stdout)
    cm["data"]["color"] = "green"
    out = kubectl(apiserver, kubectl_env, "replace", "-f", "-", input_text=json.dumps(cm)).stdout
    assert "configmap/settings replaced" in out
    got = json.loads(kubectl(apiserver, kubectl_env, "get", "cm", "settings", "-o", "json").stdout)
    assert got["data"] == {"color": "green"}

    out = kubectl(apiserver, kubectl_env, "delete", "-f", str(f)).stdout
    assert 'pod "web" deleted' in out and 'service "web" deleted' in out
    r = kubectl(apiserver, kubectl_env, "get", "pod", "web", check=False)
    assert r.returncode != 0 and 'pods "web" not found' in r.stderr


def test_bad_manifest_is_refused_and_nothing_stored(apiserver, kubectl_env, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n")
    r = kubectl(apiserver, kubectl_env, "create", "-f", str(f), check=False)
    assert r.returncode != 0 and "metadata.name" in r.stderr
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\nbogus: 1\n")
    r = kubectl(apiserver, kubectl_env, "create", "-f", str(f), check=False)
    assert r.returncode != 0 and 'unknown field "bogus"' in r.stderr
    out = kubectl(apiserver, kubectl_env, "get", "configmaps", "-o", "name").stdout
    assert out.strip() == ""
