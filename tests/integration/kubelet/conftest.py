"""Fixtures: an apiserver with the kubelet log proxy, and real `pyb kubelet`
processes (restartable). Containers a test leaves behind are killed by pid
from the kubelet's saved task state."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pybernetes.client import Client
from tests.conftest import ROOT, APIServerProcess

KUBELET_TOKEN = "kubelet-test-token"


class LogsAPIServer(APIServerProcess):
    """The conftest apiserver, started with the kubelet log proxy wired in."""

    def start(self) -> LogsAPIServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.kubelet.apiserver_with_logs", "--data-dir",
             str(self.data_dir), "--port", str(self.port or 0), "--kubelet-token", KUBELET_TOKEN],
            stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
        log.close()
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"apiserver did not start: {line!r}\n{self.log_path.read_text()[-3000:]}")
        self.url = line.split("listening on", 1)[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        self._wait_ready()
        self._write_kubeconfig()
        return self


class KubeletProcess:
    def __init__(self, *, kubeconfig: Path, node_name: str, root_dir: Path, extra: tuple[str, ...] = ()):
        self.kubeconfig = kubeconfig
        self.node_name = node_name
        self.root_dir = root_dir
        self.extra = extra
        self.proc: subprocess.Popen | None = None
        self.log_path = root_dir.parent / f"kubelet-{node_name}.log"
        self.port = 0

    def start(self) -> KubeletProcess:
        self.root_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pybernetes.cli.main", "kubelet", "--kubeconfig", str(self.kubeconfig),
             "--node-name", self.node_name, "--root-dir", str(self.root_dir), "--port", "0",
             "--token", KUBELET_TOKEN, "--heartbeat-interval", "2", *self.extra],
            stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
        log.close()
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"kubelet did not start: {line!r}\n{self.log_path.read_text()[-3000:]}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def kill_containers(self) -> None:
        """SIGKILL every container process group this kubelet's root still records."""
        for state_file in self.root_dir.glob("containers/*/*/state.json"):
            with contextlib.suppress(OSError, ValueError):
                state = json.loads(state_file.read_text())
                if state.get("exit_code") is None and state.get("shim_pid"):
                    os.killpg(state["shim_pid"], signal.SIGKILL)

    def unmount_volumes(self) -> None:
        """Lazily unmount the tmpfs volumes (secret, emptyDir Memory) the kubelet left for its pods."""
        real = str(self.root_dir.resolve())
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for m in sorted((m for m in mounts if m.startswith(real + "/")), reverse=True):
            subprocess.run(["umount", "-l", m], check=False)

    def log(self) -> str:
        return self.log_path.read_text()[-5000:]


@pytest.fixture
def logs_apiserver(tmp_path):
    server = LogsAPIServer(tmp_path / "apiserver").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_kubelet(tmp_path, logs_apiserver):
    started: list[KubeletProcess] = []

    def start(node_name: str = "node-1", *extra: str, root: Path | None = None) -> KubeletProcess:
        k = KubeletProcess(kubeconfig=logs_apiserver.kubeconfig, node_name=node_name,
                           root_dir=root or tmp_path / f"kubelet-{node_name}", extra=extra).start()
        started.append(k)
        return k

    yield start
    for k in started:
        k.stop()
    for k in started:
        k.kill_containers()
        k.unmount_volumes()
    time.sleep(0.1)


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


async def wait_for(fn, *, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    """Poll ``fn`` (sync or async) until it returns a truthy value; return it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")
