"""A real `pyb up` (apiserver, controller manager, scheduler, kubelet, proxy in
one process) in a temporary data dir on a port the OS picks, and a helper to
run `pyb` verbs against it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.ports import free_port  # noqa: F401 - the cli tests import it from here

PYB = [sys.executable, "-m", "pybernetes.cli.main"]




@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class UpProcess:
    """`pyb up` as a child in its own session (so Ctrl-C is ours to send)."""

    data_dir: Path
    port: int = 0
    node_name: str = "cli-node"
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None
    url: str = ""
    banner: list[str] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    def start(self, timeout: float = 60) -> UpProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        err = open(self.data_dir / "up.stderr", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [*PYB, "up", "--data-dir", str(self.data_dir), "--port", str(self.port), "--node-name",
             self.node_name, "--runtime", "process", *self.extra],
            stdout=subprocess.PIPE, stderr=err, cwd=ROOT, start_new_session=True)
        err.close()
        deadline = time.monotonic() + timeout
        self.banner = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise RuntimeError(f"pyb up exited ({self.proc.wait()}):\n{self.stderr()[-3000:]}")
            self.banner.append(line.rstrip("\n"))
            if line.strip().startswith("API"):
                self.url = line.split()[-1]
                self.port = int(self.url.rsplit(":", 1)[1])
            if "Ctrl-C stops the cluster" in line:
                return self
        raise RuntimeError("pyb up did not finish starting")

    def stderr(self) -> str:
        return (self.data_dir / "up.stderr").read_text(errors="replace")

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C (SIGINT), then wait for a clean exit."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def pyb(self, *args: str, stdin: str | None = None, timeout: float = 120,
            kubeconfig: str | None = None) -> Result:
        env = {**os.environ, "KUBECONFIG": kubeconfig or str(self.kubeconfig), "NO_COLOR": "1"}
        r = subprocess.run([*PYB, *args], input=stdin, capture_output=True, text=True, cwd=ROOT, env=env,
                           timeout=timeout)
        return Result(r.returncode, r.stdout, r.stderr)


@pytest.fixture
def up(tmp_path):
    proc = UpProcess(tmp_path / "pyb").start()
    try:
        yield proc
    finally:
        if proc.proc and proc.proc.poll() is None:
            try:
                proc.interrupt(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (by PPid in /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), ()):
            out.append(c)
            todo.append(c)
    return out


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            found.append(int(entry))
    return found
