"""Container logs through the engine's log API, kept as CRI log files.

The kubelet serves logs from CRI-format files (see logs.py), whatever the
runtime. :class:`EngineLogPump` follows one container's log through the
Docker Engine API (``GET /containers/{id}/logs?follow=1&timestamps=1``), one
blocking thread per stream (stdout, stderr: a separate request each keeps the
stream of every line without demultiplexing by hand), and appends
``<RFC3339Nano> <stream> <F|P> <text>`` lines to the container's log file,
rotating it past ``max_size``.

Timestamps are the engine's (Podman's service gives whole seconds, Docker
nanoseconds), written with nine fractional digits. A pump started again for
the same container (a restarted kubelet) resumes without duplicating lines:
it asks for the log since the second of the last line it wrote for that
stream and skips as many lines of that second as it already has.

Follows end when the container exits (the engine closes the stream after the
last line); ``on_end`` is then called — from a pump thread — once both
streams finished, so an exit seen through it comes after the complete log.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import threading
import time
from collections.abc import Callable

from .logs import MAX_LINE

__all__ = ["EngineLogPump", "normalize_timestamp", "last_second_counts"]

log = logging.getLogger(__name__)


def normalize_timestamp(ts: bytes) -> bytes:
    """An RFC 3339 UTC timestamp with exactly nine fractional digits."""
    ts = ts.rstrip(b"Z")
    base, _, frac = ts.partition(b".")
    return base + b"." + (frac + b"000000000")[:9] + b"Z"


def _second(ts: bytes) -> bytes:
    return ts[:19]


def last_second_counts(path: str) -> dict[bytes, tuple[bytes, int]]:
    """Per stream: (the second of its last line, how many of its lines carry
    that second) in the log file at ``path`` (empty if there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4 * 1024 * 1024))
            data = f.read()
    except OSError:
        return {}
    out: dict[bytes, tuple[bytes, int]] = {}
    done: set[bytes] = set()
    for line in reversed(data.split(b"\n")):
        parts = line.split(b" ", 3)
        if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[1] in done:
            continue
        if parts[2] == b"P":
            continue  # a continuation: counted with its final (F) part
        stream, sec = parts[1], _second(parts[0])
        seen = out.get(stream)
        if seen is None:
            out[stream] = (sec, 1)
        elif seen[0] == sec:
            out[stream] = (sec, seen[1] + 1)
        else:
            done.add(stream)
    return out


class _Writer:
    """Appends CRI lines to the log file (shared by both stream threads)."""

    def __init__(self, path: str, *, max_size: int, max_files: int):
        self.path = path
        self.max_size = max_size
        self.max_files = max_files
        self.lock = threading.Lock()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._out = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the pump
        self._size = self._out.tell()

    def write(self, data: bytes) -> None:
        with self.lock:
            if self._out.closed:
                return
            if self._size + len(data) > self.max_size and self._size > 0:
                self._rotate()
            self._out.write(data)
            self._size += len(data)

    def _rotate(self) -> None:
        self._out.close()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        rotated, n = f"{self.path}.{stamp}", 0
        while os.path.exists(rotated):
            n += 1
            rotated = f"{self.path}.{stamp}.{n}"
        os.replace(self.path, rotated)
        old = sorted(glob.glob(glob.escape(self.path) + ".*"), key=os.path.getmtime)
        for p in old[: max(0, len(old) - (self.max_files - 1))]:
            with contextlib.suppress(OSError):
                os.unlink(p)
        self._out = open(self.path, "ab", buffering=0)  # noqa: SIM115
        self._size = 0

    def close(self) -> None:
        with self.lock:
            self._out.close()


class EngineLogPump:
    """Follows a container's stdout and stderr into its CRI log file."""

    def __init__(self, client, container_id: str, *, log_path: str, max_size: int = 10 * 1024 * 1024,
                 max_files: int = 5, tty: bool = False, on_end: Callable[[EngineLogPump], None] | None = None):
        self.client = client
        self.container_id = container_id
        self.log_path = log_path
        self.on_end = on_end
        self.tty = tty
        self._writer = _Writer(log_path, max_size=max_size, max_files=max_files)
        self._resume = last_second_counts(log_path)
        self._streams: list = []
        self._lock = threading.Lock()
        self._running = 0
        self.closed = False
        self.ended = threading.Event()

    def start(self) -> None:
        streams = ((b"stdout",),) if self.tty else ((b"stdout",), (b"stderr",))
        self._running = len(streams)
        for (stream,) in streams:
            threading.Thread(target=self._follow, args=(stream,), daemon=True,
                             name=f"logs-{self.container_id[:12]}-{stream.decode()}").start()

    def _follow(self, stream: bytes) -> None:
        resume_sec, skip = self._resume.get(stream, (b"", 0))
        kwargs = {}
        if resume_sec:
            kwargs["since"] = int(_epoch(resume_sec))
        try:
            response = self.client.api.logs(self.container_id, stdout=stream == b"stdout",
                                            stderr=stream == b"stderr", stream=True, follow=True, timestamps=True,
                                            **kwargs)
            with self._lock:
                if self.closed:
                    response.close()
                    return
                self._streams.append(response)
            buf = bytearray()
            for chunk in response:
                buf += chunk
                lines = buf.split(b"\n")
                buf[:] = lines.pop()
                out = []
                for raw in lines:
                    ts, _, text = raw.partition(b" ")
                    if skip and _second(ts) == resume_sec:
                        skip -= 1
                        continue
                    skip = 0
                    out.append(_cri(normalize_timestamp(ts), stream, text))
                if out:
                    self._writer.write(b"".join(out))
            if buf:
                ts, _, text = bytes(buf).partition(b" ")
                self._writer.write(_cri(normalize_timestamp(ts), stream, text))
        except Exception as e:  # noqa: BLE001 - the engine went away or we closed the stream
            if not self.closed:
                log.debug("log stream %s of %s ended: %s", stream.decode(), self.container_id[:12], e)
        finally:
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self.ended.set()
                if not self.closed and self.on_end is not None:
                    self.on_end(self)

    def close(self) -> None:
        """Stop following (the container may keep running); safe from any thread."""
        with self._lock:
            self.closed = True
            streams, self._streams = self._streams, []
        for s in streams:
            with contextlib.suppress(Exception):
                s.close()
        self._writer.close()


def _cri(ts: bytes, stream: bytes, text: bytes) -> bytes:
    out = []
    while len(text) > MAX_LINE:
        out.append(b"%s %s P %s\n" % (ts, stream, text[:MAX_LINE]))
        text = text[MAX_LINE:]
    out.append(b"%s %s F %s\n" % (ts, stream, text))
    return b"".join(out)


def _epoch(sec: bytes) -> float:
    import calendar
    return calendar.timegm(time.strptime(sec.decode(), "%Y-%m-%dT%H:%M:%S"))
