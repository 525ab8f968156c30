"""The `process` runtime: each container is a host process (Nomad's raw_exec
with a shim, plus mount-namespace isolation when running as root).

Layout under ``root`` (the kubelet's root dir)::

    containers/<pod uid>/<name>_<attempt>/   state.json pid exit shim.log
                                            stdout.fifo stderr.fifo upper/ work/ rootfs/
    logs/<ns>_<pod>_<uid>/<name>/<attempt>.log   CRI-format log (see logs.py)

Containers are started by the spawn helper (spawner.py, spawn_helper.py), a
small pre-started process: each container runs under its own shim process
in its own session and process group. The runtime watches the shim through
a pidfd (no thread, no polling, works for adopted non-children too) and
reads the container's exit code from the file the shim writes. Starting a
container costs the event loop one message to the helper and the log pump's
setup; nothing here blocks the loop for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict

from .interface import (
    ContainerConfig,
    ContainerStats,
    ContainerStatus,
    ExecResult,
    ExitCallback,
    SandboxConfig,
)
from .launcher import exec_argv, launch_spec
from .logs import LogPump
from .spawner import Spawner
from .state import TaskState, load_state, save_state

__all__ = ["ProcessRuntime", "host_ip"]

log = logging.getLogger(__name__)
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def host_ip() -> str:
    """The address other machines reach this one at (no packet is sent)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        return s.getsockname()[0]
    return "127.0.0.1"


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (stat field 22), or
    None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class _Task:
    __slots__ = ("state", "dir", "pidfd", "pump", "exited")

    def __init__(self, state: TaskState, directory: str):
        self.state = state
        self.dir = directory
        self.pidfd: int | None = None
        self.pump: LogPump | None = None
        self.exited = asyncio.Event()


class ProcessRuntime:
    """Runtime (see interface.py) running containers as host processes."""

    name = "process"

    def __init__(self, root: str, *, on_exit: ExitCallback | None = None, as_root: bool | None = None,
                 node_ip: str | None = None, log_max_size: int = 10 * 1024 * 1024, log_max_files: int = 5):
        self.root = os.path.abspath(root)
        self.on_exit = on_exit
        self.as_root = (os.geteuid() == 0) if as_root is None else as_root
        self.node_ip = node_ip or host_ip()
        self.log_max_size = log_max_size
        self.log_max_files = log_max_files
        self._tasks: dict[str, _Task] = {}
        self._spawner = Spawner()
        self._containers_root = os.path.join(self.root, "containers")
        self._logs_root = os.path.join(self.root, "logs")
        os.makedirs(self._containers_root, exist_ok=True)
        os.makedirs(self._logs_root, exist_ok=True)

    async def version(self) -> str:
        return "0.1.0"

    # -- sandboxes ---------------------------------------------------------
    def _sandbox_dir(self, uid: str) -> str:
        return os.path.join(self._containers_root, uid)

    async def create_sandbox(self, config: SandboxConfig) -> str:
        return await asyncio.to_thread(self._create_sandbox, config)

    def _create_sandbox(self, config: SandboxConfig) -> str:
        d = self._sandbox_dir(config.uid)
        os.makedirs(d, exist_ok=True)
        meta = os.path.join(d, "pod")
        if not os.path.exists(meta):
            with open(meta, "w") as f:
                f.write(f"{config.namespace}/{config.name}\n")
        return d

    async def remove_sandbox(self, uid: str) -> None:
        for task in [t for t in self._tasks.values() if t.state.pod_uid == uid]:
            await self.stop_container(task.state.id, grace_period=0)
            await self.remove_container(task.state.id)
        logs = self._pod_log_dir(uid)
        await asyncio.to_thread(_rmtree, self._sandbox_dir(uid))
        if logs:
            await asyncio.to_thread(_rmtree, logs)

    def list_sandboxes(self) -> list[str]:
        try:
            return sorted(os.listdir(self._containers_root))
        except FileNotFoundError:
            return []

    def sandbox_ip(self, uid: str) -> str:
        return self.node_ip

    def _pod_log_dir(self, uid: str) -> str | None:
        meta = os.path.join(self._sandbox_dir(uid), "pod")
        try:
            with open(meta) as f:
                ns, _, name = f.read().strip().partition("/")
        except OSError:
            return None
        return os.path.join(self._logs_root, f"{ns}_{name}_{uid}")

    # -- containers --------------------------------------------------------
    def _log_path(self, state: TaskState) -> str:
        return os.path.join(self._logs_root, f"{state.pod_namespace}_{state.pod_name}_{state.pod_uid}",
                            state.name, f"{state.attempt}.log")

    def log_path(self, container_id: str) -> str:
        task = self._tasks.get(container_id)
        return self._log_path(task.state) if task else ""

    async def start_container(self, config: ContainerConfig) -> ContainerStatus:
        cid = uuid.uuid4().hex
        cdir = os.path.join(self._sandbox_dir(config.pod_uid), f"{config.name}_{config.attempt}")
        state = TaskState(
            id=cid, pod_uid=config.pod_uid, pod_namespace=config.pod_namespace, pod_name=config.pod_name,
            name=config.name, attempt=config.attempt, image=config.image, argv=list(config.argv),
            env=[list(p) for p in config.env], working_dir=config.working_dir,
            mounts=[{"host_path": m.host_path, "container_path": m.container_path, "read_only": m.read_only}
                    for m in config.mounts],
            created_at=time.time())
        for old in [t for t in self._tasks.values() if t.dir == cdir]:
            await self.remove_container(old.state.id)
        if os.path.lexists(cdir):  # noqa: ASYNC240 - one lstat; a leftover of a lost task: start afresh
            await asyncio.to_thread(_rmtree, cdir)
        log_path = self._log_path(state)
        spec = launch_spec(config, container_dir=cdir, log_dir=os.path.dirname(log_path),
                           hidden_dirs=(self.root,), as_root=self.as_root, state=asdict(state))
        spawned = await self._spawner.spawn(spec)
        state.shim_pid = spawned.shim_pid
        state.shim_start_ticks = spawned.start_ticks
        state.started_at = spawned.started_at
        task = _Task(state, cdir)
        try:
            task.pump = LogPump(stdout_fifo=os.path.join(cdir, "stdout.fifo"),
                                stderr_fifo=os.path.join(cdir, "stderr.fifo"), log_path=log_path,
                                max_size=self.log_max_size, max_files=self.log_max_files,
                                fds=(spawned.stdout_fd, spawned.stderr_fd))
        except OSError:
            os.close(spawned.stdout_fd)
            os.close(spawned.stderr_fd)
            raise
        self._tasks[cid] = task
        self._watch(task, spawned.shim_pid)
        return self._status(task)

    def _watch(self, task: _Task, pid: int) -> None:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            asyncio.get_running_loop().call_soon(self._on_shim_exit, task)
            return
        task.pidfd = fd
        asyncio.get_running_loop().add_reader(fd, self._on_shim_exit, task)

    def _on_shim_exit(self, task: _Task) -> None:
        loop = asyncio.get_running_loop()
        if task.pidfd is not None:
            loop.remove_reader(task.pidfd)
            os.close(task.pidfd)
            task.pidfd = None
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(task.state.shim_pid, os.WNOHANG)  # ours to reap when we spawned it
        self._record_exit(task)
        if task.pump is not None:
            task.pump.close()
            task.pump = None
        task.exited.set()
        # Off the loop: replacing the state file costs an ext4 data flush.
        loop.run_in_executor(None, _save_quietly, task.dir, task.state)
        if self.on_exit is not None:
            self.on_exit(task.state.pod_uid)

    def _record_exit(self, task: _Task) -> None:
        st = task.state
        if st.exit_code is not None:
            return
        self._read_pid(task)
        exit_file = os.path.join(task.dir, "exit")
        try:
            with open(exit_file) as f:
                st.exit_code = int(f.read().strip() or "255")
            st.finished_at = os.path.getmtime(exit_file)
        except (OSError, ValueError):
            # The shim died with its container (SIGKILL to the group) or vanished.
            st.exit_code = 137
            st.finished_at = time.time()
            if not st.killed:
                st.message = "the container's process disappeared; exit code unknown"
        st.reason = "Completed" if st.exit_code == 0 else "Error"

    def _read_pid(self, task: _Task) -> int:
        if not task.state.pid:
            with contextlib.suppress(OSError, ValueError), open(os.path.join(task.dir, "pid")) as f:
                task.state.pid = int(f.read().strip())
        return task.state.pid

    def _status(self, task: _Task) -> ContainerStatus:
        st = task.state
        if st.exit_code is not None:
            state = "exited"
        elif st.started_at is not None:
            state = "running"
        else:
            state = "created"
        return ContainerStatus(
            id=st.id, pod_uid=st.pod_uid, name=st.name, attempt=st.attempt, image=st.image, state=state,
            pid=self._read_pid(task) or None, created_at=st.created_at, started_at=st.started_at,
            finished_at=st.finished_at, exit_code=st.exit_code, reason=st.reason, message=st.message,
            log_path=self._log_path(st), labels=dict(st.labels))

    def container_status(self, container_id: str) -> ContainerStatus | None:
        task = self._tasks.get(container_id)
        return self._status(task) if task else None

    def list_containers(self, pod_uid: str | None = None) -> list[ContainerStatus]:
        return [self._status(t) for t in self._tasks.values() if pod_uid is None or t.state.pod_uid == pod_uid]

    async def stop_container(self, container_id: str, *, grace_period: float) -> None:
        task = self._tasks.get(container_id)
        if task is None or task.state.exit_code is not None or task.exited.is_set():
            return
        pgid = task.state.shim_pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            await asyncio.wait_for(task.exited.wait(), timeout=max(grace_period, 0.0))
            return
        except TimeoutError:
            pass
        task.state.killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task.exited.wait(), timeout=10)

    async def remove_container(self, container_id: str) -> None:
        task = self._tasks.pop(container_id, None)
        if task is None:
            return
        if task.state.exit_code is None and not task.exited.is_set():
            self._tasks[container_id] = task
            await self.stop_container(container_id, grace_period=0)
            self._tasks.pop(container_id, None)
        if task.pidfd is not None:
            asyncio.get_running_loop().remove_reader(task.pidfd)
            os.close(task.pidfd)
            task.pidfd = None
        if task.pump is not None:
            task.pump.close()
            task.pump = None
        log_path = self._log_path(task.state)
        await asyncio.to_thread(_rmtree, task.dir)
        with contextlib.suppress(OSError):
            os.unlink(log_path)

    async def exec_sync(self, container_id: str, argv: Sequence[str], *, timeout: float) -> ExecResult:
        task = self._tasks.get(container_id)
        if task is None or task.state.exit_code is not None:
            return ExecResult(exit_code=126, output=b"container is not running")
        st = task.state
        config = ContainerConfig(pod_uid=st.pod_uid, pod_namespace=st.pod_namespace, pod_name=st.pod_name,
                                 name=st.name, attempt=st.attempt, image=st.image, argv=tuple(st.argv),
                                 env=tuple((k, v) for k, v in st.env), working_dir=st.working_dir)
        cmd = exec_argv(config, pid=self._read_pid(task), argv=list(argv), as_root=self.as_root,
                        container_dir=task.dir)
        proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return ExecResult(exit_code=-1, output=b"", timed_out=True)
        return ExecResult(exit_code=proc.returncode, output=out)

    def container_stats(self, container_id: str) -> ContainerStats | None:
        task = self._tasks.get(container_id)
        pid = self._read_pid(task) if task else 0
        if not pid or task.state.exit_code is not None:
            return None
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{pid}/statm", "rb") as f:
                rss_pages = int(f.read().split()[1])
        except OSError:
            return None
        ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        return ContainerStats(cpu_seconds=ticks / _CLK_TCK, memory_rss_bytes=rss_pages * _PAGE)

    # -- recovery ----------------------------------------------------------
    async def recover(self) -> list[ContainerStatus]:
        """Adopt the containers of a previous run: live shims are watched
        again (their log pipes reopened), dead ones get their exit recorded."""
        found = await asyncio.to_thread(self._scan)
        for cdir, state in found:
            if state.id in self._tasks:
                continue
            task = _Task(state, cdir)
            self._tasks[state.id] = task
            if state.exit_code is not None:
                task.exited.set()
                continue
            alive = state.shim_pid and _start_ticks(state.shim_pid) == state.shim_start_ticks
            if alive:
                try:
                    task.pump = LogPump(stdout_fifo=os.path.join(cdir, "stdout.fifo"),
                                        stderr_fifo=os.path.join(cdir, "stderr.fifo"),
                                        log_path=self._log_path(state), max_size=self.log_max_size,
                                        max_files=self.log_max_files)
                except OSError as e:
                    log.warning("container %s: log pipes not reopened: %s", state.id, e)
                self._watch(task, state.shim_pid)
                log.info("adopted container %s/%s (%s) pid %s", state.pod_name, state.name, state.id,
                         self._read_pid(task))
            else:
                self._record_exit(task)
                task.exited.set()
                save_state(cdir, state)
        return self.list_containers()

    def _scan(self) -> list[tuple[str, TaskState]]:
        out = []
        for uid in self.list_sandboxes():
            sdir = self._sandbox_dir(uid)
            with contextlib.suppress(OSError):
                for entry in os.listdir(sdir):
                    cdir = os.path.join(sdir, entry)
                    state = load_state(cdir) if os.path.isdir(cdir) else None
                    if state is not None:
                        out.append((cdir, state))
        return out

    async def close(self) -> None:
        await self._spawner.close()
        loop = asyncio.get_running_loop()
        for task in self._tasks.values():
            if task.pidfd is not None:
                loop.remove_reader(task.pidfd)
                os.close(task.pidfd)
                task.pidfd = None
            if task.pump is not None:
                task.pump.close()
                task.pump = None


def _save_quietly(directory: str, state: TaskState) -> None:
    with contextlib.suppress(OSError):
        save_state(directory, state)


def _rmtree(path: str) -> None:
    """Remove a directory tree, refusing to descend into mount points (a
    leftover bind mount must never take host files with it)."""
    if not os.path.lexists(path):
        return
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    if any(m == real or m.startswith(real.rstrip("/") + "/") for m in mounts):
        for m in sorted((m for m in mounts if m == real or m.startswith(real.rstrip("/") + "/")), reverse=True):
            os.system(f"umount -l '{m}' 2>/dev/null")  # noqa: S605 - path is our own directory
    shutil.rmtree(path, ignore_errors=True)
