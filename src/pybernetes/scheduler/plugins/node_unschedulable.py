"""NodeUnschedulable: cordoned nodes (``spec.unschedulable``) take no new pods.

Unless the pod tolerates the ``node.kubernetes.io/unschedulable`` NoSchedule taint.
"""

from __future__ import annotations

from ..framework import Plugin, Status, unschedulable
from ..taints import NO_SCHEDULE, TAINT_UNSCHEDULABLE, TaintExemption

__all__ = ["NodeUnschedulable", "ERR_REASON_UNSCHEDULABLE", "fits"]

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
_TAINT = {"key": TAINT_UNSCHEDULABLE, "effect": NO_SCHEDULE}

_exempt = TaintExemption(_TAINT)


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
