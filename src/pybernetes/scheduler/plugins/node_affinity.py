"""NodeAffinity: ``nodeSelector`` and required node affinity filter; preferred terms score.

Filter: every ``nodeSelector`` pair must equal a node label, and the required
``nodeSelectorTerms`` (ORed; In/NotIn/Exists/DoesNotExist/Gt/Lt over labels,
``matchFields`` on ``metadata.name``) must match. Score: the sum of the weights
of matching preferred terms, normalized to [0, 100] by the best node.
"""

from __future__ import annotations

from ..framework import Plugin, Status, unschedulable
from ..node_table import np
from .normalize import default_normalize, default_normalize_batch

__all__ = ["NodeAffinity", "ERR_REASON_POD", "fits", "preferred_score"]

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"


def fits(pod, node_info) -> bool:
    labels = node_info.labels
    for k, v in pod.node_selector.items():
        if labels.get(k) != v:
            return False
    req = pod.required_affinity
    return req is None or req.matches(labels, node_info.name)


def preferred_score(pod, node_info) -> int:
    return sum(t.weight for t in pod.preferred_affinity if t.matches(node_info.labels, node_info.name))


class NodeAffinity(Plugin):
    name = "NodeAffinity"

    def filter(self, state, pod, node_info) -> Status | None:
        if fits(pod, node_info):
            return None
        return unschedulable(ERR_REASON_POD, resolvable=False, plugin=self.name)

    def filter_batch(self, state, pod, table):
        if not pod.node_selector and pod.required_affinity is None:
            return None
        return table.static_column((self.name, pod.placement_key), lambda ni: fits(pod, ni))

    def score(self, state, pod, node_info) -> int:
        return preferred_score(pod, node_info)

    def normalize(self, state, pod, scores: list[int]) -> None:
        default_normalize(scores, reverse=False)

    def score_batch(self, state, pod, table, slots):
        if not pod.preferred_affinity:
            return 0  # the same for every node
        raw = table.static_column((self.name, "preferred", pod.preferred_key),
                                  lambda ni: preferred_score(pod, ni), np.int64)
        return default_normalize_batch(raw[slots], reverse=False)
