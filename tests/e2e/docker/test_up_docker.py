"""`pyb up` on the docker runtime, end to end against a real Podman: it picks
the runtime by itself (``$DOCKER_HOST`` answers), the seed's demo
(`pyb run busybox:VERSION 1 web -p 8181:80 -- httpd -f -p 80 -h /www`)
answers `curl` from inside the container, kubectl shows the pod Running on
the node, Ctrl-C leaves no container in the engine and no process behind,
and `pyb up` again brings the pod back."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from pybernetes.kubelet.runtime.docker_config import LABEL_POD_NAME, LABEL_ROOT, root_label
from pybernetes.kubelet.runtime.docker_images import WWW_INDEX, busybox_versioned_image
from tests.integration.cli.conftest import UpProcess, descendants, wait_for
from tests.ports import demo_port

from .conftest import remove_containers_of

pytestmark = pytest.mark.timeout(300)

NODE = "up-docker-node"




def _curl(port: int) -> str | None:
    """The body of http://127.0.0.1:PORT/ when it answers 200."""
    out = subprocess.run(["curl", "-s", "-m", "3", "-w", "\n%{http_code}", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True)
    body, _, code = out.stdout.rpartition("\n")
    return body if code == "200" else None


def _engine_containers(*filters: str) -> list[str]:
    args = ["podman", "ps", "-a", "--format", "{{.Names}}"]
    for f in filters:
        args += ["--filter", f"label={f}"]
    return sorted(subprocess.run(args, capture_output=True, text=True, check=True).stdout.split())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kubectl_pods(up: UpProcess, cache: str) -> list[list[str]]:
    env = {**os.environ, "KUBECONFIG": str(up.kubeconfig), "KUBECACHEDIR": cache}
    out = subprocess.run(["kubectl", "get", "pods", "-o", "wide", "--no-headers"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.split() for line in out.stdout.splitlines()]


@pytest.fixture
def docker_host(podman_endpoint, monkeypatch):
    """`pyb up` finds the engine through $DOCKER_HOST, as a user's shell would say."""
    monkeypatch.setenv("DOCKER_HOST", podman_endpoint)
    return podman_endpoint


def test_pyb_up_runs_the_seed_demo_in_real_containers(tmp_path, docker_host):
    image = busybox_versioned_image()
    assert image is not None, "busybox-static is part of scripts/install-podman"
    data = tmp_path / "pyb"
    kubelet_root = (data / "kubelet" / NODE).resolve()
    ours = f"{LABEL_ROOT}={root_label(str(kubelet_root))}"
    port = demo_port(8181)  # the demo's port unless something here holds it
    has_kubectl = shutil.which("kubectl") is not None
    up = UpProcess(data, node_name=NODE, extra=("--runtime", "auto")).start()
    again = None
    try:
        banner = "\n".join(up.banner)
        assert re.search(rf"kubelet {NODE} +running \(docker runtime: engine at {re.escape(docker_host)}\)", banner)
        # "Try this" names the local image under a tag that needs no registry.
        assert f"{image} 1 web -p 8181:80 -- httpd -f -p 80 -h /www" in banner

        r = up.pyb("run", image, "1", "web", "-p", f"{port}:80", "--", "httpd", "-f", "-p", "80", "-h", "/www")
        assert r.code == 0, r.err
        body = wait_for(lambda: _curl(port), timeout=90, what=f"curl 127.0.0.1:{port}")
        assert body == WWW_INDEX.decode()  # the page baked into the image: served from inside the container
        pods = up.pyb("list", "pods", "-l", "name=web", "-o", "template={{.metadata.name}}").out.split()
        assert len(pods) == 1
        pod_name = pods[0]
        names = _engine_containers(ours, f"{LABEL_POD_NAME}={pod_name}")
        # dockershim's names: the infra container and the app container, both of this pod
        assert [n.rsplit("_", 2)[0] for n in names] == [f"k8s_POD_{pod_name}_default", f"k8s_web_{pod_name}_default"]
        if has_kubectl:
            rows = _kubectl_pods(up, str(tmp_path / "kc"))
            assert [(r[0], r[1], r[2], r[6]) for r in rows] == [(pod_name, "1/1", "Running", NODE)]

        children = descendants(up.pid)
        assert up.interrupt() == 0
        # Ctrl-C: nothing of the cluster left in the engine, nothing serving, no process behind.
        assert _engine_containers(ours) == []
        assert _engine_containers(f"{LABEL_POD_NAME}={pod_name}") == []
        assert _curl(port) is None
        assert [p for p in children if _alive(p)] == []
        assert "stopping pybernetes: stopped" in up.stderr()

        again = UpProcess(data, node_name=NODE, extra=("--runtime", "auto")).start()
        assert again.pyb("list", "pods", "-l", "name=web", "-o", "template={{.metadata.name}}").out.split() == pods
        assert wait_for(lambda: _curl(port), timeout=90, what="the pod to serve again") == WWW_INDEX.decode()
        wait_for(lambda: again.pyb("get", f"pods/{pod_name}", "-o", "template={{.status.phase}}").out == "Running\n",
                 timeout=60, what="the pod Running again")
        assert len(_engine_containers(ours, f"{LABEL_POD_NAME}={pod_name}")) == 2
        if has_kubectl:
            rows = _kubectl_pods(again, str(tmp_path / "kc2"))
            assert [(r[0], r[2], r[6]) for r in rows] == [(pod_name, "Running", NODE)]
        assert again.interrupt() == 0
        assert _engine_containers(ours) == []
    finally:
        for p in (up, again):
            if p is not None:
                p.kill()
        remove_containers_of(kubelet_root, docker_host)
