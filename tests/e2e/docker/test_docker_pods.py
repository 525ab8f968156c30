"""The kubelet's pod behaviour on the `docker` runtime, against real Podman
containers: lifecycle and statuses, env, volumes (gitRepo included),
restart/backoff, probes, logs, graceful deletion, kubelet restart."""

from __future__ import annotations

import subprocess

import pytest

from pybernetes.client import errors
from tests.integration.kubelet.test_kubelet_pods import (
    condition,
    cstatus,
    events_for,
    get,
    phase_is,
)
from tests.integration.kubelet.test_kubelet_volumes import make_repo

from .conftest import BUSYBOX, wait_for

pytestmark = pytest.mark.timeout(180)


def pod(name, containers, *, node="node-1", **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": containers, **spec}}


def sh(name, script, **extra):
    return {"name": name, "image": BUSYBOX, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", script],
            **extra}


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True).stdout


def pod_containers(uid: str) -> list[str]:
    """Names of the engine's containers (any state) labelled with the pod's uid."""
    out = podman("ps", "-a", "--filter", f"label=io.kubernetes.pod.uid={uid}", "--format", "{{.Names}}")
    return sorted(out.split())


async def logs(client, name, container=None, **kw) -> str:
    return await client.pods("default").log(name, container=container, **kw)


async def test_lifecycle_statuses_names_and_labels(client, kubelet):
    await client.pods("default").create(pod(
        "life", [sh("main", "echo main ran; cat /init/done")], restartPolicy="Never",
        initContainers=[sh("setup", "echo init > /init/done", volumeMounts=[{"name": "i", "mountPath": "/init"}])],
        volumes=[{"name": "i", "emptyDir": {}}]))
    p = await wait_for(lambda: phase_is(client, "life", "Failed") or phase_is(client, "life", "Succeeded"),
                       timeout=60, what="a terminal phase")
    s = cstatus(p)
    # main has no /init mount: cat fails, so the pod fails — with real exit codes from the engine.
    assert p["status"]["phase"] == "Failed" and s["state"]["terminated"]["exitCode"] == 1
    assert s["state"]["terminated"]["reason"] == "Error"
    assert s["containerID"].startswith("docker://") and len(s["containerID"]) == len("docker://") + 64
    assert s["imageID"].startswith("docker://") and "@sha256:" in s["imageID"]
    init = p["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["exitCode"] == 0 and init["state"]["terminated"]["reason"] == "Completed"
    assert p["status"]["podIP"] and p["status"]["podIP"] != p["status"]["hostIP"]
    uid = p["metadata"]["uid"]
    assert pod_containers(uid) == sorted([f"k8s_POD_life_default_{uid}_0", f"k8s_main_life_default_{uid}_0",
                                          f"k8s_setup_life_default_{uid}_0"])
    labels = podman("inspect", "--format", "{{json .Config.Labels}}", f"k8s_main_life_default_{uid}_0")
    for want in ('"io.kubernetes.pod.uid":"' + uid, '"io.kubernetes.pod.namespace":"default"',
                 '"io.kubernetes.pod.name":"life"', '"io.kubernetes.container.name":"main"',
                 '"io.kubernetes.container.restartCount":"0"'):
        assert want in labels
    # stdout and stderr are separate streams: their lines may interleave either way
    main_log = (await logs(client, "life", "main")).splitlines()
    assert "main ran" in main_log and main_log.index("main ran") <= 1
    assert await logs(client, "life", "setup") == ""


async def test_env_workdir_command_args_and_image_defaults(client, kubelet):
    await client.config_maps("default").create({"metadata": {"name": "envcm"}, "data": {"FROM_CM": "cm-value"}})
    c = {"name": "main", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent", "workingDir": "/tmp",
         "command": ["sh", "-c"], "args": ["echo \"$GREETING $(NAME) $FROM_CM $POD_NAME $PWD\""],
         "env": [{"name": "GREETING", "value": "hello"}, {"name": "NAME", "value": "world"},
                 {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
         "envFrom": [{"configMapRef": {"name": "envcm"}}]}
    await client.pods("default").create(pod("env", [c], restartPolicy="Never"))
    p = await wait_for(lambda: phase_is(client, "env", "Succeeded"), timeout=60, what="Succeeded")
    assert await logs(client, "env") == "hello world cm-value env /tmp\n"
    assert cstatus(p)["state"]["terminated"]["exitCode"] == 0


async def test_image_entrypoint_and_cmd_run_when_the_pod_gives_none(client, kubelet):
    # busybox's CMD is `sh`; with stdin closed it exits 0.
    bare = {"name": "bare", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent"}
    await client.pods("default").create(pod("bare", [bare], restartPolicy="Never"))
    p = await wait_for(lambda: phase_is(client, "bare", "Succeeded") or phase_is(client, "bare", "Failed"),
                       timeout=30, what="terminal")
    assert p["status"]["phase"] == "Succeeded", p["status"]


async def test_volumes_including_git_repo_subpath_and_read_only(client, kubelet, tmp_path):
    repo = tmp_path / "repo"
    first, _second = make_repo(repo)
    await client.config_maps("default").create({"metadata": {"name": "cfg"}, "data": {"app.conf": "color=blue\n"}})
    script = "; ".join([
        "cat /git/version", "cat /cfg/app.conf", "cat /etc/app.conf",
        "echo shared > /scratch/file",
        "{ echo no > /ro/x; } 2>/dev/null || echo readonly",
        "cat /host/greeting",
    ])
    host = tmp_path / "host"
    host.mkdir()
    (host / "greeting").write_text("from host\n")
    mounts = [{"name": "git", "mountPath": "/git"}, {"name": "cfg", "mountPath": "/cfg"},
              {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "app.conf"},
              {"name": "scratch", "mountPath": "/scratch"},
              {"name": "scratch", "mountPath": "/ro", "readOnly": True},
              {"name": "host", "mountPath": "/host", "readOnly": True}]
    reader = sh("reader", "until [ -f /scratch/file ]; do sleep 0.1; done; cat /scratch/file",
                volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}])
    await client.pods("default").create(pod(
        "vols", [sh("main", script, volumeMounts=mounts), reader], restartPolicy="Never", volumes=[
            {"name": "git", "gitRepo": {"repository": str(repo), "revision": first, "directory": "."}},
            {"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "scratch", "emptyDir": {}},
            {"name": "host", "hostPath": {"path": str(host)}}]))
    await wait_for(lambda: phase_is(client, "vols", "Succeeded"), timeout=60, what="Succeeded")
    assert await logs(client, "vols", "main") == "one\ncolor=blue\ncolor=blue\nreadonly\nfrom host\n"
    assert await logs(client, "vols", "reader") == "shared\n"


async def test_crash_loop_backoff_and_restart_after_kill(client, kubelet):
    await client.pods("default").create(pod("crash", [sh("main", "echo crashing; exit 3")]))

    async def backing_off():
        p = await get(client, "crash")
        s = cstatus(p)
        return s and (s["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff" and p

    p = await wait_for(backing_off, timeout=60, what="CrashLoopBackOff")
    s = cstatus(p)
    assert s["restartCount"] >= 1 and s["lastState"]["terminated"]["exitCode"] == 3
    assert s["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=main pod=crash_")
    uid = p["metadata"]["uid"]
    # Killed from outside (the engine's kill): restarted, lastState shows SIGKILL's 137.
    await client.pods("default").create(pod("victim", [sh("main", "exec sleep 1000")]))
    p = await wait_for(lambda: phase_is(client, "victim", "Running"), timeout=60, what="Running")
    first_id = cstatus(p)["containerID"].split("://")[1]
    podman("kill", first_id)

    async def restarted():
        s = cstatus(await get(client, "victim"))
        return s["restartCount"] == 1 and "running" in s["state"] and s

    s = await wait_for(restarted, timeout=60, what="restart")
    assert s["lastState"]["terminated"]["exitCode"] == 137
    assert s["containerID"].split("://")[1] != first_id
    # Attempts are kept at two per container (current + previous): no pile-up in the engine.
    assert len([n for n in pod_containers(uid) if n.startswith("k8s_main_")]) <= 2


async def test_probes_exec_liveness_restarts_and_http_readiness_on_pod_ip(client, kubelet):
    live = sh("live", "touch /tmp/healthy; sleep 3; rm /tmp/healthy; exec sleep 1000",
              livenessProbe={"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1,
                             "failureThreshold": 1})
    web = sh("web", "mkdir -p /w; echo ok > /w/ready; exec httpd -f -p 8080 -h /w",
             readinessProbe={"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1})
    await client.pods("default").create(pod("probed", [live, web]))

    async def restarted_by_liveness():
        p = await get(client, "probed")
        s = cstatus(p, "live")
        return s and s["restartCount"] >= 1 and p

    await wait_for(restarted_by_liveness, timeout=60, what="liveness restart")
    assert any(r == "Unhealthy" and m.startswith("Liveness probe failed") for r, m in await events_for(client, "probed"))

    async def web_ready():
        p = await get(client, "probed")
        return (cstatus(p, "web") or {}).get("ready") and p

    await wait_for(web_ready, timeout=30, what="web ready (httpGet on the pod IP)")


async def test_logs_follow_and_previous(client, kubelet):
    script = ("if [ -f /s/ran ]; then echo second run; exit 0; fi; touch /s/ran; "
              "i=0; while [ $i -lt 30 ]; do echo line $i; i=$((i+1)); sleep 0.05; done; echo to-stderr >&2; exit 1")
    await client.pods("default").create(pod(
        "talk", [sh("main", script, volumeMounts=[{"name": "s", "mountPath": "/s"}])],
        restartPolicy="OnFailure", volumes=[{"name": "s", "emptyDir": {}}]))
    await wait_for(lambda: phase_is(client, "talk", "Running"), timeout=60, what="Running")
    lines = []
    async for line in client.pods("default").log("talk", follow=True):
        lines.append(line)
    assert lines[0] == "line 0\n" and "line 29\n" in lines and lines[-1] == "to-stderr\n"

    async def second_run_done():
        s = cstatus(await get(client, "talk"))
        return s["restartCount"] == 1 and "terminated" in s["state"]

    await wait_for(second_run_done, timeout=40, what="the second run")
    assert await logs(client, "talk") == "second run\n"
    prev = await logs(client, "talk", previous=True)
    assert prev.splitlines()[0] == "line 0" and prev.splitlines()[-1] == "to-stderr"
    stamped = await logs(client, "talk", previous=True, timestamps=True, tail_lines=1)
    assert stamped.endswith("Z to-stderr\n")


async def test_graceful_deletion_stops_with_sigterm_and_removes_containers(client, kubelet, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    script = "trap 'echo got TERM > /d/term; exit 0' TERM; echo started > /d/started; while :; do sleep 0.1; done"
    await client.pods("default").create(pod(
        "graceful", [sh("main", script, volumeMounts=[{"name": "d", "mountPath": "/d"}])],
        terminationGracePeriodSeconds=20, volumes=[{"name": "d", "hostPath": {"path": str(d)}}]))
    await wait_for(lambda: (d / "started").exists(), timeout=60, what="container start")
    uid = (await get(client, "graceful"))["metadata"]["uid"]
    await client.pods("default").delete("graceful")

    async def gone():
        try:
            await get(client, "graceful")
        except errors.NotFound:
            return True
        return False

    await wait_for(gone, timeout=40, what="pod removed after the kubelet confirmed")
    assert (d / "term").read_text() == "got TERM\n"
    assert pod_containers(uid) == []
    assert (await events_for(client, "graceful")).count(("Killing", "Stopping container main")) == 1


async def test_kubelet_restart_adopts_containers_without_duplicates(client, start_kubelet):
    k = start_kubelet()
    await client.pods("default").create(pod("adopt", [sh("main", "echo before; exec sleep 1000")]))
    p = await wait_for(lambda: phase_is(client, "adopt", "Running"), timeout=60, what="Running")
    before = cstatus(p)
    uid = p["metadata"]["uid"]
    k.stop()
    k2 = start_kubelet(root=k.root_dir)
    assert "adopted container" in k2.log_path.read_text()
    await client.pods("default").create(pod("after", [sh("main", "true")], restartPolicy="Never"))
    await wait_for(lambda: phase_is(client, "after", "Succeeded"), timeout=60, what="new pod after restart")
    after = cstatus(await get(client, "adopt"))
    assert after["containerID"] == before["containerID"] and after["restartCount"] == 0
    assert after["state"]["running"]["startedAt"] == before["state"]["running"]["startedAt"]
    assert pod_containers(uid) == sorted([f"k8s_POD_adopt_default_{uid}_0", f"k8s_main_adopt_default_{uid}_0"])
    assert await logs(client, "adopt") == "before\n"  # followed again without duplicating lines
    # Deleted while no kubelet ran: the next kubelet removes the pod's containers.
    k2.stop()
    await client.pods("default").delete("adopt", grace_period_seconds=0)
    start_kubelet(root=k.root_dir)
    await wait_for(lambda: pod_containers(uid) == [], timeout=60, what="orphaned containers removed")


async def test_resources_oom_security_and_termination_message(client, kubelet):
    hog = sh("hog", "tail /dev/zero", resources={"limits": {"memory": "16Mi", "cpu": "500m"},
                                                 "requests": {"cpu": "250m"}})
    await client.pods("default").create(pod("oom", [hog], restartPolicy="Never"))
    p = await wait_for(lambda: phase_is(client, "oom", "Failed"), timeout=60, what="Failed")
    term = cstatus(p)["state"]["terminated"]
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137
    uid = p["metadata"]["uid"]
    cfg = podman("inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}} "
                 "{{.HostConfig.CpuShares}}", f"k8s_hog_oom_default_{uid}_0").split()
    assert cfg == [str(16 * 1024 * 1024), "50000", "100000", "256"]

    secure = sh("secure", "id -u; id -g; { touch /x; } 2>/dev/null || echo rootfs read-only; "
                "echo custom message > /tmp/msg; exit 2",
                securityContext={"runAsUser": 65534, "runAsGroup": 65534, "readOnlyRootFilesystem": True,
                                 "capabilities": {"drop": ["ALL"]}},
                terminationMessagePath="/tmp/msg", volumeMounts=[{"name": "t", "mountPath": "/tmp"}])
    await client.pods("default").create(pod("sec", [secure], restartPolicy="Never",
                                            volumes=[{"name": "t", "emptyDir": {}}]))
    p = await wait_for(lambda: phase_is(client, "sec", "Failed"), timeout=60, what="Failed")
    term = cstatus(p)["state"]["terminated"]
    assert term["exitCode"] == 2 and term["message"] == "custom message\n"
    assert await logs(client, "sec") == "65534\n65534\nrootfs read-only\n"
    assert condition(p, "Ready") == "False"


async def test_image_pull_failure_surfaces_with_the_engines_message(client, kubelet):
    c = {"name": "main", "image": "registry.invalid/nosuch/image:1.0", "command": ["true"]}
    await client.pods("default").create(pod("nopull", [c]))

    async def waiting():
        s = cstatus(await get(client, "nopull"))
        w = (s or {}).get("state", {}).get("waiting") or {}
        return w.get("message") and w

    w = await wait_for(waiting, timeout=60, what="a waiting state with a message")
    # The engine's own words reach the pod (no registry is reachable from here).
    assert "registry.invalid" in w["message"]
    assert w["reason"] in ("ErrImagePull", "ImagePullBackOff")

    async def backing_off():
        s = cstatus(await get(client, "nopull"))
        return (s["state"].get("waiting") or {}).get("reason") == "ImagePullBackOff"

    await wait_for(backing_off, timeout=30, what="ImagePullBackOff")
    evs = await events_for(client, "nopull")
    assert any(r == "Failed" and m.startswith('Failed to pull image "registry.invalid/nosuch/image:1.0": ')
               for r, m in evs)
    assert ("BackOff", 'Back-off pulling image "registry.invalid/nosuch/image:1.0"') in evs
    assert (await get(client, "nopull"))["status"]["phase"] == "Pending"


async def test_stopped_infra_container_is_restarted_with_the_pods_containers(client, kubelet):
    await client.pods("default").create(pod("sandboxed", [sh("main", "exec sleep 1000")]))
    p = await wait_for(lambda: phase_is(client, "sandboxed", "Running"), timeout=60, what="Running")
    uid = p["metadata"]["uid"]
    podman("stop", "-t", "0", f"k8s_POD_sandboxed_default_{uid}_0")

    async def recreated():
        p = await get(client, "sandboxed")
        s = cstatus(p)
        return s["restartCount"] == 1 and "running" in s["state"] and p

    p = await wait_for(recreated, timeout=60, what="the container restarted into the restarted sandbox")
    assert podman("inspect", "--format", "{{.State.Running}}", f"k8s_POD_sandboxed_default_{uid}_0").strip() == "true"
    ip = podman("inspect", "--format", "{{.NetworkSettings.IPAddress}}", f"k8s_POD_sandboxed_default_{uid}_0").strip()
    assert p["status"]["podIP"] == ip
