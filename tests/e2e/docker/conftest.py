"""Fixtures for the `docker` runtime against a real Podman.

- ``podman_endpoint`` (session): Podman installed and configured
  (scripts/install-podman, as root, apt-get), ``podman system service`` on a
  socket in a temp dir (stopped by pid at the end), the local busybox and
  pause images loaded. Where that is impossible the suite skips, saying why.
- ``start_kubelet``: `pyb kubelet --runtime docker` against the apiserver
  with the kubelet log proxy; at the end, every container its root labelled
  is removed from the engine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pybernetes.client import Client
from tests.conftest import ROOT
from tests.integration.kubelet.conftest import (
    KUBELET_TOKEN,
    KubeletProcess,
    LogsAPIServer,
    wait_for,
)

__all__ = ["wait_for", "BUSYBOX", "podman_service", "require_podman", "remove_containers_of"]

BUSYBOX = "busybox:latest"
_INSTALL = ROOT / "scripts" / "install-podman"


def _podman_ready() -> str | None:
    """None when podman can be used here, else why not."""
    if shutil.which("podman") and shutil.which("runc") and shutil.which("iptables"):
        if os.geteuid() == 0:
            subprocess.run([str(_INSTALL)], capture_output=True, check=False)  # config files, idempotent
        return None
    if os.geteuid() != 0:
        return "podman is not installed and the tests do not run as root (run scripts/install-podman as root)"
    if not shutil.which("apt-get"):
        return "podman is not installed and there is no apt-get to install it"
    out = subprocess.run([str(_INSTALL)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return f"scripts/install-podman failed ({out.returncode}): {out.stderr[-2000:]}"
    return None


@contextlib.contextmanager
def podman_service(tmp: Path, *, env: dict[str, str] | None = None):
    """``podman system service`` on a socket in ``tmp`` (with ``env`` added
    to its environment) until the block ends; yields its endpoint. The
    local busybox and pause images are loaded."""
    sock = tmp / "podman.sock"
    log = open(tmp / "service.log", "ab")  # noqa: SIM115 - owned by the child
    # cwd: conmon drops its "oom" marker file in the service's working directory.
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"], stdout=log,
                            stderr=log, start_new_session=True, env={**os.environ, **(env or {})}, cwd=tmp)
    log.close()
    endpoint = f"unix://{sock}"
    try:
        import docker

        deadline = time.monotonic() + 30
        while True:
            try:
                client = docker.DockerClient(base_url=endpoint, version="1.41", timeout=10)
                client.ping()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"podman system service did not answer: {(tmp / 'service.log').read_text()[-2000:]}")
                time.sleep(0.2)
        from pybernetes.kubelet.runtime.docker_images import ensure_local_images
        ensure_local_images(client)
        client.close()
        yield endpoint
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def require_podman() -> None:
    """Skip (loudly) where rootful Podman cannot be used."""
    why = _podman_ready()
    if why is not None:
        pytest.skip(f"NO PODMAN, docker runtime e2e skipped: {why}")
    if os.geteuid() != 0:
        pytest.skip("NO ROOT: the docker runtime e2e suite runs rootful podman (networking, port publishing)")


@pytest.fixture(scope="session")
def podman_endpoint():
    require_podman()
    tmp = Path(tempfile.mkdtemp(prefix="pyb-podman-"))
    try:
        with podman_service(tmp) as endpoint:
            yield endpoint
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_containers_of(root: Path, endpoint: str) -> None:
    """Every container the kubelet over ``root`` labelled, apps before infra."""
    import docker

    from pybernetes.kubelet.runtime.docker_config import (
        LABEL_ROOT,
        LABEL_TYPE,
        TYPE_SANDBOX,
        root_label,
    )

    client = docker.DockerClient(base_url=endpoint, version="1.41", timeout=60)
    try:
        found = client.api.containers(all=True, filters={"label": f"{LABEL_ROOT}={root_label(str(root.resolve()))}"})
        found.sort(key=lambda c: (c.get("Labels") or {}).get(LABEL_TYPE) == TYPE_SANDBOX)
        for c in found:
            with contextlib.suppress(Exception):
                client.api.remove_container(c["Id"], force=True)
    finally:
        client.close()


class DockerKubeletProcess(KubeletProcess):
    """A `pyb kubelet --runtime docker` process."""

    def __init__(self, *, endpoint: str, **kw):
        super().__init__(**kw)
        self.endpoint = endpoint

    def start(self) -> DockerKubeletProcess:
        self.root_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pybernetes.cli.main", "kubelet", "--runtime", "docker", "--kubeconfig", str(self.kubeconfig),
             "--node-name", self.node_name, "--root-dir", str(self.root_dir), "--port", "0",
             "--token", KUBELET_TOKEN, "--heartbeat-interval", "2", "--docker-endpoint", self.endpoint,
             *self.extra],
            stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
        log.close()
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"kubelet did not start: {line!r}\n{self.log_path.read_text()[-3000:]}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        return self


@pytest.fixture
def logs_apiserver(tmp_path):
    server = LogsAPIServer(tmp_path / "apiserver").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_kubelet(tmp_path, logs_apiserver, podman_endpoint):
    started: list[DockerKubeletProcess] = []

    def start(node_name: str = "node-1", *extra: str, root: Path | None = None) -> DockerKubeletProcess:
        k = DockerKubeletProcess(endpoint=podman_endpoint, kubeconfig=logs_apiserver.kubeconfig,
                                 node_name=node_name, root_dir=root or tmp_path / f"kubelet-{node_name}",
                                 extra=extra).start()
        started.append(k)
        return k

    yield start
    for k in started:
        k.stop()
    for root in {k.root_dir for k in started}:
        remove_containers_of(root, podman_endpoint)
    for k in started:
        k.unmount_volumes()


@pytest.fixture
def kubelet(start_kubelet):
    return start_kubelet()


@pytest.fixture
async def client(logs_apiserver):
    c = Client.from_kubeconfig(str(logs_apiserver.kubeconfig))
    try:
        yield c
    finally:
        await c.close()
