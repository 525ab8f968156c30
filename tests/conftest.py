"""Shared fixtures: a real `pyb apiserver` on 127.0.0.1 with a real SQLite file.

`apiserver` is per test (restart/kill freely); `shared_apiserver` is one per
session for tests that only need an API (use a unique namespace).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


class APIServerProcess:
    """A `pyb apiserver` subprocess. Started on a port the OS picks."""

    def __init__(self, data_dir: Path, extra_args: tuple[str, ...] = ()):
        self.data_dir = Path(data_dir)
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.port = 0
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.log_path = self.data_dir / "apiserver.log"

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def start(self) -> APIServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Reuse the port across restarts so clients and kubeconfigs keep working.
        port = str(self.port or 0)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pybernetes.cli.main", "apiserver", "--insecure-http", "--data-dir", str(self.data_dir),
             "--address", "127.0.0.1", "--port", port, *self.extra_args],
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

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                    if r.read() == b"ok":
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("apiserver never became ready")

    def _write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: local\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: admin\n  user: {}\n"
            "contexts:\n- name: local\n  context:\n    cluster: local\n    user: admin\n"
            "current-context: local\n")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def kill(self) -> None:
        """SIGKILL: no chance to flush or close anything."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def restart(self) -> APIServerProcess:
        self.stop()
        return self.start()


@pytest.fixture
def apiserver(tmp_path):
    server = APIServerProcess(tmp_path / "apiserver").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shared_apiserver(tmp_path_factory):
    server = APIServerProcess(tmp_path_factory.mktemp("shared-apiserver")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubectl_env(tmp_path):
    """Environment for running kubectl with a private discovery cache."""
    env = dict(os.environ)
    env["KUBECACHEDIR"] = str(tmp_path / "kubecache")
    env.pop("KUBECONFIG", None)
    return env
