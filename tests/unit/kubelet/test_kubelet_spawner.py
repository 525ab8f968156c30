"""The process runtime's spawn helper, against real processes."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from pybernetes.kubelet.runtime import ContainerConfig, Mount, ProcessRuntime, SandboxConfig
from pybernetes.kubelet.runtime.logs import LogOptions, read_log
from pybernetes.kubelet.runtime.state import load_state


def _exists(path: str) -> bool:
    return Path(path).exists()


def _cfg(argv, *, name="c", env=(), mounts=(), wd=None):
    return ContainerConfig(pod_uid="u", pod_namespace="ns", pod_name="p", name=name, attempt=0, image="busybox",
                           argv=tuple(argv), env=tuple(env), working_dir=wd, mounts=tuple(mounts))


async def _wait_exit(rt, cid, timeout=10.0):
    for _ in range(int(timeout / 0.02)):
        st = rt.container_status(cid)
        if st.state == "exited":
            return st
        await asyncio.sleep(0.02)
    raise AssertionError(f"container {cid} did not exit")


async def _runtime(root: Path, **kw) -> ProcessRuntime:
    rt = ProcessRuntime(str(root), **kw)
    await rt.create_sandbox(SandboxConfig(uid="u", namespace="ns", name="p"))
    return rt


async def _cleanup(rt: ProcessRuntime) -> None:
    for c in rt.list_containers():
        await rt.stop_container(c.id, grace_period=0)
    await rt.close()


async def test_environment_is_exactly_the_containers(tmp_path):
    rt = await _runtime(tmp_path / "root")
    try:
        st = await rt.start_container(_cfg(["sh", "-c", "env | sort; read x || echo stdin-empty"],
                                           env=[("A", "1"), ("B", "two words")]))
        done = await _wait_exit(rt, st.id)
        out = read_log(done.log_path, LogOptions()).decode().splitlines()
        names = {line.split("=", 1)[0] for line in out if "=" in line}
        # The shell adds PWD (and may add SHLVL); nothing of the kubelet's environment leaks in.
        assert names - {"PWD", "SHLVL", "_"} == {"A", "B", "PATH", "HOSTNAME"}
        assert "B=two words" in out and "HOSTNAME=p" in out and "stdin-empty" in out
    finally:
        await _cleanup(rt)


async def test_missing_command_exits_127_with_message(tmp_path):
    rt = await _runtime(tmp_path / "root")
    try:
        st = await rt.start_container(_cfg(["no-such-command-here"]))
        done = await _wait_exit(rt, st.id)
        assert done.exit_code == 127 and done.reason == "Error"
        assert b"no-such-command-here" in read_log(done.log_path, LogOptions())
    finally:
        await _cleanup(rt)


async def test_state_saved_by_shim_and_helper_restarts_after_dying(tmp_path):
    rt = await _runtime(tmp_path / "root")
    try:
        first = await rt.start_container(_cfg(["sleep", "30"], name="first"))
        state = None
        for _ in range(250):  # the shim saves it, shortly after the start returned
            state = load_state(str(tmp_path / "root" / "containers" / "u" / "first_0"))
            if state is not None:
                break
            await asyncio.sleep(0.02)
        assert state is not None and state.id == first.id and state.shim_pid > 0 and state.started_at
        (old,) = rt._spawner.helper_pids()
        os.kill(old, signal.SIGKILL)
        # The container outlives its helper; the next start brings up a new helper.
        for _ in range(250):  # the helper's end is noticed on the event loop
            if not rt._spawner.helper_pids():
                break
            await asyncio.sleep(0.02)
        assert rt._spawner.helper_pids() == []
        assert rt.container_status(first.id).state == "running"
        second = await rt.start_container(_cfg(["sh", "-c", "echo again"], name="second"))
        done = await _wait_exit(rt, second.id)
        assert read_log(done.log_path, LogOptions()) == b"again\n"
        assert rt._spawner.helper_pids() and old not in rt._spawner.helper_pids()
        await rt.stop_container(first.id, grace_period=1)
        assert rt.container_status(first.id).exit_code == 143
    finally:
        await _cleanup(rt)


async def test_rootless_fallback_links_volumes(tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "in").write_text("hello\n")
    rt = await _runtime(tmp_path / "root", as_root=False)
    try:
        st = await rt.start_container(_cfg(["sh", "-c", 'cat "$PYB_CONTAINER_ROOT/data/in"; pwd'],
                                           mounts=[Mount(str(vol), "/data")], wd="/work"))
        done = await _wait_exit(rt, st.id)
        lines = read_log(done.log_path, LogOptions()).decode().splitlines()
        assert done.exit_code == 0 and lines[0] == "hello"
        assert lines[1].endswith("/rootfs/work")
    finally:
        await _cleanup(rt)


async def test_many_concurrent_starts(tmp_path):
    rt = await _runtime(tmp_path / "root")
    try:
        sts = await asyncio.gather(*(rt.start_container(_cfg(["sh", "-c", f"echo {i}"], name=f"c{i}"))
                                     for i in range(20)))
        for i, st in enumerate(sts):
            done = await _wait_exit(rt, st.id)
            assert done.exit_code == 0 and read_log(done.log_path, LogOptions()) == f"{i}\n".encode()
    finally:
        await _cleanup(rt)


@pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")
async def test_container_sees_its_own_root_and_missing_workdir_is_made(tmp_path):
    rt = await _runtime(tmp_path / "root")
    try:
        st = await rt.start_container(_cfg(["sh", "-c", "pwd; ls /proc/1 >/dev/null && echo proc; "
                                            f"test -e {tmp_path}/root/containers && echo leak || echo hidden"],
                                           wd="/made/here"))
        done = await _wait_exit(rt, st.id)
        assert read_log(done.log_path, LogOptions()) == b"/made/here\nproc\nhidden\n"
        assert not _exists("/made")
    finally:
        await _cleanup(rt)
