"""Each volume type as seen from inside a container process."""

from __future__ import annotations

import base64
import subprocess

import pytest

from .conftest import wait_for
from .test_kubelet_pods import cstatus, events_for, get, phase_is, pod, sh

pytestmark = pytest.mark.timeout(120)


def _git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@e", "PATH": "/usr/bin:/bin"}).stdout.strip()


def make_repo(path) -> tuple[str, str]:
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "version").write_text("one\n")
    _git(path, "add", "version")
    _git(path, "commit", "-q", "-m", "one")
    first = _git(path, "rev-parse", "HEAD")
    (path / "version").write_text("two\n")
    _git(path, "commit", "-q", "-am", "two")
    return first, _git(path, "rev-parse", "HEAD")


async def test_every_volume_type_inside_the_container(client, kubelet, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    host = tmp_path / "host"
    host.mkdir()
    (host / "greeting").write_text("from host\n")
    repo = tmp_path / "repo"
    first, _second = make_repo(repo)
    await client.config_maps("default").create({"metadata": {"name": "cfg"},
                                                "data": {"app.conf": "color=blue\n", "other": "x"}})
    await client.secrets("default").create({"metadata": {"name": "sec"},
                                            "data": {"token": base64.b64encode(b"t0ken").decode()}})
    script = "; ".join([
        "cat /host/greeting > /out/host",
        "cat /cfg/app.conf > /out/cfg",
        "cat /etc/app.conf > /out/subpath",
        "cat /sec/token > /out/secret; stat -L -c %a /sec/token > /out/secret-mode",
        "cat /info/name > /out/name; cat /info/labels > /out/labels",
        "cat /git/version > /out/git; ls -a /git > /out/git-ls",
        "echo shared > /scratch/file; cat /mem/file 2>/dev/null; echo m > /mem/file; df -t tmpfs /mem > /out/mem",
        "{ echo no > /ro/x; } 2>/dev/null || echo readonly > /out/ro",
        "ls /out > /dev/null",
    ])
    mounts = [{"name": "out", "mountPath": "/out"}, {"name": "host", "mountPath": "/host"},
              {"name": "cfg", "mountPath": "/cfg"},
              {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "app.conf"},
              {"name": "sec", "mountPath": "/sec"}, {"name": "info", "mountPath": "/info"},
              {"name": "git", "mountPath": "/git"}, {"name": "scratch", "mountPath": "/scratch"},
              {"name": "mem", "mountPath": "/mem"}, {"name": "scratch", "mountPath": "/ro", "readOnly": True}]
    reader = sh("reader", "until [ -f /scratch/file ]; do sleep 0.1; done; cat /scratch/file > /out/shared",
                volumeMounts=[{"name": "out", "mountPath": "/out"}, {"name": "scratch", "mountPath": "/scratch"}])
    p = pod("vols", [sh("main", script, volumeMounts=mounts), reader], restartPolicy="Never", volumes=[
        {"name": "out", "hostPath": {"path": str(out), "type": "Directory"}},
        {"name": "host", "hostPath": {"path": str(host)}},
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
        {"name": "info", "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                                                   {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        {"name": "git", "gitRepo": {"repository": str(repo), "revision": first, "directory": "."}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "mem", "emptyDir": {"medium": "Memory"}},
    ])
    p["metadata"]["labels"] = {"app": "vols", "tier": "x"}
    await client.pods("default").create(p)
    done = await wait_for(lambda: phase_is(client, "vols", "Succeeded"), what="Succeeded")
    assert done, cstatus(await get(client, "vols"))
    assert (out / "host").read_text() == "from host\n"
    assert (out / "cfg").read_text() == "color=blue\n"
    assert (out / "subpath").read_text() == "color=blue\n"
    assert (out / "secret").read_text() == "t0ken"
    assert (out / "secret-mode").read_text().strip() == "400"
    assert (out / "name").read_text() == "vols"
    assert (out / "labels").read_text() == 'app="vols"\ntier="x"'
    assert (out / "git").read_text() == "one\n"  # checked out at the first revision
    assert ".git" in (out / "git-ls").read_text().split()
    assert (out / "shared").read_text() == "shared\n"
    assert "tmpfs" in (out / "mem").read_text()
    assert (out / "ro").read_text() == "readonly\n"


async def test_configmap_volume_follows_updates(client, kubelet, tmp_path):
    await client.config_maps("default").create({"metadata": {"name": "live"}, "data": {"k": "v1"}})
    await client.pods("default").create(pod("live", [sh("main", "while :; do cat /c/k; echo; sleep 0.5; done",
                                                        volumeMounts=[{"name": "c", "mountPath": "/c"}])],
                                            volumes=[{"name": "c", "configMap": {"name": "live"}}]))
    await wait_for(lambda: phase_is(client, "live", "Running"), what="Running")
    cm = await client.config_maps("default").get("live")
    cm["data"]["k"] = "v2"
    await client.config_maps("default").update(cm)

    async def sees_v2():
        return "v2" in await client.pods("default").log("live")

    await wait_for(sees_v2, timeout=40, interval=0.5, what="updated configMap inside the container")


async def test_git_repo_failure_is_failed_mount_then_retried(client, kubelet, tmp_path):
    repo = tmp_path / "later"
    await client.pods("default").create(pod(
        "gitfail", [sh("main", "cat /src/version", volumeMounts=[{"name": "src", "mountPath": "/src"}])],
        restartPolicy="Never", volumes=[{"name": "src", "gitRepo": {"repository": str(repo), "directory": "."}}]))

    async def failed_mount():
        evs = await events_for(client, "gitfail")
        return [m for r, m in evs if r == "FailedMount"]

    msgs = await wait_for(failed_mount, what="FailedMount event")
    assert msgs[0].startswith('MountVolume.SetUp failed for volume "src" : failed to exec \'git clone')
    p = await get(client, "gitfail")
    assert p["status"]["phase"] == "Pending"
    assert cstatus(p)["state"]["waiting"]["reason"] == "ContainerCreating"
    # No half-populated volume is left for a container to see.
    assert not list(kubelet.root_dir.glob("pods/*/volumes/kubernetes.io~git-repo/src"))
    make_repo(repo)
    await wait_for(lambda: phase_is(client, "gitfail", "Succeeded"), timeout=60, what="retried mount")
    assert await client.pods("default").log("gitfail") == "two\n"


async def test_hostpath_type_check(client, kubelet, tmp_path):
    await client.pods("default").create(pod(
        "hp", [sh("main", "true", volumeMounts=[{"name": "h", "mountPath": "/h"}])],
        volumes=[{"name": "h", "hostPath": {"path": str(tmp_path / "missing"), "type": "Directory"}}]))

    async def failed_mount():
        return [m for r, m in await events_for(client, "hp") if r == "FailedMount"]

    msgs = await wait_for(failed_mount, what="FailedMount")
    assert msgs[0] == (f'MountVolume.SetUp failed for volume "h" : hostPath type check failed: '
                       f'{tmp_path / "missing"} is not a directory')
