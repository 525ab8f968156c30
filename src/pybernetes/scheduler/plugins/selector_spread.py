"""SelectorSpread: spread pods of the same Service / ReplicationController across nodes.

PreScore collects the selectors of the Services and ReplicationControllers
(and ReplicaSets/StatefulSets where listed) in the pod's namespace that select
it; a node scores by how few pods matching any of them it already runs
(reverse-normalized, 100 for the emptiest). Pods selected by nothing skip it.
Zones are not weighted.
"""

from __future__ import annotations

from ...api.labels import Selector, from_label_selector, from_set
from ..framework import Code, Plugin, Status
from ..node_table import np
from .normalize import default_normalize, default_normalize_batch

__all__ = ["SelectorSpread", "selectors_for"]

_KEY = "SelectorSpread"
_SKIP = Status(Code.SKIP, plugin=_KEY)  # made once: a frozen dataclass is slow to build per pod


def selectors_for(pod, listers) -> list[Selector]:
    """Selectors of the controllers and services in the pod's namespace that select it."""
    out: list[Selector] = []
    ns, labels = pod.namespace, pod.labels
    for kind in ("services", "replicationcontrollers"):
        for obj in listers.list(kind, ns):
            sel = (obj.get("spec") or {}).get("selector")
            if sel:
                s = from_set(sel)
                if s.matches(labels):
                    out.append(s)
    for kind in ("replicasets", "statefulsets"):
        for obj in listers.list(kind, ns):
            try:
                s = from_label_selector((obj.get("spec") or {}).get("selector"))
            except ValueError:
                continue
            if not s.empty() and s.matches(labels):
                out.append(s)
    return out


def _matching(pod, other, selectors) -> bool:
    return (other.namespace == pod.namespace and not other.terminating
            and any(s.matches(other.labels) for s in selectors))


class SelectorSpread(Plugin):
    name = "SelectorSpread"

    def __init__(self, handle) -> None:
        self.handle = handle

    def pre_score(self, state, pod, nodes) -> Status | None:
        selectors = selectors_for(pod, self.handle.listers)
        state[_KEY] = selectors
        return None if selectors else _SKIP

    def _selectors(self, state, pod):
        if _KEY not in state:
            state[_KEY] = selectors_for(pod, self.handle.listers)
        return state[_KEY]

    def score(self, state, pod, node_info) -> int:
        selectors = self._selectors(state, pod)
        if not selectors:
            return 0
        return sum(1 for other in node_info.pods.values() if _matching(pod, other, selectors))

    def normalize(self, state, pod, scores: list[int]) -> None:
        default_normalize(scores, reverse=True)

    def score_batch(self, state, pod, table, slots):
        selectors = self._selectors(state, pod)
        counts = np.zeros(table.size, dtype=np.int64)
        if selectors:
            # walk the namespace's pods, not every node's pods
            cache = self.handle.cache
            for other, node_name in cache.pods_in_namespace(pod.namespace):
                if _matching(pod, other, selectors):
                    ni = cache.nodes.get(node_name)
                    if ni is not None and ni.slot >= 0:
                        counts[ni.slot] += 1
        return default_normalize_batch(counts[slots], reverse=True)
