"""Every kubecfg verb against a real `pyb up`: run (with ports, a service and a
command), list/get in every output format, create/update/delete from files,
resize, stop, rm, rollingupdate (and its clean abort), logs."""

from __future__ import annotations

import json
import sys
import urllib.request

import yaml

from .conftest import free_port, wait_for

PY = sys.executable


def _pods(up, selector: str) -> list[dict]:
    r = up.pyb("list", "pods", "-l", selector, "-o", "json")
    assert r.code == 0, r.err
    return json.loads(r.out)["items"]


def _running(up, selector: str, n: int) -> list[dict]:
    def ok():
        pods = [p for p in _pods(up, selector) if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                        for c in p.get("status", {}).get("conditions", []))]
        return pods if len(pods) == n and len(ready) == n else None
    return wait_for(ok, timeout=90, what=f"{n} ready pods with {selector}")


def _http(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def test_run_with_a_host_port_and_a_service_then_list_get_logs(up, tmp_path):
    host_port, container_port = free_port(), free_port()
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello from pyb run\n")
    r = up.pyb("run", "python:3", "1", "web", "-p", f"{host_port}:{container_port}", "-s", "8080", "--",
               PY, "-m", "http.server", str(container_port), "--directory", str(tmp_path / "www"))
    assert r.code == 0, r.err
    assert "replicationcontrollers/web created" in r.out and "services/web created" in r.out
    [pod] = _running(up, "name=web", 1)
    assert wait_for(lambda: _http(host_port), what="the host port to answer") == "hello from pyb run\n"

    # Tables: the seed's columns, human times, no colors in a pipe.
    r = up.pyb("list", "pods")
    header, row = r.out.splitlines()[:2]
    assert header.split() == ["NAME", "IMAGE(S)", "HOST", "LABELS", "STATUS", "CREATED"]
    assert row.split()[1:5] == ["python:3", "cli-node", "name=web", "Running"] and row.endswith(("ago", "just now"))
    assert "\x1b[" not in r.out
    r = up.pyb("list", "replicationcontrollers")
    assert r.out.splitlines()[0].split() == ["NAME", "IMAGE(S)", "SELECTOR", "REPLICAS", "CREATED"]
    assert r.out.splitlines()[1].split()[:4] == ["web", "python:3", "name=web", "1/1"]
    r = up.pyb("list", "services", "-l", "name=web")
    assert r.out.splitlines()[0].split() == ["NAME", "LABELS", "SELECTOR", "IP", "PORT", "CREATED"]
    assert "8080/TCP" in r.out
    r = up.pyb("list", "minions")
    assert r.out.splitlines()[1].split()[0] == "cli-node" and "Ready" in r.out
    assert up.pyb("list", "pods", "-l", "name=nothing").err.startswith("No pods found")

    # One object, every format.
    name = pod["metadata"]["name"]
    assert json.loads(up.pyb("get", f"pods/{name}", "-o", "json").out)["metadata"]["name"] == name
    assert yaml.safe_load(up.pyb("get", "pod", name, "-o", "yaml").out)["spec"]["nodeName"] == "cli-node"
    r = up.pyb("list", "pods", "-o", "template={{.metadata.name}} {{.spec.nodeName}} {{.status.nope}}")
    assert r.out == f"{name} cli-node <none>\n"
    assert up.pyb("get", "rc/web", "-o", "template={{.spec.replicas}}").out == "1\n"
    assert up.pyb("list", "pods", "-o", "xml").code == 2

    r = up.pyb("logs", name)
    assert r.code == 0 and '"GET / HTTP/1.1" 200' in r.out
    r = up.pyb("logs", name, "--tail", "1")
    assert len(r.out.splitlines()) == 1


def test_create_update_delete_from_files(up, tmp_path):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}
    f = tmp_path / "cm.yaml"
    f.write_text(yaml.safe_dump(cm))
    r = up.pyb("create", "-c", str(f))
    assert (r.code, r.out) == (0, "configmaps/settings created\n"), r.err
    assert up.pyb("create", "-c", str(f)).code == 1  # AlreadyExists
    cm["data"]["a"] = "2"
    r = up.pyb("update", "-c", "-", stdin=json.dumps(cm))
    assert (r.code, r.out) == (0, "configmaps/settings updated\n"), r.err
    assert up.pyb("get", "configmaps/settings", "-o", "template={{.data.a}}").out == "2\n"
    r = up.pyb("delete", "configmaps/settings")
    assert (r.code, r.out) == (0, "configmaps/settings deleted\n")
    r = up.pyb("get", "configmaps/settings")
    assert r.code == 1 and 'configmaps "settings" not found' in r.err


def test_resize_stop_rm(up):
    assert up.pyb("run", "sleeper", "1", "sleepy", "--", "sleep", "3600").code == 0
    _running(up, "name=sleepy", 1)
    r = up.pyb("resize", "sleepy", "3")
    assert r.code == 0 and "resized to 3" in r.out
    _running(up, "name=sleepy", 3)
    r = up.pyb("rm", "sleepy")
    assert r.code == 2 and "pyb stop sleepy" in r.err  # refuses while it has replicas
    r = up.pyb("stop", "sleepy")
    assert r.code == 0, r.err
    assert "replicationcontrollers/sleepy stopped" in r.out
    assert "0 pods left" in r.err  # the progress display's last line, plain in a pipe
    assert _pods(up, "name=sleepy") == []
    assert up.pyb("rm", "sleepy").code == 0
    assert up.pyb("get", "rc/sleepy").code == 1


def test_rollingupdate_replaces_pods_one_at_a_time(up):
    assert up.pyb("run", "img:v1", "2", "roll", "--", "sleep", "3600").code == 0
    before = {p["metadata"]["name"] for p in _running(up, "name=roll", 2)}
    r = up.pyb("rollingupdate", "roll", "--image", "img:v2", "--update-period", "0s", "--timeout", "60s")
    assert r.code == 0, r.err
    assert "updated to img:v2" in r.out and "2/2 pods replaced" in r.err
    after = _running(up, "name=roll", 2)
    assert {p["spec"]["containers"][0]["image"] for p in after} == {"img:v2"}
    assert not before & {p["metadata"]["name"] for p in after}


def test_rollingupdate_aborts_cleanly_when_a_new_pod_fails(up, tmp_path):
    assert up.pyb("run", "img:v1", "2", "shaky", "--", "sleep", "3600").code == 0
    old = {p["metadata"]["name"] for p in _running(up, "name=shaky", 2)}
    rc = json.loads(up.pyb("get", "rc/shaky", "-o", "json").out)
    rc["spec"]["template"]["spec"]["containers"][0]["command"] = ["sh", "-c", "exit 3"]
    assert up.pyb("update", "-c", "-", stdin=json.dumps(rc)).code == 0
    r = up.pyb("rollingupdate", "shaky", "--update-period", "0s", "--timeout", "40s")
    assert r.code == 1
    assert "rolling update of shaky aborted" in r.err and "0 of 2 pods were replaced" in r.err
    # Only the first old pod was touched; the other keeps running.
    names = {p["metadata"]["name"] for p in _pods(up, "name=shaky") if p["status"].get("phase") == "Running"
             and p["spec"]["containers"][0]["command"] == ["sleep", "3600"]}
    assert len(names & old) == 1


def test_logs_follow_until_the_container_ends(up):
    assert up.pyb("run", "busybox", "1", "talker", "--", "sh", "-c", "echo one; sleep 1; echo two; sleep 2").code == 0
    [pod] = _running(up, "name=talker", 1)
    r = up.pyb("logs", "-f", pod["metadata"]["name"], timeout=60)
    assert r.code == 0, r.err
    assert r.out.splitlines()[:2] == ["one", "two"]
