"""Fixtures for controller tests: a client, hollow nodes, and a controller
manager run in this process (or as a `pyb controller-manager` process)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pybernetes.client import Client, errors
from pybernetes.controllers.manager import ControllerManager, ControllerManagerConfig
from pybernetes.controllers.node_lifecycle import NodeLifecycleConfig
from pybernetes.controllers.pod_gc import PodGCConfig
from tests import polling

from .hollow import HollowCluster

ROOT = Path(__file__).resolve().parents[3]

FAST = ControllerManagerConfig(
    leader_elect=False,
    node=NodeLifecycleConfig(grace_period=3.0, pod_eviction_timeout=2.0, monitor_period=1.0),
    pod_gc=PodGCConfig(terminated_pod_gc_threshold=3, period=0.5))


wait_for = polling.waiter(timeout=30.0, interval=0.1)


@pytest.fixture
async def client(apiserver):
    c = Client.from_kubeconfig(str(apiserver.kubeconfig))
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def namespace(client):
    name = f"t-{uuid.uuid4().hex[:8]}"
    await client.namespaces().create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


@contextlib.asynccontextmanager
async def running_manager(client, config: ControllerManagerConfig = FAST):
    mgr = ControllerManager(client, config)
    task = asyncio.create_task(mgr.run())
    try:
        await wait_for(lambda: mgr.leading.is_set() or task.done(), 60, what="manager start")
        if task.done():
            task.result()
        yield mgr
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def manager(client):
    async with running_manager(client) as mgr:
        yield mgr


@pytest.fixture
async def hollow(client):
    async with HollowCluster(client, nodes=["hollow-1", "hollow-2", "hollow-3"]) as h:
        yield h


class ManagerProcess:
    """`pyb controller-manager` as a subprocess (to kill it for real)."""

    def __init__(self, kubeconfig: Path, log: Path, *extra: str):
        self.kubeconfig, self.log, self.extra = kubeconfig, log, extra
        self.proc: subprocess.Popen | None = None

    def start(self) -> ManagerProcess:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pybernetes.cli.main", "controller-manager", "--kubeconfig",
                 str(self.kubeconfig), *self.extra], stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
        line = self.proc.stdout.readline().decode()
        if "controller-manager started" not in line:
            self.proc.kill()
            raise RuntimeError(f"controller-manager did not start: {line!r}\n{self.log.read_text()[-3000:]}")
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def manager_process(apiserver, tmp_path):
    started: list[ManagerProcess] = []

    def start(*extra: str) -> ManagerProcess:
        p = ManagerProcess(apiserver.kubeconfig, tmp_path / f"cm-{len(started)}.log", *extra).start()
        started.append(p)
        return p
    yield start
    for p in started:
        p.stop()


async def exists(api, name: str) -> bool:
    try:
        await api.get(name)
        return True
    except errors.NotFound:
        return False
