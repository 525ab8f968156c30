"""Container logs in the CRI file format, written and read by the kubelet.

Each line a container prints becomes ``<RFC3339Nano> <stream> <F|P> <text>``
in its log file (F: full line, P: a partial line split at ``MAX_LINE``), as
containerd and CRI-O write them, so ``timestamps`` and per-stream output can
be served later. :class:`LogPump` reads a container's stdout/stderr FIFOs on
the event loop and appends to the file, rotating it past ``max_size`` bytes
(keeping ``max_files`` files). :func:`read_log` / :func:`follow_log` serve
``kubectl logs`` options (tail, timestamps, limitBytes, sinceSeconds, follow).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

__all__ = ["LogPump", "open_fifo", "LogOptions", "read_log", "follow_log", "format_timestamp", "parse_line"]

MAX_LINE = 16 * 1024
_READ_CHUNK = 64 * 1024


def format_timestamp(t_ns: int | None = None) -> str:
    t_ns = time.time_ns() if t_ns is None else t_ns
    s, ns = divmod(t_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{ns:09d}Z"


def _parse_timestamp(ts: bytes) -> float:
    base, _, frac = ts.rstrip(b"Z").partition(b".")
    import calendar
    secs = calendar.timegm(time.strptime(base.decode(), "%Y-%m-%dT%H:%M:%S"))
    return secs + (float(b"0." + frac) if frac else 0.0)


def open_fifo(path: str) -> int:
    """Open a FIFO for the pump: read-write so it never reports end-of-file."""
    return os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)


class LogPump:
    """Copies a container's stdout/stderr into its CRI log file.

    ``fds`` are non-blocking read ends of the container's output (pipes, or
    FIFOs opened read-write by :func:`open_fifo`); the pump owns them. The
    writers normally outlive the pump's interest (the shim holds the pipes);
    should every writer go, the stream simply ends. Call :meth:`close` after
    the container exited to drain and stop.
    """

    def __init__(self, *, fds: tuple[int, int], log_path: str, max_size: int = 10 * 1024 * 1024,
                 max_files: int = 5, log_fd: int | None = None):
        self.log_path = log_path
        self.max_size = max_size
        self.max_files = max_files
        self._loop = asyncio.get_running_loop()
        # log_fd: the file already opened for appending (the pump owns it).
        self._out = open(log_path if log_fd is None else log_fd, "ab", buffering=0)  # noqa: SIM115
        self._size = self._out.tell()
        self._fds: dict[int, tuple[bytes, bytearray]] = {}
        for stream, fd in zip((b"stdout", b"stderr"), fds, strict=True):
            self._fds[fd] = (stream, bytearray())
            self._loop.add_reader(fd, self._readable, fd)
        self.closed = False

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            self._loop.remove_reader(fd)
            return
        if not data:  # every writer is gone: nothing more will come
            self._loop.remove_reader(fd)
            return
        self._consume(fd, data)

    def _consume(self, fd: int, data: bytes) -> None:
        stream, buf = self._fds[fd]
        buf += data
        out = []
        ts = format_timestamp().encode()
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line = bytes(buf[:nl])
            del buf[: nl + 1]
            while len(line) > MAX_LINE:
                out.append(b"%s %s P %s\n" % (ts, stream, line[:MAX_LINE]))
                line = line[MAX_LINE:]
            out.append(b"%s %s F %s\n" % (ts, stream, line))
        while len(buf) > MAX_LINE:
            out.append(b"%s %s P %s\n" % (ts, stream, bytes(buf[:MAX_LINE])))
            del buf[:MAX_LINE]
        if out:
            self._write(b"".join(out))

    def _write(self, data: bytes) -> None:
        if self._size + len(data) > self.max_size and self._size > 0:
            self._rotate()
        self._out.write(data)
        self._size += len(data)

    def _rotate(self) -> None:
        self._out.close()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        rotated = f"{self.log_path}.{stamp}"
        n = 0
        while os.path.exists(rotated):
            n += 1
            rotated = f"{self.log_path}.{stamp}.{n}"
        os.replace(self.log_path, rotated)
        old = sorted(glob.glob(glob.escape(self.log_path) + ".*"), key=os.path.getmtime)
        for path in old[: max(0, len(old) - (self.max_files - 1))]:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._out = open(self.log_path, "ab", buffering=0)  # noqa: SIM115
        self._size = 0

    def close(self) -> None:
        """Drain what is buffered in the pipes, flush partial lines, stop."""
        if self.closed:
            return
        self.closed = True
        for fd, (stream, buf) in self._fds.items():
            self._loop.remove_reader(fd)
            while True:
                try:
                    data = os.read(fd, _READ_CHUNK)
                except OSError:
                    break
                if not data:
                    break
                self._consume(fd, data)
            if buf:
                self._write(b"%s %s F %s\n" % (format_timestamp().encode(), stream, bytes(buf)))
                buf.clear()
            os.close(fd)
        self._out.close()


def parse_line(raw: bytes) -> tuple[bytes, bytes, bool, bytes] | None:
    """(timestamp, stream, full, text) of one CRI log line (without newline)."""
    parts = raw.split(b" ", 3)
    if len(parts) < 3:
        return None
    if len(parts) == 3:
        parts.append(b"")
    ts, stream, tag, text = parts
    return ts, stream, tag != b"P", text


@dataclass(frozen=True, slots=True)
class LogOptions:
    tail_lines: int | None = None
    timestamps: bool = False
    limit_bytes: int | None = None
    since_seconds: float | None = None
    since_time: float | None = None  # unix seconds

    def render(self, raw: bytes) -> bytes | None:
        parsed = parse_line(raw)
        if parsed is None:
            return None
        ts, _stream, full, text = parsed
        since = self.since_time
        if self.since_seconds is not None:
            since = max(since or 0.0, time.time() - self.since_seconds)
        if since is not None:
            try:
                if _parse_timestamp(ts) < since:
                    return None
            except ValueError:
                pass
        out = text + (b"\n" if full else b"")
        return ts + b" " + out if self.timestamps else out


def read_log(path: str, opts: LogOptions) -> bytes:
    """The whole (or the tail of the) log as kubectl shows it."""
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return b""
    with f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    rendered = [r for r in (opts.render(ln) for ln in lines) if r is not None]
    if opts.tail_lines is not None:
        rendered = list(deque(rendered, maxlen=max(opts.tail_lines, 0)))
    data = b"".join(rendered)
    if opts.limit_bytes is not None:
        data = data[: opts.limit_bytes]
    return data


async def follow_log(path: str, opts: LogOptions, *, running: Callable[[], bool],
                     poll: float = 0.1) -> AsyncIterator[bytes]:
    """Yield the log (honouring tail) then new lines as they are written,
    following rotation, until the container stopped and the file is drained."""
    try:
        f = open(path, "rb")  # noqa: SIM115, ASYNC230 - a local file, opened once
    except FileNotFoundError:
        return
    try:
        ino = os.fstat(f.fileno()).st_ino
        *complete, pending = f.read().split(b"\n")
        rendered = [r for r in (opts.render(ln) for ln in complete) if r is not None]
        if opts.tail_lines is not None:
            rendered = list(deque(rendered, maxlen=max(opts.tail_lines, 0)))
        sent = 0
        if rendered:
            out = _limit(b"".join(rendered), opts, sent)
            sent += len(out)
            yield out
        idle_after_exit = 0
        while opts.limit_bytes is None or sent < opts.limit_bytes:
            chunk = f.read(_READ_CHUNK)
            if chunk:
                idle_after_exit = 0
                *complete, pending = (pending + chunk).split(b"\n")
                out = b"".join(r for r in (opts.render(ln) for ln in complete) if r is not None)
                if out:
                    out = _limit(out, opts, sent)
                    sent += len(out)
                    yield out
                continue
            try:
                rotated = os.stat(path).st_ino != ino
            except FileNotFoundError:
                rotated = False
            if rotated:
                f.close()
                f = open(path, "rb")  # noqa: SIM115, ASYNC230
                ino = os.fstat(f.fileno()).st_ino
                continue
            if not running():
                # The pump drains the pipes right after the exit: give it a moment.
                idle_after_exit += 1
                if idle_after_exit > 2:
                    return
            await asyncio.sleep(poll)
    finally:
        f.close()


def _limit(data: bytes, opts: LogOptions, sent: int) -> bytes:
    if opts.limit_bytes is None:
        return data
    return data[: max(0, opts.limit_bytes - sent)]
