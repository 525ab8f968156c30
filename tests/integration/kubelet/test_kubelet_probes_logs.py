"""Probes, logs through the apiserver (kubectl logs), static pods, hostPort."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from pybernetes.client import errors

from .conftest import KUBELET_TOKEN, wait_for
from .test_kubelet_pods import condition, cstatus, events_for, get, phase_is, pod, sh

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_liveness_failure_restarts_container(client, kubelet, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "healthy").write_text("yes")
    c = sh("main", "exec sleep 1000", volumeMounts=[{"name": "d", "mountPath": "/d"}],
           livenessProbe={"exec": {"command": ["cat", "/d/healthy"]}, "periodSeconds": 1, "failureThreshold": 2})
    await client.pods("default").create(pod("live", [c], volumes=[{"name": "d", "hostPath": {"path": str(d)}}]))
    await wait_for(lambda: phase_is(client, "live", "Running"), what="Running")
    (d / "healthy").unlink()

    async def restarted():
        s = cstatus(await get(client, "live"))
        return s["restartCount"] >= 1 and s

    s = await wait_for(restarted, what="liveness restart")
    assert s["lastState"]["terminated"]["exitCode"] == 137 or s["lastState"]["terminated"]["exitCode"] == 143
    evs = await events_for(client, "live")
    unhealthy = [m for r, m in evs if r == "Unhealthy"]
    assert unhealthy and unhealthy[0].startswith("Liveness probe failed: cat: /d/healthy: No such file")
    assert ("Killing", "Container main failed liveness probe, will be restarted") in evs
    # Still failing: the next restart waits (CrashLoopBackOff).

    async def backing_off():
        s = cstatus(await get(client, "live"))
        return (s["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff"

    await wait_for(backing_off, timeout=30, what="CrashLoopBackOff after repeated liveness failures")


async def test_readiness_toggles_ready(client, kubelet, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    port = _free_port()
    c = sh("main", f"cd /d && exec python3 -m http.server {port} --bind 127.0.0.1",
           volumeMounts=[{"name": "d", "mountPath": "/d"}],
           readinessProbe={"httpGet": {"path": "/ready", "port": port}, "periodSeconds": 1})
    c2 = sh("side", "exec sleep 1000", readinessProbe={"exec": {"command": ["cat", "/d/ready"]}, "periodSeconds": 1},
            volumeMounts=[{"name": "d", "mountPath": "/d"}])
    c3 = sh("tcp", "exec sleep 1000", readinessProbe={"tcpSocket": {"port": port}, "periodSeconds": 1})
    await client.pods("default").create(pod("ready", [c, c2, c3],
                                            volumes=[{"name": "d", "hostPath": {"path": str(d)}}]))
    p = await wait_for(lambda: phase_is(client, "ready", "Running"), what="Running")
    assert condition(p, "Ready") == "False"

    async def ready_is(value):
        p = await get(client, "ready")
        return condition(p, "Ready") == value and p

    (d / "ready").write_text("ok")
    p = await wait_for(lambda: ready_is("True"), what="Ready=True")
    assert all(s["ready"] for s in p["status"]["containerStatuses"])
    (d / "ready").unlink()
    p = await wait_for(lambda: ready_is("False"), what="Ready=False")

    async def both_unready():
        # Each container's probes keep their own period: the second may flip a period later.
        p = await get(client, "ready")
        return not any(s["ready"] for s in p["status"]["containerStatuses"] if s["name"] != "tcp") and p

    p = await wait_for(both_unready, what="main and side unready")
    cond = next(c for c in p["status"]["conditions"] if c["type"] == "Ready")
    assert cond["reason"] == "ContainersNotReady"
    assert cond["message"] == "containers with unready status: [main side]"


def _kubectl(server, *args, env_dir):
    return subprocess.run(["kubectl", "--kubeconfig", str(server.kubeconfig), *args], capture_output=True,
                          text=True, timeout=30, env={**os.environ, "KUBECACHEDIR": str(env_dir)})


async def test_kubectl_logs_through_the_apiserver(client, kubelet, logs_apiserver, tmp_path):
    # First run: 200 lines then exit 1; the restart (OnFailure) prints one line and succeeds.
    script = ("if [ -f /s/ran ]; then echo second run; exit 0; fi; touch /s/ran; "
              "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); sleep 0.05; done; exit 1")
    await client.pods("default").create(pod(
        "talk", [sh("main", script, volumeMounts=[{"name": "s", "mountPath": "/s"}]),
                 sh("other", "echo other; exec sleep 1000")],
        restartPolicy="OnFailure", volumes=[{"name": "s", "emptyDir": {}}]))
    await wait_for(lambda: phase_is(client, "talk", "Running"), what="Running")
    kc = tmp_path / "kc"
    out = await asyncio.to_thread(_kubectl, logs_apiserver, "logs", "talk", "-c", "main", "--previous",
                                  env_dir=kc)
    assert 'previous terminated container "main" in pod "talk" not found' in out.stderr
    # -f streams: lines arrive while the container is still writing, and it ends with the container.
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(logs_apiserver.kubeconfig), "logs", "-f", "talk", "-c", "main",
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "KUBECACHEDIR": str(kc)})
    first = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert first == b"line 0\n"
    second = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert second == b"line 1\n"
    p = await get(client, "talk")
    assert "running" in cstatus(p, "main")["state"]  # still writing when we read
    rest = await asyncio.wait_for(proc.stdout.read(), 40)
    assert rest.decode().splitlines()[-1] == "line 199"
    await proc.wait()

    async def second_run_done():
        s = cstatus(await get(client, "talk"), "main")
        return s["restartCount"] == 1 and "terminated" in s["state"]

    await wait_for(second_run_done, timeout=30, what="the second run of main")
    out = await asyncio.to_thread(_kubectl, logs_apiserver, "logs", "talk", "-c", "main", env_dir=kc)
    assert out.stdout == "second run\n", out.stderr
    out = await asyncio.to_thread(_kubectl, logs_apiserver, "logs", "talk", "-c", "main", "-p", "--tail", "2",
                                  env_dir=kc)
    assert out.stdout == "line 198\nline 199\n", out.stderr
    out = await asyncio.to_thread(_kubectl, logs_apiserver, "logs", "talk", "-c", "main", "-p", "--timestamps",
                                  "--tail", "1", env_dir=kc)
    ts, _, text = out.stdout.partition(" ")
    assert text == "line 199\n" and ts.endswith("Z") and "T" in ts
    out = await asyncio.to_thread(_kubectl, logs_apiserver, "logs", "talk", env_dir=kc)
    assert out.stdout == "second run\n" and 'Defaulted container "main"' in out.stderr
    with pytest.raises(errors.BadRequest, match=r"a container name must be specified for pod talk, "
                                                r"choose one of: \[main other\]"):
        await client.pods("default").log("talk")
    out = await asyncio.to_thread(_kubectl, logs_apiserver, "logs", "talk", "-c", "nope", env_dir=kc)
    assert "container nope is not valid for pod talk" in out.stderr


async def test_log_server_refuses_anonymous_and_wrong_tokens(kubelet):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    base = f"https://127.0.0.1:{kubelet.port}"

    def fetch(path, token=None):
        req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"} if token else {})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    assert (await asyncio.to_thread(fetch, "/pods"))[0] == 401
    assert (await asyncio.to_thread(fetch, "/pods", "wrong"))[0] == 401
    assert (await asyncio.to_thread(fetch, "/containerLogs/default/x/y"))[0] == 401
    code, body = await asyncio.to_thread(fetch, "/pods", KUBELET_TOKEN)
    assert code == 200 and json.loads(body)["kind"] == "PodList"
    assert (await asyncio.to_thread(fetch, "/healthz"))[0] == 200


async def test_static_pod_runs_with_a_mirror(client, start_kubelet, tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "web.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: kube-system\n"
        "spec:\n  containers:\n  - name: main\n    image: busybox\n    command: [sh, -c, 'echo static; exec sleep 1000']\n")
    start_kubelet("node-1", "--pod-manifest-path", str(manifests))

    async def mirror_running():
        try:
            p = await client.pods("kube-system").get("web-node-1")
        except Exception:  # noqa: BLE001 - not created yet
            return None
        return p if (p.get("status") or {}).get("phase") == "Running" else None

    p = await wait_for(mirror_running, timeout=30, what="mirror pod Running")
    ann = p["metadata"]["annotations"]
    assert ann["kubernetes.io/config.source"] == "file" and ann["kubernetes.io/config.mirror"]
    assert p["metadata"]["ownerReferences"][0]["kind"] == "Node"
    assert await client.pods("kube-system").log("web-node-1") == "static\n"
    (manifests / "web.yaml").unlink()

    async def mirror_gone():
        try:
            await client.pods("kube-system").get("web-node-1")
        except Exception:  # noqa: BLE001
            return True
        return False

    await wait_for(mirror_gone, timeout=30, what="mirror pod removed")


async def test_host_port_forwards_to_container_port(client, kubelet, tmp_path):
    (tmp_path / "index.html").write_text("hello from the pod\n")
    cport, hport = _free_port(), _free_port()
    c = sh("web", f"cd /site && exec python3 -m http.server {cport} --bind 127.0.0.1",
           ports=[{"containerPort": cport, "hostPort": hport}],
           volumeMounts=[{"name": "site", "mountPath": "/site"}])
    await client.pods("default").create(pod("web", [c], volumes=[{"name": "site", "hostPath": {"path": str(tmp_path)}}]))
    await wait_for(lambda: phase_is(client, "web", "Running"), what="Running")

    def fetch():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{hport}/index.html", timeout=2) as r:
                return r.read()
        except OSError:
            return None

    body = await wait_for(lambda: asyncio.to_thread(fetch), what="hostPort answer")
    assert body == b"hello from the pod\n"
