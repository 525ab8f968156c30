"""The process runtime against real processes (root: mount namespaces)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from pybernetes.kubelet.runtime import ContainerConfig, Mount, ProcessRuntime, SandboxConfig
from pybernetes.kubelet.runtime.logs import LogOptions, read_log


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def _exists(path: str) -> bool:
    return Path(path).exists()


def _cfg(argv, *, name="c", attempt=0, mounts=(), env=(), wd=None, uid="uid-1"):
    return ContainerConfig(pod_uid=uid, pod_namespace="ns", pod_name="p", name=name, attempt=attempt,
                           image="busybox", argv=tuple(argv), env=tuple(env), working_dir=wd,
                           mounts=tuple(mounts))


async def _wait_exit(rt, cid, timeout=10):
    for _ in range(int(timeout / 0.02)):
        st = rt.container_status(cid)
        if st.state == "exited":
            return st
        await asyncio.sleep(0.02)
    raise AssertionError(f"container {cid} did not exit")


@pytest.fixture
async def runtime(tmp_path):
    exits: list[str] = []
    rt = ProcessRuntime(str(tmp_path / "root"), on_exit=exits.append)
    rt.exits = exits
    await rt.create_sandbox(SandboxConfig(uid="uid-1", namespace="ns", name="p"))
    yield rt
    for c in rt.list_containers():
        await rt.stop_container(c.id, grace_period=0)
    await rt.close()


async def test_exit_code_logs_and_env(runtime):
    st = await runtime.start_container(_cfg(["sh", "-c", "echo out $FOO; echo err >&2; exit 3"],
                                            env=[("FOO", "bar")]))
    assert st.state == "running"
    done = await _wait_exit(runtime, st.id)
    assert done.exit_code == 3 and done.reason == "Error"
    assert done.finished_at >= done.started_at
    assert runtime.exits == ["uid-1"]
    assert read_log(done.log_path, LogOptions()) == b"out bar\nerr\n"
    with_ts = read_log(done.log_path, LogOptions(timestamps=True, tail_lines=1))
    assert with_ts.endswith(b"Z err\n") and with_ts[:2] == b"20"
    raw = _read(done.log_path)
    assert b" stdout F out bar\n" in raw and b" stderr F err\n" in raw


@pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")
async def test_volumes_overlay_and_readonly(runtime, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "in").write_text("hello")
    ro = tmp_path / "ro"
    ro.mkdir()
    script = ("cat /data/in; echo written > /data/out; echo x > /host-should-not-see; "
              "{ echo y > /ro/f; } 2>/dev/null || echo rofail; pwd")
    st = await runtime.start_container(_cfg(["sh", "-c", script], wd="/data",
                                            mounts=[Mount(str(vol), "/data"), Mount(str(ro), "/ro", True)]))
    done = await _wait_exit(runtime, st.id)
    assert done.exit_code == 0, read_log(done.log_path, LogOptions())
    assert read_log(done.log_path, LogOptions()) == b"hellorofail\n/data\n"
    assert (vol / "out").read_text() == "written\n"
    assert not _exists("/host-should-not-see")
    assert not (ro / "f").exists()


async def test_graceful_stop_sigterm_then_sigkill(runtime):
    st = await runtime.start_container(_cfg(
        ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; while :; do sleep 0.05; done"]))
    await asyncio.sleep(0.3)
    await runtime.stop_container(st.id, grace_period=5)
    done = runtime.container_status(st.id)
    assert done.exit_code == 0
    assert b"got TERM" in read_log(done.log_path, LogOptions())
    st2 = await runtime.start_container(_cfg(["sh", "-c", "trap '' TERM; sleep 30"], name="stubborn"))
    await asyncio.sleep(0.2)
    await runtime.stop_container(st2.id, grace_period=0.3)
    assert runtime.container_status(st2.id).exit_code == 137


async def test_killed_process_reports_signal_exit(runtime):
    st = await runtime.start_container(_cfg(["sleep", "30"]))
    for _ in range(100):
        pid = runtime.container_status(st.id).pid
        if pid:
            break
        await asyncio.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    done = await _wait_exit(runtime, st.id)
    assert done.exit_code == 137


async def test_exec_sync_sees_container_env(runtime):
    st = await runtime.start_container(_cfg(["sleep", "30"], env=[("WHO", "container")]))
    await asyncio.sleep(0.2)
    res = await runtime.exec_sync(st.id, ["sh", "-c", "echo $WHO; exit 4"], timeout=5)
    assert res.exit_code == 4 and res.output == b"container\n"
    res = await runtime.exec_sync(st.id, ["sleep", "5"], timeout=0.2)
    assert res.timed_out


async def test_recover_adopts_running_and_records_exits(tmp_path):
    root = str(tmp_path / "root")
    rt = ProcessRuntime(root)
    await rt.create_sandbox(SandboxConfig(uid="u", namespace="ns", name="p"))
    long = await rt.start_container(_cfg(["sh", "-c", "echo before; sleep 1; echo after; sleep 30"], uid="u"))
    await rt.start_container(_cfg(["sh", "-c", "sleep 0.5; exit 7"], name="short", uid="u"))
    await asyncio.sleep(0.2)
    await rt.close()  # the kubelet goes away; containers keep running
    await asyncio.sleep(1.5)
    rt2 = ProcessRuntime(root)
    found = {c.name: c for c in await rt2.recover()}
    assert found["c"].state == "running" and found["c"].id == long.id
    assert found["short"].state == "exited" and found["short"].exit_code == 7
    await asyncio.sleep(0.2)
    assert read_log(found["c"].log_path, LogOptions()) == b"before\nafter\n"
    await rt2.stop_container(long.id, grace_period=1)
    assert rt2.container_status(long.id).state == "exited"
    await rt2.remove_sandbox("u")
    assert rt2.list_sandboxes() == []
    await rt2.close()
