"""NodeTable: every node's numbers as columns, for whole-cluster filtering and scoring.

Each NodeInfo owns a slot (row). The cache calls ``sync(node_info)`` after any
change, which rewrites that row only; a filter or score over 5,000 nodes is
then a handful of numpy expressions instead of a Python loop per node.

Answers that depend only on the node (labels, taints, readiness) and on a pod
property shared by many pods (its selector, its tolerations) are kept as
*static columns*: computed once per key, then patched row by row when a node
is added or its scheduling properties change (heartbeats do not count).

*Derived columns* hold per-node answers that also depend on the node's pods
(a resource fit, a resource score) for one pod shape (its requests): built
vectorised once, then rewritten row by row by ``sync`` as pods come and go,
so a decision for the next pod of the same shape is one gather. A shape gets
a column only once it is seen a second time (a replica of the same template),
so a stream of one-off shapes costs no per-sync upkeep.

numpy is optional: without it ``vector`` is False, the columns are absent and
the framework runs every plugin's per-node hook instead.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from .node_info import NodeInfo

try:
    import numpy as np
except ImportError:  # pragma: no cover - exercised only where numpy is missing
    np = None

__all__ = ["NodeTable", "np"]

_COLUMNS = ("alloc_cpu", "alloc_mem", "alloc_eph", "alloc_pods", "req_cpu", "req_mem", "req_eph",
            "req_pods", "nz_cpu", "nz_mem")
_MAX_STATIC = 256
_MAX_DERIVED = 12  # each is rewritten on every sync: keep few (3 per pod shape with the default plugins)
_MAX_SHAPES_SEEN = 64


class NodeTable:
    """Slots of NodeInfos plus (with numpy) int64 columns and cached static columns."""

    def __init__(self, *, vector: bool = True, capacity: int = 64) -> None:
        self.vector = vector and np is not None
        self.infos: list[NodeInfo | None] = []
        self._free: list[int] = []
        self._capacity = 0
        self.live: Any = None
        self._static: OrderedDict[Hashable, tuple[Any, Callable[[NodeInfo], Any]]] = OrderedDict()
        self._derived: OrderedDict[Hashable, tuple[Any, Callable[[NodeInfo], Any]]] = OrderedDict()
        self._derived_seen: OrderedDict[Hashable, None] = OrderedDict()
        self._static_any: dict[Hashable, bool] = {}  # memo of static_any, dropped on any row change
        if self.vector:
            self._grow(capacity)

    # -- rows ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.infos) - len(self._free)

    def __iter__(self) -> Iterator[NodeInfo]:
        return (ni for ni in self.infos if ni is not None)

    @property
    def size(self) -> int:
        """Number of slots in use or free (the length of the meaningful column prefix)."""
        return len(self.infos)

    def add(self, ni: NodeInfo) -> None:
        if self._free:
            slot = self._free.pop()
            self.infos[slot] = ni
        else:
            slot = len(self.infos)
            self.infos.append(ni)
            if self.vector and slot >= self._capacity:
                self._grow(self._capacity * 2)
        ni.slot = slot
        self.sync(ni)
        self.refresh_static(ni)

    def remove(self, ni: NodeInfo) -> None:
        slot = ni.slot
        if slot < 0 or self.infos[slot] is not ni:
            return
        self.infos[slot] = None
        self._free.append(slot)
        ni.slot = -1
        if self.vector:
            self.live[slot] = False
            self._static_any.clear()
            for arr, _fn in self._static.values():
                arr[slot] = 0
            for arr, _fn in self._derived.values():
                arr[slot] = 0

    def sync(self, ni: NodeInfo) -> None:
        """Copy the node's sums into its row (O(1))."""
        if not self.vector:
            return
        s = ni.slot
        a, r = ni.allocatable, ni.requested
        self.alloc_cpu[s] = a.milli_cpu
        self.alloc_mem[s] = a.memory
        self.alloc_eph[s] = a.ephemeral_storage
        self.alloc_pods[s] = a.allowed_pods
        self.req_cpu[s] = r.milli_cpu
        self.req_mem[s] = r.memory
        self.req_eph[s] = r.ephemeral_storage
        self.req_pods[s] = len(ni.pods)
        self.nz_cpu[s] = ni.nonzero_cpu
        self.nz_mem[s] = ni.nonzero_mem
        self.live[s] = True
        for arr, fn in self._derived.values():
            arr[s] = fn(ni)

    def _grow(self, capacity: int) -> None:
        old = self._capacity
        for name in _COLUMNS:
            col = np.zeros(capacity, dtype=np.int64)
            if old:
                col[:old] = getattr(self, name)
            setattr(self, name, col)
        live = np.zeros(capacity, dtype=bool)
        if old:
            live[:old] = self.live
        self.live = live
        for cols in (self._static, self._derived):
            for key, (arr, fn) in list(cols.items()):
                new = np.zeros(capacity, dtype=arr.dtype)
                new[:old] = arr
                cols[key] = (new, fn)
        self._capacity = capacity

    # -- static columns -----------------------------------------------------
    def static_column(self, key: Hashable, fn: Callable[[NodeInfo], Any], dtype: Any = bool) -> Any:
        """``fn(node_info)`` for every slot (0/False on free slots), cached under ``key``.

        ``fn`` must depend only on the node's scheduling properties, never on its pods.
        """
        hit = self._static.get(key)
        if hit is not None:
            self._static.move_to_end(key)
            return hit[0]
        arr = np.zeros(self._capacity, dtype=dtype)
        for ni in self.infos:
            if ni is not None:
                arr[ni.slot] = fn(ni)
        self._static[key] = (arr, fn)
        self._static_any.pop(key, None)
        if len(self._static) > _MAX_STATIC:
            self._static_any.pop(self._static.popitem(last=False)[0], None)
        return arr

    def derived_column(self, key: Hashable, row: Callable[[NodeInfo], Any],
                       build: Callable[[slice], Any], dtype: Any) -> Any:
        """The cached column for ``key`` (one pod shape), or None when the shape is new.

        ``build(slice(0, size))`` computes the values of those slots at once,
        ``row(node_info)`` one slot's; they must agree. Cached columns follow
        every ``sync``. None tells the caller to compute what it needs directly.
        """
        hit = self._derived.get(key)
        if hit is not None:
            self._derived.move_to_end(key)
            return hit[0]
        if key not in self._derived_seen:
            self._derived_seen[key] = None
            if len(self._derived_seen) > _MAX_SHAPES_SEEN:
                self._derived_seen.popitem(last=False)
            return None
        del self._derived_seen[key]
        arr = np.zeros(self._capacity, dtype=dtype)
        n = self.size
        if n:
            arr[:n] = build(slice(0, n))
            if self._free:
                arr[self._free] = 0
        self._derived[key] = (arr, row)
        if len(self._derived) > _MAX_DERIVED:
            self._derived.popitem(last=False)
        return arr

    def static_any(self, key: Hashable) -> bool:
        """Whether the cached static column ``key`` is non-zero on some slot (memoized)."""
        hit = self._static_any.get(key)
        if hit is None:
            hit = self._static_any[key] = bool(self._static[key][0].any())
        return hit

    def refresh_static(self, ni: NodeInfo) -> None:
        """Recompute the node's row in every cached static column (after a property change)."""
        if not self.vector:
            return
        self._static_any.clear()
        for arr, fn in self._static.values():
            arr[ni.slot] = fn(ni)
