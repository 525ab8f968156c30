"""`pyb up` lifecycle: Ctrl-C leaves no process behind, `pyb up` again resumes
with objects and pods intact, `--detach` + `pyb down`."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

from .conftest import PYB, ROOT, UpProcess, descendants, free_port, processes_with, wait_for


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_ctrl_c_leaves_no_process_and_up_again_resumes(tmp_path):
    up = UpProcess(tmp_path / "pyb").start()
    try:
        port = free_port()
        assert up.pyb("run", "web", "1", "web", "--", sys.executable, "-m", "http.server", str(port)).code == 0
        assert up.pyb("create", "-c", "-", stdin='{"apiVersion": "v1", "kind": "ConfigMap", '
                      '"metadata": {"name": "keep"}, "data": {"k": "v"}}').code == 0
        wait_for(lambda: _answers(port), what="the pod to serve")
        marker = f"http.server {port}"
        assert processes_with(marker)
        children = descendants(up.pid)  # the container runs under pyb up
        assert children
        first_port = up.port
        assert up.interrupt() == 0
    except BaseException:
        up.kill()
        raise
    # Nothing left: no process that ran under pyb up, no container process, no pid file.
    assert [p for p in children if _alive(p)] == []
    assert processes_with(marker) == []
    assert not (up.data_dir / "pyb.pid").exists()
    assert "stopping pybernetes: stopped" in up.stderr()

    again = UpProcess(up.data_dir, port=first_port).start()
    try:
        assert again.url == up.url  # same port: every kubeconfig handed out still works
        assert again.pyb("get", "configmaps/keep", "-o", "template={{.data.k}}").out == "v\n"
        assert again.pyb("get", "rc/web").code == 0
        wait_for(lambda: _answers(port), what="the pod to serve again after the restart")
        pods = again.pyb("list", "pods", "-l", "name=web", "-o", "template={{.status.phase}}").out.split()
        assert pods == ["Running"]
    finally:
        assert again.interrupt() == 0
    assert processes_with(marker) == []


def test_detach_and_down(tmp_path):
    data = tmp_path / "bg"
    port = free_port()
    r = subprocess.run([*PYB, "up", "--detach", "--data-dir", str(data), "--port", str(port),
                        "--node-name", "bg-node", "--runtime", "process"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    try:
        assert r.returncode == 0, r.stderr + (data / "pyb.log").read_text()
        pid = int((data / "pyb.pid").read_text())
        assert f"pid {pid}" in r.stdout and "pyb down" in r.stdout
        env = {**os.environ, "KUBECONFIG": str(data / "kubeconfig")}
        n = subprocess.run([*PYB, "list", "nodes", "-o", "template={{.metadata.name}}"], capture_output=True,
                           text=True, cwd=ROOT, env=env, timeout=60)
        assert n.stdout == "bg-node\n", n.stderr
        again = subprocess.run([*PYB, "up", "--detach", "--data-dir", str(data), "--port", "0"],
                               capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = subprocess.run([*PYB, "down", "--data-dir", str(data)], capture_output=True, text=True, cwd=ROOT,
                              timeout=120)
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stderr
    assert not os.path.exists(f"/proc/{pid}") or _zombie(pid)
    assert not (data / "pyb.pid").exists()
    down = subprocess.run([*PYB, "down", "--data-dir", str(data)], capture_output=True, text=True, cwd=ROOT)
    assert down.returncode == 1 and "no cluster is running" in down.stderr


def _alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}") and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_several_nodes(tmp_path):
    up = UpProcess(tmp_path / "multi", node_name="n", extra=("--nodes", "3")).start()
    try:
        def three_ready():
            out = up.pyb("list", "nodes").out
            return out.count(" Ready ") == 3 and all(f"n-{i} " in out for i in (1, 2, 3))
        wait_for(three_ready, what="three Ready nodes")
        assert up.pyb("run", "x", "3", "spread", "--", "sleep", "600").code == 0

        def spread():
            hosts = up.pyb("list", "pods", "-l", "name=spread", "-o", "template={{.spec.nodeName}}").out.split()
            return len(hosts) == 3 and "<none>" not in hosts and hosts
        assert sorted(wait_for(spread, what="pods scheduled")) == ["n-1", "n-2", "n-3"]
        children = wait_for(lambda: len(descendants(up.pid)) >= 6 and descendants(up.pid),
                            what="three containers (shim + process each)")
        assert up.interrupt() == 0
    finally:
        up.kill()
    assert [p for p in children if _alive(p)] == []
