"""The kubelet's side of the spawn helper (spawn_helper.py): a pre-started
small process that forks containers on request, so the kubelet's event loop
never pays for fork+exec of its own (large) process, nor for the dozen
executables a shell-built container used to cost.

:meth:`Spawner.spawn` sends a launch spec and returns the shim's pid, its
kernel start time, the read ends of the container's output pipes, its log
file, and a pipe that delivers the container's pid once it runs its command. A
helper is started on first use and again if it died (a request in flight
then fails with ``OSError``); :meth:`close` ends them — containers they
started keep running, as they must across a kubelet restart.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import os
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["Spawner", "Spawned", "HELPER_PATH"]

log = logging.getLogger(__name__)

HELPER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spawn_helper.py")


@dataclass(frozen=True, slots=True)
class Spawned:
    shim_pid: int
    start_ticks: int
    started_at: float
    stdout_fd: int
    stderr_fd: int
    log_fd: int
    ready_fd: int  # the container's pid arrives here once it runs its command


class _Helper:
    """One running helper process and its two sockets."""

    def __init__(self) -> None:
        req_parent, req_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        rep_parent, rep_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # -I -S: no site-packages, no environment; the helper needs only the stdlib.
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", HELPER_PATH, str(req_child.fileno()), str(rep_child.fileno())],
                pass_fds=(req_child.fileno(), rep_child.fileno()), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, close_fds=True)
        except BaseException:
            for s in (req_parent, rep_parent):
                s.close()
            raise
        finally:
            req_child.close()
            rep_child.close()
        req_parent.setblocking(False)
        rep_parent.setblocking(False)
        self.req = req_parent
        self.rep = rep_parent
        self.pending: collections.deque[tuple[int, asyncio.Future]] = collections.deque()
        self.send_lock = asyncio.Lock()
        self.dead = False


class Spawner:
    """``helpers`` helper processes (default: one per CPU, at most 4), each
    handling its requests in order; a request goes to the one with the
    fewest in flight, so a burst of starts uses every core."""

    def __init__(self, *, helpers: int | None = None) -> None:
        self._slots: list[_Helper | None] = [None] * max(1, helpers or min(os.cpu_count() or 1, 4))
        self._start_lock = asyncio.Lock()
        self._ids = itertools.count(1)

    async def _ensure(self) -> _Helper:
        """The least busy helper, started (again) if it is not running."""
        i = min(range(len(self._slots)), key=lambda j: _load(self._slots[j]))
        h = self._slots[i]
        if h is not None and not h.dead:
            return h
        async with self._start_lock:
            h = self._slots[i]
            if h is not None and not h.dead:
                return h
            if h is not None:
                await self._reap(h)
            h = await asyncio.to_thread(_Helper)
            asyncio.get_running_loop().add_reader(h.rep.fileno(), self._on_reply, h)
            self._slots[i] = h
            log.debug("spawn helper started (pid %d)", h.proc.pid)
            return h

    async def spawn(self, spec: dict) -> Spawned:
        """Launch one container (spec from launcher.launch_spec). Raises OSError."""
        h = await self._ensure()
        rid = next(self._ids)
        body = json.dumps({**spec, "id": rid}).encode()
        fut = asyncio.get_running_loop().create_future()
        async with h.send_lock:  # a request is written whole before the next one starts
            if h.dead:
                raise OSError("the spawn helper exited")
            h.pending.append((rid, fut))
            try:
                await asyncio.get_running_loop().sock_sendall(h.req, struct.pack("!I", len(body)) + body)
            except OSError:
                self._fail(h, "the spawn helper is gone")
                raise
        reply, fds = await fut
        if "error" in reply:
            raise OSError(reply.get("errno") or 0, reply["error"])
        if len(fds) != 4:
            for fd in fds:
                os.close(fd)
            raise OSError("the spawn helper sent no log pipes")
        return Spawned(shim_pid=reply["shim_pid"], start_ticks=reply["start_ticks"],
                       started_at=reply["started_at"], stdout_fd=fds[0], stderr_fd=fds[1], log_fd=fds[2],
                       ready_fd=fds[3])

    def _on_reply(self, h: _Helper) -> None:
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(h.rep, 65536, 4)
            except BlockingIOError:
                return
            except OSError as e:
                self._fail(h, f"the spawn helper is gone: {e}")
                return
            if not msg:
                self._fail(h, "the spawn helper exited")
                return
            reply = json.loads(msg)
            if not h.pending:
                for fd in fds:
                    os.close(fd)
                continue
            rid, fut = h.pending.popleft()
            if reply.get("id") != rid:
                log.error("spawn helper answered request %s, expected %s", reply.get("id"), rid)
            if fut.done():
                for fd in fds:
                    os.close(fd)
            else:
                fut.set_result((reply, fds))

    def _fail(self, h: _Helper, why: str, *, quiet: bool = False) -> None:
        if h.dead:
            return
        h.dead = True
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(h.rep.fileno())
        while h.pending:
            _rid, fut = h.pending.popleft()
            if not fut.done():
                fut.set_exception(OSError(why))
        if not quiet:
            log.warning("%s (pid %d)", why, h.proc.pid)

    async def _reap(self, h: _Helper) -> None:
        for s in (h.req, h.rep):
            s.close()
        try:
            await asyncio.to_thread(h.proc.wait, 5)
        except subprocess.TimeoutExpired:
            h.proc.kill()
            await asyncio.to_thread(h.proc.wait)

    async def close(self) -> None:
        """End the helpers (end of file on their request sockets); containers keep running."""
        helpers = [h for h in self._slots if h is not None]
        self._slots = [None] * len(self._slots)
        for h in helpers:
            self._fail(h, "the kubelet stopped the spawn helper", quiet=True)
        await asyncio.gather(*(self._reap(h) for h in helpers))

    def helper_pids(self) -> list[int]:
        """Pids of the running helpers."""
        return [h.proc.pid for h in self._slots if h is not None and not h.dead]


def _load(h: _Helper | None) -> int:
    """Requests in flight; a helper not running yet counts as busy, so live
    helpers are used first and others started only when those are busy."""
    if h is None or h.dead:
        return 1
    return len(h.pending)
