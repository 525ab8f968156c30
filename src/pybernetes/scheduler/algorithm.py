"""One scheduling decision: filter the nodes, score the feasible ones, pick the best.

``Algorithm.schedule(pod)`` returns a ``ScheduleResult`` or raises ``FitError``
(no node fits; its message is Kubernetes' ``0/N nodes are available: ...``) or
``NoNodesAvailable``. It does not touch the API; the caller assumes and binds.

Filtering stops once ``num_feasible_nodes_to_find`` nodes fit (the
``--percentage-of-nodes-to-score`` rule), starting where the previous pod's
search stopped so every node gets its turn. With numpy the batch forms of the
plugins answer for all nodes at once; plugins without one (and everything,
without numpy) run per node on the candidates in order. Ties among the best
scores break uniformly at random.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .cache import SchedulerCache
from .framework import (
    BatchFilterPlugin,
    BatchScorePlugin,
    Code,
    CycleState,
    PreFilterPlugin,
    PreScorePlugin,
    Status,
)
from .node_info import NodeInfo
from .node_table import np
from .pod_info import PodInfo
from .profile import PluginSet

__all__ = [
    "Algorithm",
    "ScheduleResult",
    "FitError",
    "NoNodesAvailable",
    "num_feasible_nodes_to_find",
    "fit_error_message",
    "MIN_FEASIBLE_NODES_TO_FIND",
    "MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND",
]

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int:
    """How many feasible nodes to look for: all below 100 nodes, else the (adaptive) percentage.

    ``percentage <= 0`` is adaptive: 50% minus 1% per 125 nodes, at least 5%;
    never fewer than 100 nodes.
    """
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND or percentage >= 100:
        return num_all_nodes
    adaptive = percentage
    if adaptive <= 0:
        adaptive = 50 - num_all_nodes // 125
        if adaptive < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND:
            adaptive = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND
    n = num_all_nodes * adaptive // 100
    return max(n, MIN_FEASIBLE_NODES_TO_FIND)


def fit_error_message(num_all_nodes: int, statuses: Iterable[Status]) -> str:
    """``0/3 nodes are available: 1 node(s) had ..., 2 node(s) didn't ....`` (reasons sorted)."""
    hist: Counter[str] = Counter()
    for st in statuses:
        hist.update(st.reasons)
    parts = sorted(f"{n} {reason}" for reason, n in hist.items())
    return f"0/{num_all_nodes} nodes are available: {', '.join(parts)}."


class NoNodesAvailable(Exception):
    def __str__(self) -> str:
        return "no nodes available to schedule pods"


class FitError(Exception):
    """No node fits; ``statuses`` maps node name to the first plugin that rejected it."""

    def __init__(self, pod: PodInfo, num_all_nodes: int, statuses: dict[str, Status]) -> None:
        super().__init__()
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.statuses = statuses

    def __str__(self) -> str:
        return fit_error_message(self.num_all_nodes, self.statuses.values())

    @property
    def unresolvable(self) -> bool:
        """True when only node changes (not pod deletions) can make the pod fit."""
        return all(s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE for s in self.statuses.values())


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    node: str
    evaluated: int
    feasible: int


class Algorithm:
    """Filter + score + select over a SchedulerCache with one PluginSet."""

    def __init__(self, cache: SchedulerCache, plugins: PluginSet, *, percentage: int = 0,
                 rng: random.Random | None = None) -> None:
        self.cache = cache
        self.plugins = plugins
        self.percentage = percentage
        self.rng = rng or random.Random()
        self.next_start = 0
        # Protocol isinstance checks are slow: classify each plugin once
        every = [*plugins.filters, *(pl for pl, _ in plugins.scores)]
        self._prefilter = {id(p) for p in every if isinstance(p, PreFilterPlugin)}
        self._batch_filter = {id(p) for p in every if isinstance(p, BatchFilterPlugin)}
        self._prescore = {id(p) for p in every if isinstance(p, PreScorePlugin)}
        self._batch_score = {id(p) for p in every if isinstance(p, BatchScorePlugin)}

    # -- public -------------------------------------------------------------
    def schedule(self, pod: PodInfo) -> ScheduleResult:
        table = self.cache.table
        n_all = len(table)
        if n_all == 0:
            raise NoNodesAvailable()
        state = CycleState()
        filters = []
        for pl in self.plugins.filters:
            if id(pl) in self._prefilter:
                st = pl.pre_filter(state, pod)
                if st is not None and st.code == Code.SKIP:
                    continue
                if st is not None and st.is_rejected():
                    raise FitError(pod, n_all, {ni.name: st for ni in table})
            filters.append(pl)
        want = num_feasible_nodes_to_find(self.percentage, n_all)
        if table.vector:
            slots = self._feasible_vector(state, pod, filters, want)
            if not len(slots):
                raise FitError(pod, n_all, self.diagnose(pod, state=state, filters=filters))
            if len(slots) == 1:
                return ScheduleResult(table.infos[int(slots[0])].name, n_all, 1)
            return ScheduleResult(self._select_vector(state, pod, slots), n_all, len(slots))
        feasible = self._feasible_scalar(state, pod, filters, want)
        if not feasible:
            raise FitError(pod, n_all, self.diagnose(pod, state=state, filters=filters))
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, n_all, 1)
        return ScheduleResult(self._select_scalar(state, pod, feasible), n_all, len(feasible))

    def diagnose(self, pod: PodInfo, *, state: CycleState | None = None, filters=None) -> dict[str, Status]:
        """Run every filter on every node; the first rejection per node (for the FitError)."""
        state = CycleState() if state is None else state
        filters = self.plugins.filters if filters is None else filters
        out: dict[str, Status] = {}
        for ni in self.cache.table:
            st = _run_filters(state, pod, ni, filters)
            if st is not None:
                out[ni.name] = st
        return out

    # -- filtering ------------------------------------------------------------
    def _feasible_vector(self, state, pod, filters, want: int):
        """Slots (int array) of up to ``want`` feasible nodes, in round-robin order."""
        table = self.cache.table
        n = table.size
        mask = table.live[:n].copy()
        rest = []
        for pl in filters:
            if id(pl) in self._batch_filter:
                m = pl.filter_batch(state, pod, table)
                if m is not None:
                    mask &= m[:n]
            else:
                rest.append(pl)
        # (array methods, not the np.* wrappers: a decision makes few, small numpy calls)
        candidates = mask.nonzero()[0]
        if not len(candidates):
            return candidates
        i = int(candidates.searchsorted(self.next_start))
        if i:
            candidates = np.concatenate((candidates[i:], candidates[:i]))
        if rest:
            infos = table.infos
            kept = []
            for s in candidates.tolist():
                if _run_filters(state, pod, infos[s], rest) is None:
                    kept.append(s)
                    if len(kept) >= want:
                        break
            candidates = np.asarray(kept, dtype=np.intp)
        else:
            candidates = candidates[:want]
        if len(candidates):
            self.next_start = (int(candidates[-1]) + 1) % n
        return candidates

    def _feasible_scalar(self, state, pod, filters, want: int) -> list[NodeInfo]:
        infos = self.cache.table.infos
        n = len(infos)
        out: list[NodeInfo] = []
        start = self.next_start % n if n else 0
        for k in range(n):
            ni = infos[(start + k) % n]
            if ni is None:
                continue
            if _run_filters(state, pod, ni, filters) is None:
                out.append(ni)
                if len(out) >= want:
                    break
        if out:
            self.next_start = (out[-1].slot + 1) % n
        return out

    # -- scoring ----------------------------------------------------------------
    def _active_scores(self, state, pod, nodes) -> list:
        active = []
        for pl, w in self.plugins.scores:
            if id(pl) in self._prescore:
                st = pl.pre_score(state, pod, nodes)
                if st is not None and st.code == Code.SKIP:
                    continue
            active.append((pl, w))
        return active

    def _select_vector(self, state, pod, slots) -> str:
        table = self.cache.table
        nodes = _SlotView(table.infos, slots)
        total = None
        for pl, w in self._active_scores(state, pod, nodes):
            if id(pl) in self._batch_score:
                s = pl.score_batch(state, pod, table, slots)
                if isinstance(s, int):  # one score for every node: it changes no ranking
                    continue
            else:
                s = np.asarray(self._scores(state, pod, pl, list(nodes)), dtype=np.int64)
            if w != 1:
                s = s * w
            if total is None:
                total = s.copy()  # never add into an array a plugin may keep
            else:
                total += s
        if total is None:
            return table.infos[int(slots[self.rng.randrange(len(slots))])].name
        ties = (total == total.max()).nonzero()[0]
        return table.infos[int(slots[int(ties[self.rng.randrange(len(ties))])])].name

    def _select_scalar(self, state, pod, feasible: list[NodeInfo]) -> str:
        totals = [0] * len(feasible)
        for pl, w in self._active_scores(state, pod, feasible):
            for i, s in enumerate(self._scores(state, pod, pl, feasible)):
                totals[i] += s * w
        best = max(totals)
        ties = [i for i, t in enumerate(totals) if t == best]
        return feasible[ties[self.rng.randrange(len(ties))]].name

    @staticmethod
    def _scores(state, pod, pl, feasible) -> list[int]:
        scores = [pl.score(state, pod, ni) for ni in feasible]
        pl.normalize(state, pod, scores)
        return scores


def _run_filters(state, pod, ni, filters) -> Status | None:
    for pl in filters:
        st = pl.filter(state, pod, ni)
        if st is not None and st.code != Code.SUCCESS:
            if not st.plugin:
                st = Status(st.code, st.reasons, pl.name)
            return st
    return None


class _SlotView(Sequence):
    """The feasible NodeInfos, materialized only if a plugin looks."""

    __slots__ = ("infos", "slots")

    def __init__(self, infos, slots) -> None:
        self.infos, self.slots = infos, slots

    def __len__(self) -> int:
        return len(self.slots)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.infos[s] for s in self.slots[i].tolist()]
        return self.infos[int(self.slots[i])]

    def __iter__(self):
        infos = self.infos
        return (infos[s] for s in self.slots.tolist())
