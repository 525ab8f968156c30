"""NodeReady: only nodes whose Ready condition is True take new pods.

A pod that tolerates the ``node.kubernetes.io/not-ready`` NoSchedule taint
(as DaemonSet pods do) is exempt, mirroring taint-based node conditions.
"""

from __future__ import annotations

from ..framework import Plugin, Status, unschedulable
from ..taints import NO_SCHEDULE, TAINT_NOT_READY, TaintExemption

__all__ = ["NodeReady", "ERR_REASON_NOT_READY", "fits"]

ERR_REASON_NOT_READY = "node(s) were not ready"
_NOT_READY_TAINT = {"key": TAINT_NOT_READY, "effect": NO_SCHEDULE}

_exempt = TaintExemption(_NOT_READY_TAINT)


def fits(pod, node_info) -> bool:
    return node_info.ready or _exempt(pod)


class NodeReady(Plugin):
    name = "NodeReady"

    def filter(self, state, pod, node_info) -> Status | None:
        if fits(pod, node_info):
            return None
        return unschedulable(ERR_REASON_NOT_READY, resolvable=False, plugin=self.name)

    def filter_batch(self, state, pod, table):
        if _exempt(pod):
            return None
        return table.static_column((self.name,), lambda ni: ni.ready)
