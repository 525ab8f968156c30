"""The README quick start on a fresh clone: `make run` (in the background
here), then `pyb run` of a small HTTP server with `-p 8181:80`, `curl
127.0.0.1:8181` answers, and `kubectl get pods -o wide` shows it Running on
the node; Ctrl-C then stops everything.

The clone is of the committed HEAD, so `make run` builds its own .venv from
pyproject.toml exactly as a new user's would (from the machine's wheel
index). HOME points into the test's directory so ~/.pybernetes is private,
and $PYB_PORT moves the apiserver off 6443; the quick start's host port
(8181) and container port (80) are used when free, else free ones.

``run_quick_start`` is shared with tests/e2e/docker/test_quickstart_docker.py,
the same quick start with Podman present and a real image.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT
from tests.ports import demo_port, free_port, port_free

pytestmark = [pytest.mark.timeout(1200),
              pytest.mark.skipif(not (shutil.which("make") and shutil.which("git")), reason="needs make and git")]






def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode(errors="replace")
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class QuickStart:
    """What differs between runtimes: the environment `make run` gets, the
    `pyb run` arguments after ``web`` given (host port, container port), and
    what the page must contain."""

    env: dict[str, str]
    run_args: Callable[[int, int], list[str]]
    expect: str
    container_port: Callable[[], int]


def process_quick_start() -> QuickStart:
    """The README's: the process runtime runs the command after `--`."""
    return QuickStart(
        env={"PYB_RUNTIME": "process"},  # as where no engine answers, even if one does here
        run_args=lambda host, cport: ["python", "1", "web", "-p", f"{host}:{cport}", "--",
                                      "python3", "-m", "http.server", str(cport)],
        expect="Directory listing",
        container_port=lambda: 80 if os.geteuid() == 0 and port_free(80) else free_port())


def run_quick_start(tmp_path, qs: QuickStart) -> tuple[str, str]:
    """`make run` on a fresh clone, `pyb run ... -p 8181:PORT`, curl, kubectl,
    Ctrl-C; returns `make run`'s banner and the page served (asserted to
    contain ``qs.expect``). HOME is ``tmp_path / "home"``."""
    clone, home = tmp_path / "pybernetes", tmp_path / "home"
    home.mkdir()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    env = {**os.environ, "HOME": str(home), "PYB_PORT": str(free_port()), "NO_COLOR": "1", **qs.env}
    env.pop("KUBECONFIG", None)
    env.pop("VIRTUAL_ENV", None)
    log = open(tmp_path / "make-run.log", "wb")  # noqa: SIM115 - owned by the child
    make = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=log,
                            start_new_session=True)
    log.close()
    pyb = str(clone / ".venv" / "bin" / "pyb")
    kubeconfig = home / ".pybernetes" / "kubeconfig"
    host_port = None
    try:
        banner = []
        for raw in make.stdout:
            line = raw.decode(errors="replace")
            banner.append(line)
            if "Ctrl-C stops the cluster" in line:
                break
        else:
            pytest.fail("make run ended before the cluster was up:\n" + "".join(banner)
                        + (tmp_path / "make-run.log").read_text(errors="replace")[-4000:])
        text = "".join(banner)
        assert "pybernetes is up" in text and "Try this:" in text
        assert re.search(rf"kubeconfig +{re.escape(str(kubeconfig))}\n", text)

        host_port = demo_port(8181)
        run = subprocess.run([pyb, "run", *qs.run_args(host_port, qs.container_port())],
                             cwd=clone, env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        deadline = time.monotonic() + 90
        body = None
        while body is None and time.monotonic() < deadline:
            body = _get(f"http://127.0.0.1:{host_port}/")
            time.sleep(0.3)
        assert body is not None and qs.expect in body

        if shutil.which("kubectl"):
            kenv = {**env, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(tmp_path / "kc")}
            out = subprocess.run(["kubectl", "get", "pods", "-o", "wide", "--no-headers"], env=kenv,
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            fields = out.stdout.split()
            assert fields[1:3] == ["1/1", "Running"] and socket.gethostname().lower() in fields
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C in the terminal: make and pyb up both get it
            try:
                make.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(make.pid, signal.SIGKILL)
        make.stdout.close()
    # pyb up stopped its pods: nothing serves the host port any more.
    assert host_port is not None
    deadline = time.monotonic() + 60
    while _get(f"http://127.0.0.1:{host_port}/") is not None and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _get(f"http://127.0.0.1:{host_port}/") is None
    return text, body


def test_readme_quick_start_on_a_fresh_clone(tmp_path):
    run_quick_start(tmp_path, process_quick_start())
