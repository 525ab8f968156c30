"""The scheduling framework: plugin protocols, Status codes, cycle state.

Shaped after kube-scheduler's ``framework/interface.go``: a plugin has a
``name`` and implements one small Protocol per extension point. Every hook
takes ``(state, pod, node_info)``: ``state`` is the per-cycle scratch space
(``CycleState``), ``pod`` the ``PodInfo`` being scheduled, ``node_info`` one
node with the pods on it. The scheduler loop knows no plugin by name; a
``Profile`` (see ``profile.py``) lists them.

Optional *batch* Protocols let a plugin answer for all nodes at once over the
``NodeTable``'s columns (numpy). They are an accelerator only: the per-node
hook is the reference and must agree with the batch one (tests check both).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .node_info import NodeInfo
    from .node_table import NodeTable
    from .pod_info import PodInfo

__all__ = [
    "Code",
    "Status",
    "CycleState",
    "Plugin",
    "PreFilterPlugin",
    "FilterPlugin",
    "BatchFilterPlugin",
    "PreScorePlugin",
    "ScorePlugin",
    "BatchScorePlugin",
    "MAX_NODE_SCORE",
    "MIN_NODE_SCORE",
    "unschedulable",
]

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0


class Code(enum.IntEnum):
    """What a plugin's verdict means for the pod, i.e. what happens next."""

    SUCCESS = 0
    """The node passes; go on with the next plugin."""
    ERROR = 1
    """Internal failure: the pod goes back to the queue with backoff; logged."""
    UNSCHEDULABLE = 2
    """The node does not fit now; it may after pods go away (resources, ports)."""
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    """The node cannot fit until the node itself changes (labels, taints, readiness)."""
    SKIP = 4
    """From PreFilter/PreScore: this plugin has nothing to say about this pod."""


@dataclass(frozen=True, slots=True)
class Status:
    """A plugin verdict: a ``Code`` and human-readable reasons (Kubernetes' wording)."""

    code: Code
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    def is_rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def message(self) -> str:
        return ", ".join(self.reasons)


def unschedulable(*reasons: str, resolvable: bool = True, plugin: str = "") -> Status:
    code = Code.UNSCHEDULABLE if resolvable else Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    return Status(code, reasons, plugin)


class CycleState(dict):
    """Per-pod, per-cycle scratch space: PreFilter/PreScore write, Filter/Score read.

    Keys are plugin-chosen (by convention the plugin's name). Not shared across
    pods; discarded at the end of the cycle.
    """

    __slots__ = ()


class Plugin:
    """Base of every plugin: a unique ``name``."""

    name: str = ""

    def __repr__(self) -> str:
        return f"<plugin {self.name}>"


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        """Once per pod before filtering; ``SKIP`` means this plugin's Filter is not needed."""


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """None (or SUCCESS) when ``pod`` may run on the node, else why not."""


@runtime_checkable
class BatchFilterPlugin(Protocol):
    name: str

    def filter_batch(self, state: CycleState, pod: PodInfo, table: NodeTable) -> Any:
        """A bool array over ``table`` slots (True = fits), or None when every node fits.

        Must agree with ``filter`` on every live slot.
        """


@runtime_checkable
class PreScorePlugin(Protocol):
    name: str

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        """Once per pod before scoring the feasible ``nodes``; ``SKIP`` skips Score."""


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """A raw score for one node (normalized afterwards)."""

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        """Rescale ``scores`` in place to [MIN_NODE_SCORE, MAX_NODE_SCORE]."""


@runtime_checkable
class BatchScorePlugin(Protocol):
    name: str

    def score_batch(self, state: CycleState, pod: PodInfo, table: NodeTable, slots: Any) -> Any:
        """Normalized scores (int64 array) for the given ``slots``; equals score+normalize.

        A plain ``int`` means that score for every slot (it then ranks no node
        above another, and the framework need not add it up).
        """
