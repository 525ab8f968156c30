"""NodePorts: no two pods on a node may use the same hostPort/protocol/hostIP.

A hostIP of 0.0.0.0 (the default) conflicts with every IP on that port and
protocol. Pods without host ports pass everywhere; others are checked per node.
"""

from __future__ import annotations

from ..framework import Plugin, Status, unschedulable
from ..node_info import ports_conflict

__all__ = ["NodePorts", "ERR_REASON", "fits"]

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"


def fits(pod, node_info) -> bool:
    used = node_info.used_ports
    if not used:
        return True
    return not any(ports_conflict(used, ip, proto, port) for ip, proto, port in pod.host_ports)


class NodePorts(Plugin):
    name = "NodePorts"

    def filter(self, state, pod, node_info) -> Status | None:
        if not pod.host_ports or fits(pod, node_info):
            return None
        return unschedulable(ERR_REASON, plugin=self.name)

    def filter_batch(self, state, pod, table):
        if not pod.host_ports:
            return None
        mask = table.live[:table.size].copy()
        for ni in table:
            if not fits(pod, ni):
                mask[ni.slot] = False
        return mask
