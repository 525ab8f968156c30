"""A real kubelet against a real apiserver: pods run as processes."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
from pathlib import Path

import pytest

from pybernetes.client import errors

from .conftest import wait_for

pytestmark = pytest.mark.timeout(120)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def pod(name, containers, *, node="node-1", **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": containers, **spec}}


def sh(name, script, **extra):
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


async def get(client, name):
    return await client.pods("default").get(name)


def cstatus(p, name=None):
    statuses = (p.get("status") or {}).get("containerStatuses") or []
    for s in statuses:
        if name is None or s["name"] == name:
            return s
    return None


def condition(p, ctype):
    for c in (p.get("status") or {}).get("conditions") or ():
        if c["type"] == ctype:
            return c["status"]
    return None


async def phase_is(client, name, phase):
    p = await get(client, name)
    return p if p.get("status", {}).get("phase") == phase else None


async def events_for(client, name):
    evs = (await client.events("default").list())["items"]
    return [(e["reason"], e["message"]) for e in evs if e["involvedObject"]["name"] == name]


async def test_node_registered_with_lease(client, start_kubelet):
    start_kubelet("node-1", "--node-labels", "zone=a,disk=ssd", "--register-with-taints",
                  "dedicated=infra:NoSchedule", "--max-pods", "7")
    node = await client.nodes().get("node-1")
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "node-1"
    assert labels["kubernetes.io/os"] == "linux" and labels["kubernetes.io/arch"]
    assert labels["zone"] == "a" and labels["disk"] == "ssd"
    assert node["spec"]["taints"] == [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]
    st = node["status"]
    assert st["capacity"]["pods"] == "7" and int(st["capacity"]["cpu"]) >= 1
    assert st["capacity"]["memory"].endswith("Ki")
    assert st["nodeInfo"]["containerRuntimeVersion"].startswith("process://")
    assert st["nodeInfo"]["kubeletVersion"].startswith("v1.")
    assert st["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0
    assert {a["type"] for a in st["addresses"]} >= {"InternalIP", "Hostname"}
    assert condition(node, "Ready") == "True"
    leases = client.resource("coordination.k8s.io", "v1", "leases", "kube-node-lease")
    lease = await leases.get("node-1")
    first = lease["spec"]["renewTime"]
    assert lease["spec"]["holderIdentity"] == "node-1"
    await wait_for(lambda: _renewed(leases, first), timeout=10, what="lease renewal")


async def _renewed(leases, first):
    return (await leases.get("node-1"))["spec"]["renewTime"] != first


async def test_pod_runs_to_succeeded_with_statuses(client, kubelet):
    await client.pods("default").create(pod("ok", [sh("main", "echo hi; sleep 2")], restartPolicy="Never"))
    p = await wait_for(lambda: phase_is(client, "ok", "Running"), what="Running")
    s = cstatus(p)
    assert s["state"]["running"]["startedAt"] and s["ready"] is True and s["restartCount"] == 0
    assert s["imageID"] == "process://busybox" and s["containerID"].startswith("process://")
    assert condition(p, "Ready") == "True" and condition(p, "Initialized") == "True"
    assert p["status"]["podIP"] and p["status"]["hostIP"] and p["status"]["startTime"]
    p = await wait_for(lambda: phase_is(client, "ok", "Succeeded"), what="Succeeded")
    term = cstatus(p)["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert condition(p, "Ready") == "False"
    reasons = [r for r, _ in await events_for(client, "ok")]
    assert {"Pulled", "Created", "Started"} <= set(reasons)


async def test_failed_pod_and_init_containers_in_order(client, kubelet, tmp_path):
    (tmp_path / "d").mkdir()
    await client.pods("default").create(pod(
        "init", [sh("main", "cat /d/order; exit 3")], restartPolicy="Never",
        initContainers=[sh("one", "echo one >> /d/order", volumeMounts=[{"name": "d", "mountPath": "/d"}]),
                        sh("two", "echo two >> /d/order", volumeMounts=[{"name": "d", "mountPath": "/d"}])],
        volumes=[{"name": "d", "hostPath": {"path": str(tmp_path / "d")}}]))
    p = await wait_for(lambda: phase_is(client, "init", "Failed"), what="Failed")
    assert (tmp_path / "d" / "order").read_text() == "one\ntwo\n"
    assert [s["state"]["terminated"]["reason"] for s in p["status"]["initContainerStatuses"]] == \
        ["Completed", "Completed"]
    term = cstatus(p)["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"


async def test_env_envfrom_and_service_links(client, kubelet, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    await client.config_maps("default").create({"metadata": {"name": "cfg"}, "data": {"COLOR": "blue", "SIZE": "L"}})
    await client.secrets("default").create({"metadata": {"name": "sec"},
                                            "data": {"PASSWORD": base64.b64encode(b"s3cret").decode()}})
    await client.services("default").create({"metadata": {"name": "my-db"}, "spec": {
        "ports": [{"name": "sql", "port": 5432}], "selector": {"app": "db"}}})
    c = sh("main", "env > /out/env", volumeMounts=[{"name": "out", "mountPath": "/out"}],
           resources={"limits": {"memory": "64Mi"}},
           env=[{"name": "PLAIN", "value": "x-$(COLOR)"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                     "divisor": "1Mi"}}},
                {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "SIZE"}}},
                {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "PASSWORD"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "POD_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}],
           envFrom=[{"configMapRef": {"name": "cfg"}}, {"prefix": "S_", "secretRef": {"name": "sec"}}])
    await client.pods("default").create(pod("env", [c], restartPolicy="Never",
                                            volumes=[{"name": "out", "hostPath": {"path": str(out)}}]))
    p = await wait_for(lambda: phase_is(client, "env", "Succeeded"), what="Succeeded")
    env = dict(line.split("=", 1) for line in (out / "env").read_text().splitlines() if "=" in line)
    # The pod's first and only start: its IPs are known before the status that holds them is written.
    assert env["POD_IP"] == p["status"]["podIP"] != "" and env["POD_IPS"] == env["POD_IP"]
    assert env["HOST_IP"] == p["status"]["hostIP"] != ""
    assert env["PLAIN"] == "x-blue" and env["POD_NAME"] == "env" and env["NODE"] == "node-1"
    assert env["MEM_MI"] == "64" and env["FROM_CM"] == "L" and env["FROM_SECRET"] == "s3cret"
    assert env["COLOR"] == "blue" and env["S_PASSWORD"] == "s3cret"
    svc = await client.services("default").get("my-db")
    assert env["MY_DB_SERVICE_HOST"] == svc["spec"]["clusterIP"]
    assert env["MY_DB_SERVICE_PORT"] == "5432" and env["MY_DB_SERVICE_PORT_SQL"] == "5432"


async def test_missing_configmap_is_create_container_config_error(client, kubelet):
    c = sh("main", "true", env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}])
    await client.pods("default").create(pod("cfgerr", [c]))

    async def waiting():
        s = cstatus(await get(client, "cfgerr"))
        return s and (s["state"].get("waiting") or {}).get("reason") == "CreateContainerConfigError" and s

    s = await wait_for(waiting, what="CreateContainerConfigError")
    assert s["state"]["waiting"]["message"] == 'configmap "nope" not found'
    assert (await get(client, "cfgerr"))["status"]["phase"] == "Pending"


async def test_restart_policy_and_crash_loop_backoff(client, kubelet):
    await client.pods("default").create(pod("crash", [sh("main", "echo crashing; exit 1")]))

    async def backing_off():
        p = await get(client, "crash")
        s = cstatus(p)
        return s and (s["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff" and p

    p = await wait_for(backing_off, what="CrashLoopBackOff")
    s = cstatus(p)
    assert s["restartCount"] >= 1
    assert s["lastState"]["terminated"]["exitCode"] == 1
    assert s["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=main pod=crash_default(")
    assert p["status"]["phase"] == "Running"
    out = await asyncio.to_thread(
        subprocess.run, ["kubectl", "--kubeconfig", str(kubelet.kubeconfig), "get", "pod", "crash"],
        capture_output=True, text=True, env={**os.environ, "KUBECACHEDIR": str(kubelet.root_dir.parent / "kc")})
    assert "CrashLoopBackOff" in out.stdout, out.stdout + out.stderr
    assert ("BackOff", f"Back-off restarting failed container main in pod crash_default({p['metadata']['uid']})") \
        in await events_for(client, "crash")
    # OnFailure: a success ends it.
    await client.pods("default").create(pod("onfail", [sh("main", "exit 0")], restartPolicy="OnFailure"))
    p = await wait_for(lambda: phase_is(client, "onfail", "Succeeded"), what="Succeeded")
    assert cstatus(p)["restartCount"] == 0


async def test_killed_container_process_is_restarted(client, kubelet):
    await client.pods("default").create(pod("victim", [sh("main", "exec sleep 1000")]))
    p = await wait_for(lambda: phase_is(client, "victim", "Running"), what="Running")
    cid = cstatus(p)["containerID"].split("://")[1]
    pid = int(next(kubelet.root_dir.glob("containers/*/main_0/pid")).read_text())
    assert _alive(pid) and cid
    os.kill(pid, signal.SIGKILL)

    async def restarted():
        s = cstatus(await get(client, "victim"))
        return s["restartCount"] == 1 and "running" in s["state"] and s

    s = await wait_for(restarted, what="restart")
    assert s["lastState"]["terminated"]["exitCode"] == 137
    assert s["containerID"] != cstatus(p)["containerID"]


async def test_graceful_deletion_delivers_sigterm(client, kubelet, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    script = "trap 'echo got TERM > /d/term; exit 0' TERM; echo started > /d/started; while :; do sleep 0.1; done"
    await client.pods("default").create(pod(
        "graceful", [sh("main", script, volumeMounts=[{"name": "d", "mountPath": "/d"}])],
        terminationGracePeriodSeconds=20, volumes=[{"name": "d", "hostPath": {"path": str(d)}}]))
    await wait_for(lambda: (d / "started").exists(), what="container start")
    await client.pods("default").delete("graceful")
    marked = await get(client, "graceful")
    assert marked["metadata"]["deletionTimestamp"]

    async def gone():
        try:
            await get(client, "graceful")
        except errors.NotFound:
            return True
        return False

    await wait_for(gone, what="pod removed after the kubelet confirmed")
    assert (d / "term").read_text() == "got TERM\n"
    assert not list(kubelet.root_dir.glob("containers/*/main_*"))
    assert (await events_for(client, "graceful")).count(("Killing", "Stopping container main")) == 1


async def test_kubelet_restart_adopts_running_containers(client, start_kubelet, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    script = "if [ -f /d/once ]; then exec sleep 1000; else touch /d/once; exit 1; fi"
    k = start_kubelet()
    await client.pods("default").create(pod("adopt", [sh("main", script, volumeMounts=[
        {"name": "d", "mountPath": "/d"}])], volumes=[{"name": "d", "hostPath": {"path": str(d)}}]))

    async def running_once_restarted():
        p = await get(client, "adopt")
        s = cstatus(p)
        return s and s["restartCount"] == 1 and "running" in s["state"] and p

    p = await wait_for(running_once_restarted, what="running after one restart")
    before = cstatus(p)
    pid = int(next(k.root_dir.glob("containers/*/main_1/pid")).read_text())
    k.stop()
    k2 = start_kubelet(root=k.root_dir)
    assert "adopted container" in k2.log_path.read_text()
    # A new pod works too, and the adopted one keeps its process and counts.
    await client.pods("default").create(pod("after", [sh("main", "true")], restartPolicy="Never"))
    await wait_for(lambda: phase_is(client, "after", "Succeeded"), what="new pod after restart")
    p = await get(client, "adopt")
    after = cstatus(p)
    assert after["containerID"] == before["containerID"] and after["restartCount"] == 1
    assert after["state"]["running"]["startedAt"] == before["state"]["running"]["startedAt"]
    assert _alive(pid)
    # Deleted while no kubelet ran: the next kubelet cleans up.
    k2.stop()
    await client.pods("default").delete("adopt", grace_period_seconds=0)
    start_kubelet(root=k.root_dir)
    await wait_for(lambda: not _alive(pid), what="orphan container stopped")
