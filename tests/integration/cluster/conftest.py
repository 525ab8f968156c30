"""Fixtures for multi-process cluster tests: a real etcd, several `pyb apiserver`
processes on it, and `pyb scheduler` / `pyb controller-manager` processes.

Every process is started here and stopped by its pid (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pybernetes.client import Client
from tests import polling
from tests.conftest import APIServerProcess
from tests.etcd_cluster import EtcdCluster, etcd_missing_reason

ROOT = Path(__file__).resolve().parents[3]
PYB = (sys.executable, "-m", "pybernetes.cli.main")


wait_for = polling.waiter(timeout=60.0, interval=0.2, retry_errors=True)


class ComponentProcess:
    """A `pyb <component>` subprocess that prints one start line on stdout."""

    def __init__(self, args: list[str], log: Path, *, ready: str, env: dict[str, str] | None = None,
                 prefix: tuple[str, ...] = ()):
        self.args, self.log, self.ready, self.env, self.prefix = args, log, ready, env, prefix
        self.proc: subprocess.Popen | None = None
        self.first_line = ""

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def start(self) -> ComponentProcess:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*self.prefix, *PYB, *self.args], stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL, cwd=ROOT, env=self.env)
        self.first_line = self.proc.stdout.readline().decode()
        if self.ready not in self.first_line:
            self.kill()
            raise RuntimeError(f"{self.args[0]} did not start: {self.first_line!r}\n{self.log.read_text()[-3000:]}")
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL by pid: no chance to release anything (leases included)."""
        if self.running:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._close()

    def stop(self) -> None:
        if self.running:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def etcd(tmp_path):
    missing = etcd_missing_reason()
    if missing:
        pytest.skip(f"SKIPPING: no etcd here: {missing}")
    cluster = EtcdCluster.start(tmp_path / "etcd", size=1)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def etcd_apiservers(etcd, tmp_path):
    """``start(n)``: n `pyb apiserver --storage etcd` processes sharing one etcd and prefix."""
    started: list[APIServerProcess] = []
    prefix = f"/registry-{uuid.uuid4().hex[:8]}"

    def start(n: int = 2) -> list[APIServerProcess]:
        for _ in range(n):
            i = len(started)
            started.append(APIServerProcess(
                tmp_path / f"apiserver-{i}",
                ("--storage", "etcd", "--etcd-servers", ",".join(etcd.client_urls), "--etcd-prefix", prefix,
                 "--compaction-interval", "3600")).start())
        return started
    try:
        yield start
    finally:
        for s in started:
            s.stop()


@pytest.fixture
def components(tmp_path):
    """``start(args, ready=...)`` runs `pyb ARGS...`; every one is stopped at the end."""
    started: list[ComponentProcess] = []

    def start(args: list[str], *, ready: str, env: dict[str, str] | None = None,
              prefix: tuple[str, ...] = ()) -> ComponentProcess:
        p = ComponentProcess(args, tmp_path / f"{args[0]}-{len(started)}.log", ready=ready, env=env,
                             prefix=prefix).start()
        started.append(p)
        return p
    try:
        yield start
    finally:
        for p in reversed(started):
            p.stop()


@pytest.fixture
async def make_client():
    made: list[Client] = []

    def make(*urls: str, **kw) -> Client:
        c = Client(servers=list(urls), **kw)
        made.append(c)
        return c
    try:
        yield make
    finally:
        for c in made:
            await c.close()


async def new_namespace(client: Client) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await client.namespaces().create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name
