"""Taints and tolerations, as ``v1helper`` matches them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "tolerates",
    "tolerates_any",
    "TaintExemption",
    "find_untolerated",
    "NO_SCHEDULE",
    "NO_EXECUTE",
    "PREFER_NO_SCHEDULE",
    "TAINT_NOT_READY",
    "TAINT_UNSCHEDULABLE",
]

NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE = "NoSchedule", "NoExecute", "PreferNoSchedule"
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"


def tolerates(toleration: Mapping, taint: Mapping) -> bool:
    """``Toleration.ToleratesTaint``: effect (empty = all), key (empty + Exists = all), value."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerates_any(tolerations: Iterable[Mapping], taint: Mapping) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def find_untolerated(taints: Iterable[Mapping], tolerations: Iterable[Mapping],
                     include: Callable[[Mapping], bool]) -> Mapping | None:
    """The first taint selected by ``include`` that no toleration tolerates, or None."""
    tols = list(tolerations)
    for taint in taints:
        if include(taint) and not tolerates_any(tols, taint):
            return taint
    return None


class TaintExemption:
    """Whether a pod tolerates one fixed taint (a node condition's), remembered per
    set of tolerations: pods of one template share them, and every admitted pod
    carries the default not-ready/unreachable ones, so the check repeats per pod."""

    def __init__(self, taint: Mapping, *, size: int = 1024) -> None:
        self.taint = taint
        self._size = size
        self._seen: dict[bytes, bool] = {}

    def __call__(self, pod) -> bool:
        if not pod.tolerations:
            return False
        hit = self._seen.get(pod.tolerations_key)
        if hit is None:
            if len(self._seen) >= self._size:
                self._seen.clear()
            hit = self._seen[pod.tolerations_key] = tolerates_any(pod.tolerations, self.taint)
        return hit
