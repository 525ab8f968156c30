"""Progress for waits: one live status line on a terminal, plain lines otherwise.

``with Progress("stopping web") as p: p.update("2 of 3 pods left")`` — on a
TTY the line is redrawn in place with a spinner and the elapsed time; in a
pipe or a log each *new* message is printed once, so logs stay readable.
``done()``/``fail()`` end with a final line (✓ / ✗ on a TTY).
"""

from __future__ import annotations

import itertools
import sys
import time
from typing import TextIO

from .output import Style

__all__ = ["Progress"]

_SPIN = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class Progress:
    def __init__(self, title: str, *, stream: TextIO | None = None, tty: bool | None = None):
        self.title = title
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.style = Style(self.tty)
        self.started = time.monotonic()
        self._spin = itertools.cycle(_SPIN)
        self._last = None
        self._open = False

    def __enter__(self) -> Progress:
        if not self.tty:
            print(f"{self.title}...", file=self.stream, flush=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._open:
            self.fail("interrupted" if exc_type is KeyboardInterrupt else "failed")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, message: str) -> None:
        if self.tty:
            line = f"{next(self._spin)} {self.title}: {message} ({self.elapsed:.0f}s)"
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
            self._open = True
        elif message != self._last:
            print(f"  {message}", file=self.stream, flush=True)
        self._last = message

    def _finish(self, mark: str, message: str) -> None:
        text = f"{self.title}: {message}" if message else self.title
        if self.tty:
            self.stream.write("\r\x1b[2K")
            print(f"{mark} {text} ({self.elapsed:.1f}s)", file=self.stream, flush=True)
        else:
            print(f"{text} ({self.elapsed:.1f}s)", file=self.stream, flush=True)
        self._open = False

    def done(self, message: str = "done") -> None:
        self._finish(self.style.green("✓"), message)

    def fail(self, message: str) -> None:
        self._finish(self.style.red("✗"), message)
