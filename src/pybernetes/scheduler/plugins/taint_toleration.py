"""TaintToleration: NoSchedule/NoExecute taints repel pods that do not tolerate them.

Score: fewer untolerated PreferNoSchedule taints is better (reverse-normalized).
"""

from __future__ import annotations

from ..framework import MAX_NODE_SCORE, Plugin, Status, unschedulable
from ..node_table import np
from ..taints import NO_EXECUTE, NO_SCHEDULE, PREFER_NO_SCHEDULE, find_untolerated, tolerates_any
from .normalize import default_normalize, default_normalize_batch

__all__ = ["TaintToleration", "untolerated_taint", "prefer_no_schedule_count"]


def _hard(t) -> bool:
    return t.get("effect") in (NO_SCHEDULE, NO_EXECUTE)


def untolerated_taint(pod, node_info):
    """The first NoSchedule/NoExecute taint the pod does not tolerate, or None."""
    if not node_info.taints:
        return None
    return find_untolerated(node_info.taints, pod.tolerations, _hard)


def prefer_no_schedule_count(pod, node_info) -> int:
    tols = [t for t in pod.tolerations if (t.get("effect") or PREFER_NO_SCHEDULE) == PREFER_NO_SCHEDULE]
    return sum(1 for t in node_info.taints
               if t.get("effect") == PREFER_NO_SCHEDULE and not tolerates_any(tols, t))


class TaintToleration(Plugin):
    name = "TaintToleration"

    def filter(self, state, pod, node_info) -> Status | None:
        taint = untolerated_taint(pod, node_info)
        if taint is None:
            return None
        reason = f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"
        return unschedulable(reason, resolvable=False, plugin=self.name)

    def filter_batch(self, state, pod, table):
        return table.static_column((self.name, pod.tolerations_key),
                                   lambda ni: untolerated_taint(pod, ni) is None)

    def score(self, state, pod, node_info) -> int:
        return prefer_no_schedule_count(pod, node_info)

    def normalize(self, state, pod, scores: list[int]) -> None:
        default_normalize(scores, reverse=True)

    def score_batch(self, state, pod, table, slots):
        key = (self.name, "prefer", pod.tolerations_key)
        raw = table.static_column(key, lambda ni: prefer_no_schedule_count(pod, ni), np.int64)
        if not table.static_any(key):  # no node has a PreferNoSchedule taint the pod minds
            return MAX_NODE_SCORE
        return default_normalize_batch(raw[slots], reverse=True)
