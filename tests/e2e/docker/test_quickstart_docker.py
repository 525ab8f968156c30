"""The README quick start with Podman present, on a fresh clone: `make run`
picks the docker runtime by itself ($DOCKER_HOST answers), and the seed's
demo runs a real image — `pyb run busybox:VERSION 1 web -p 8181:80 -- httpd
-f -p 80 -h /www` — whose page `curl 127.0.0.1:8181` gets from inside the
container; `kubectl get pods -o wide` shows it Running on the node; Ctrl-C
leaves no container of the cluster in the engine."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess

import pytest

from pybernetes.kubelet.runtime.docker_config import LABEL_ROOT, root_label
from pybernetes.kubelet.runtime.docker_images import WWW_INDEX, busybox_versioned_image
from tests.e2e.test_quickstart import QuickStart, run_quick_start

from .conftest import remove_containers_of

pytestmark = [pytest.mark.timeout(1200),
              pytest.mark.skipif(not (shutil.which("make") and shutil.which("git")), reason="needs make and git")]


def _containers(label: str) -> list[str]:
    out = subprocess.run(["podman", "ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def test_readme_quick_start_with_podman_runs_a_real_image(tmp_path, podman_endpoint):
    image = busybox_versioned_image()
    assert image is not None
    kubelet_root = (tmp_path / "home" / ".pybernetes" / "kubelet" / socket.gethostname().lower())
    ours = f"{LABEL_ROOT}={root_label(str(kubelet_root))}"
    qs = QuickStart(env={"DOCKER_HOST": podman_endpoint, "PYB_RUNTIME": "auto"},
                    run_args=lambda host, cport: [image, "1", "web", "-p", f"{host}:{cport}", "--",
                                                  "httpd", "-f", "-p", str(cport), "-h", "/www"],
                    expect=WWW_INDEX.decode(), container_port=lambda: 80)
    try:
        banner, body = run_quick_start(tmp_path, qs)
        assert re.search(rf"running \(docker runtime: engine at {re.escape(podman_endpoint)}\)", banner)
        assert f"pyb run {image} 1 web -p 8181:80 -- httpd -f -p 80 -h /www" in banner
        assert body == WWW_INDEX.decode()  # the image's own page, served from inside the container
        # Ctrl-C removed the pod's containers, the infra container too.
        assert _containers(ours) == []
    finally:
        remove_containers_of(kubelet_root, podman_endpoint)
