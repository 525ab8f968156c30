"""NodeUnschedulable: cordoned nodes (``spec.unschedulable``) take no new pods.

Unless the pod tolerates the ``node.kubernetes.io/unschedulable`` NoSchedule taint.
"""

from __future__ import annotations

from ..framework import Plugin, Status, unschedulable
from ..taints import NO_SCHEDULE, TAINT_UNSCHEDULABLE, tolerates_any

__all__ = ["NodeUnschedulable", "ERR_REASON_UNSCHEDULABLE", "fits"]

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
_TAINT = {"key": TAINT_UNSCHEDULABLE, "effect": NO_SCHEDULE}


_EXEMPT: dict[bytes, bool] = {}  # by the pod's tolerations: pods of one template share them


def _exempt(pod) -> bool:
    if not pod.tolerations:
        return False
    hit = _EXEMPT.get(pod.tolerations_key)
    if hit is None:
        if len(_EXEMPT) >= 1024:
            _EXEMPT.clear()
        hit = _EXEMPT[pod.tolerations_key] = tolerates_any(pod.tolerations, _TAINT)
    return hit


def fits(pod, node_info) -> bool:
    return not node_info.unschedulable or _exempt(pod)


class NodeUnschedulable(Plugin):
    name = "NodeUnschedulable"

    def filter(self, state, pod, node_info) -> Status | None:
        if fits(pod, node_info):
            return None
        return unschedulable(ERR_REASON_UNSCHEDULABLE, resolvable=False, plugin=self.name)

    def filter_batch(self, state, pod, table):
        if _exempt(pod):
            return None
        return table.static_column((self.name,), lambda ni: not ni.unschedulable)
