"""Resource plugins: NodeResourcesFit (filter + least-allocated score) and BalancedAllocation.

Filter: the node's pod count stays within ``allocatable.pods`` and, for every
resource the pod requests (> 0), request + already requested fits allocatable
("Insufficient cpu", "Too many pods", as Kubernetes words them).

LeastAllocated scores each of cpu and memory as
``(allocatable - requested) * 100 / allocatable`` over the non-zero requests
(unset requests count as 100m / 200Mi) and averages them. BalancedAllocation
favours nodes whose cpu and memory fractions stay close:
``(1 - |f_cpu - f_mem| / 2) * 100`` over actual requests; best-effort pods are
skipped.
"""

from __future__ import annotations

from ..framework import MAX_NODE_SCORE, Code, Plugin, Status
from ..node_table import np
from ..resources import CPU, EPHEMERAL_STORAGE, MEMORY

__all__ = [
    "NodeResourcesFit",
    "NodeResourcesBalancedAllocation",
    "insufficient",
    "least_allocated_score",
    "balanced_allocation_score",
]

TOO_MANY_PODS = "Too many pods"


def insufficient(pod, node_info) -> tuple[list[str], bool]:
    """(reasons, unresolvable): what does not fit, in Kubernetes' order and wording."""
    a, used, r = node_info.allocatable, node_info.requested, pod.requests
    reasons: list[str] = []
    unresolvable = False
    if len(node_info.pods) + 1 > a.allowed_pods:
        reasons.append(TOO_MANY_PODS)
    checks = ((CPU, r.milli_cpu, a.milli_cpu, used.milli_cpu),
              (MEMORY, r.memory, a.memory, used.memory),
              (EPHEMERAL_STORAGE, r.ephemeral_storage, a.ephemeral_storage, used.ephemeral_storage))
    for name, want, alloc, have in checks:
        if want > 0 and want > alloc - have:
            reasons.append(f"Insufficient {name}")
            unresolvable |= want > alloc
    for name, want in r.scalar.items():
        alloc = a.scalar.get(name, 0)
        if want > 0 and want > alloc - used.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
            unresolvable |= want > alloc
    return reasons, unresolvable


def _least(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def _least_allocated(cpu: int, mem: int, node_info) -> int:
    a = node_info.allocatable
    return (_least(node_info.nonzero_cpu + cpu, a.milli_cpu)
            + _least(node_info.nonzero_mem + mem, a.memory)) // 2


def least_allocated_score(pod, node_info) -> int:
    cpu, mem = pod.nonzero
    return _least_allocated(cpu, mem, node_info)


def _least_batch(requested, capacity):
    safe = np.maximum(capacity, 1)
    s = (capacity - requested) * MAX_NODE_SCORE // safe
    s[(capacity == 0) | (requested > capacity)] = 0
    return s


def _least_allocated_batch(table, idx, cpu: int, mem: int):
    """``_least_allocated`` for the slots ``idx`` (an index array or a slice)."""
    return (_least_batch(table.nz_cpu[idx] + cpu, table.alloc_cpu[idx])
            + _least_batch(table.nz_mem[idx] + mem, table.alloc_mem[idx])) // 2


def _balanced(cpu: int, mem: int, node_info) -> int:
    a, used = node_info.allocatable, node_info.requested
    fractions = []
    for want, alloc, have in ((cpu, a.milli_cpu, used.milli_cpu), (mem, a.memory, used.memory)):
        if alloc:
            fractions.append(min((have + want) / alloc, 1.0))
    std = abs(fractions[0] - fractions[1]) / 2 if len(fractions) == 2 else 0.0
    return int((1.0 - std) * MAX_NODE_SCORE)


def balanced_allocation_score(pod, node_info) -> int:
    r = pod.requests
    if r.milli_cpu == 0 and r.memory == 0:
        return 0
    return _balanced(r.milli_cpu, r.memory, node_info)


def _balanced_batch(table, idx, cpu: int, mem: int):
    """``_balanced`` for the slots ``idx`` (an index array or a slice)."""
    ac, am = table.alloc_cpu[idx], table.alloc_mem[idx]
    fc = np.minimum((table.req_cpu[idx] + cpu) / np.maximum(ac, 1), 1.0)
    fm = np.minimum((table.req_mem[idx] + mem) / np.maximum(am, 1), 1.0)
    std = np.abs(fc - fm) / 2
    std[(ac == 0) | (am == 0)] = 0.0
    return ((1.0 - std) * MAX_NODE_SCORE).astype(np.int64)


def _fits(cpu: int, mem: int, eph: int, node_info) -> bool:
    """The filter's answer for a pod without extended resources (``insufficient`` is empty)."""
    a, used = node_info.allocatable, node_info.requested
    return (len(node_info.pods) + 1 <= a.allowed_pods
            and (cpu <= 0 or used.milli_cpu + cpu <= a.milli_cpu)
            and (mem <= 0 or used.memory + mem <= a.memory)
            and (eph <= 0 or used.ephemeral_storage + eph <= a.ephemeral_storage))


def _fits_batch(table, idx, cpu: int, mem: int, eph: int):
    mask = table.req_pods[idx] + 1 <= table.alloc_pods[idx]
    if cpu > 0:
        mask &= table.req_cpu[idx] + cpu <= table.alloc_cpu[idx]
    if mem > 0:
        mask &= table.req_mem[idx] + mem <= table.alloc_mem[idx]
    if eph > 0:
        mask &= table.req_eph[idx] + eph <= table.alloc_eph[idx]
    return mask


class NodeResourcesFit(Plugin):
    name = "NodeResourcesFit"

    def filter(self, state, pod, node_info) -> Status | None:
        reasons, unresolvable = insufficient(pod, node_info)
        if not reasons:
            return None
        code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if unresolvable else Code.UNSCHEDULABLE
        return Status(code, tuple(reasons), self.name)

    def filter_batch(self, state, pod, table):
        n = table.size
        r = pod.requests
        cpu, mem, eph = r.milli_cpu, r.memory, r.ephemeral_storage
        if not r.scalar:
            col = table.derived_column(
                (self.name, cpu, mem, eph), lambda ni: _fits(cpu, mem, eph, ni),
                lambda idx: _fits_batch(table, idx, cpu, mem, eph), bool)
            if col is not None:
                return col
        mask = _fits_batch(table, slice(0, n), cpu, mem, eph)
        if r.scalar:
            # extended resources are rare: answer them per node
            for ni in table:
                if mask[ni.slot] and insufficient(pod, ni)[0]:
                    mask[ni.slot] = False
        return mask

    def score(self, state, pod, node_info) -> int:
        return least_allocated_score(pod, node_info)

    def normalize(self, state, pod, scores: list[int]) -> None:
        return None

    def score_batch(self, state, pod, table, slots):
        cpu, mem = pod.nonzero
        col = table.derived_column((self.name, "score", cpu, mem), lambda ni: _least_allocated(cpu, mem, ni),
                                   lambda idx: _least_allocated_batch(table, idx, cpu, mem), np.int64)
        return _least_allocated_batch(table, slots, cpu, mem) if col is None else col[slots]


class NodeResourcesBalancedAllocation(Plugin):
    name = "NodeResourcesBalancedAllocation"

    def score(self, state, pod, node_info) -> int:
        return balanced_allocation_score(pod, node_info)

    def normalize(self, state, pod, scores: list[int]) -> None:
        return None

    def score_batch(self, state, pod, table, slots):
        r = pod.requests
        cpu, mem = r.milli_cpu, r.memory
        if cpu == 0 and mem == 0:
            return 0  # the same for every node
        col = table.derived_column((self.name, cpu, mem), lambda ni: _balanced(cpu, mem, ni),
                                   lambda idx: _balanced_batch(table, idx, cpu, mem), np.int64)
        return _balanced_batch(table, slots, cpu, mem) if col is None else col[slots]
