"""Round-robin endpoint choice with ClientIP session affinity (kube-proxy's
userspace ``LoadBalancerRR``), one :class:`RoundRobin` per service port.

Contract:

- ``update(endpoints)`` replaces the endpoint list. When the set changed, the
  new list is shuffled and the round-robin index restarts (so proxies on
  different nodes do not all start on the same endpoint), and affinity
  records pointing at removed endpoints are dropped. An unchanged set keeps
  both index and affinity.
- ``next(client_ip)`` returns the next endpoint, or raises
  :class:`NoEndpoints`. With affinity on, a client seen within the timeout
  gets its previous endpoint (and the timer restarts); ``reset_affinity=True``
  (a dial to the pinned endpoint failed) skips the pin and re-pins to the
  round-robin choice.
- Connections already established are never touched here: removing an
  endpoint only stops new choices of it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from .endpoints import Endpoint

__all__ = ["RoundRobin", "NoEndpoints"]


class NoEndpoints(Exception):
    """The service port has no ready endpoint."""


class RoundRobin:
    def __init__(self, *, affinity_timeout: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 shuffle: Callable[[list], None] = random.shuffle):
        self.affinity_timeout = affinity_timeout
        self._clock = clock
        self._shuffle = shuffle
        self._endpoints: list[Endpoint] = []
        self._index = 0
        self._affinity: dict[str, tuple[Endpoint, float]] = {}  # client ip -> (endpoint, last used)
        self._picks_since_prune = 0

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(self._endpoints)

    def __bool__(self) -> bool:
        return bool(self._endpoints)

    def set_affinity(self, timeout: float | None) -> None:
        """Turn ClientIP affinity on (timeout seconds) or off (None)."""
        if timeout != self.affinity_timeout:
            self.affinity_timeout = timeout
            self._affinity.clear()

    def update(self, endpoints: Sequence[Endpoint]) -> bool:
        """Replace the endpoints; True if the set changed."""
        new = list(dict.fromkeys(endpoints))
        if set(new) == set(self._endpoints) and len(new) == len(self._endpoints):
            return False
        self._shuffle(new)
        self._endpoints = new
        self._index = 0
        alive = set(new)
        self._affinity = {ip: rec for ip, rec in self._affinity.items() if rec[0] in alive}
        return True

    def next(self, client_ip: str | None = None, *, reset_affinity: bool = False) -> Endpoint:
        eps = self._endpoints
        if not eps:
            raise NoEndpoints
        sticky = self.affinity_timeout is not None and client_ip
        now = self._clock() if sticky else 0.0
        if sticky and not reset_affinity:
            rec = self._affinity.get(client_ip)  # type: ignore[arg-type]
            if rec is not None and now - rec[1] < self.affinity_timeout:  # type: ignore[operator]
                self._affinity[client_ip] = (rec[0], now)  # type: ignore[index]
                return rec[0]
        if self._index >= len(eps):
            self._index = 0
        ep = eps[self._index]
        self._index = (self._index + 1) % len(eps)
        if sticky:
            self._affinity[client_ip] = (ep, now)  # type: ignore[index]
            self._picks_since_prune += 1
            if self._picks_since_prune >= 1024:
                self._prune(now)
        return ep

    def _prune(self, now: float) -> None:
        self._picks_since_prune = 0
        ttl = self.affinity_timeout or 0.0
        self._affinity = {ip: rec for ip, rec in self._affinity.items() if now - rec[1] < ttl}
