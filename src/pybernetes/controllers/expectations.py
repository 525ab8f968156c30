"""Controller expectations (Kubernetes' `ControllerExpectations`).

A controller that creates or deletes pods records how many creations and
deletions it expects to *see* through its informer before it trusts the cache
again. Until they are observed (or the record expires), `satisfied(key)` is
False and the controller must not act on the cache's pod count — which is what
keeps a slow watch from causing a second round of creations.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

__all__ = ["Expectations", "EXPECTATIONS_TTL"]

# As Kubernetes: a record older than this no longer blocks a sync, so a lost
# watch event cannot wedge a controller forever.
EXPECTATIONS_TTL = 5 * 60.0


@dataclass(slots=True)
class _Record:
    add: int = 0
    delete: int = 0
    # Pod keys whose deletion we expect (a deletion is counted once per key).
    deleting: set[str] = field(default_factory=set)
    stamp: float = 0.0


class Expectations:
    """Per-controller-key counts of pending creations and deletions.

    Thread/task safe; all methods are cheap. ``clock`` is injectable for tests.
    """

    def __init__(self, *, ttl: float = EXPECTATIONS_TTL, clock=time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}

    def satisfied(self, key: str) -> bool:
        """True when nothing is pending, the record expired, or none exists."""
        with self._lock:
            r = self._records.get(key)
            if r is None:
                return True
            if r.add <= 0 and r.delete <= 0:
                return True
            return self._clock() - r.stamp > self._ttl

    def expect_creations(self, key: str, count: int) -> None:
        with self._lock:
            self._records[key] = _Record(add=count, stamp=self._clock())

    def expect_deletions(self, key: str, pod_keys: list[str]) -> None:
        with self._lock:
            self._records[key] = _Record(delete=len(pod_keys), deleting=set(pod_keys), stamp=self._clock())

    def creation_observed(self, key: str) -> None:
        """A pod we created showed up (or a creation we expected never happened)."""
        with self._lock:
            r = self._records.get(key)
            if r is not None and r.add > 0:
                r.add -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """A pod we deleted is gone (or marked), or its delete failed."""
        with self._lock:
            r = self._records.get(key)
            if r is not None and pod_key in r.deleting:
                r.deleting.discard(pod_key)
                r.delete -= 1

    def pending(self, key: str) -> tuple[int, int]:
        with self._lock:
            r = self._records.get(key)
            return (r.add, r.delete) if r else (0, 0)

    def forget(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)
