"""The built-in plugins. Each module holds one plugin: a pure rule plus a tiny class."""

from .node_affinity import NodeAffinity
from .node_ports import NodePorts
from .node_ready import NodeReady
from .node_resources import NodeResourcesBalancedAllocation, NodeResourcesFit
from .node_unschedulable import NodeUnschedulable
from .selector_spread import SelectorSpread
from .taint_toleration import TaintToleration

__all__ = [
    "NodeAffinity",
    "NodePorts",
    "NodeReady",
    "NodeResourcesBalancedAllocation",
    "NodeResourcesFit",
    "NodeUnschedulable",
    "SelectorSpread",
    "TaintToleration",
]
