"""CrashLoopBackOff: the delay before a crashed container is started again.

As the kubelet's flowcontrol.Backoff: the first restart is immediate; while a
container keeps failing the delay starts at 10 s and doubles up to 5 min; a
container that ran for 10 min before it exited starts over from zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["CrashLoopBackoff"]


class CrashLoopBackoff:
    def __init__(self, *, initial: float = 10.0, cap: float = 300.0, reset_after: float = 600.0,
                 clock: Callable[[], float] = time.time):
        self.initial = initial
        self.cap = cap
        self.reset_after = reset_after
        self.clock = clock
        self._delay: dict[tuple[str, str], float] = {}

    def remaining(self, key: tuple[str, str], *, started_at: float | None, finished_at: float | None) -> float:
        """Seconds left before the container may restart (0: now)."""
        if finished_at is None:
            return 0.0
        if started_at is not None and finished_at - started_at >= self.reset_after:
            self._delay.pop(key, None)
        delay = self._delay.get(key)
        if delay is None:
            return 0.0
        return max(0.0, finished_at + delay - self.clock())

    def restarted(self, key: tuple[str, str]) -> float:
        """Record a restart; returns the delay the next crash will wait."""
        delay = self._delay.get(key)
        delay = self.initial if delay is None else min(delay * 2, self.cap)
        self._delay[key] = delay
        return delay

    def current(self, key: tuple[str, str]) -> float:
        return self._delay.get(key, self.initial)

    def forget_pod(self, uid: str) -> None:
        for key in [k for k in self._delay if k[0] == uid]:
            del self._delay[key]
