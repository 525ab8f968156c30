"""Garbage-collector settings for long-running components.

Components keep large object graphs alive for their whole life (informer
caches, the apiserver's watch history: hundreds of thousands of dicts and
lists) while allocating short-lived JSON trees for every request and event.
With CPython's default thresholds (700 allocations per young collection) the
older generations are re-scanned so often that, under load, collection takes
a tenth or more of a component's CPU (measured with ``bench/scheduler.py``).
JSON trees hold no reference cycles, so reference counting frees them anyway;
the cycle collector only has to run rarely.
"""

from __future__ import annotations

import gc

__all__ = ["tune_gc", "YOUNG_THRESHOLD"]

# allocations (minus deallocations) between young-generation collections; CPython's default is 700
YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collect rarely, and leave the objects alive at startup out of every later collection."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    gc.freeze()  # imported modules and startup state are permanent: never scan them again
