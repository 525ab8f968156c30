"""Pure decisions of the replication controller (no I/O).

Kept apart from `replication.py` so they can be tested exhaustively: which
pods to delete first, how creations are batched, what the status says, and
whether a pod is adopted or released.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime

from ..api import labels
from .podutil import (
    controller_ref,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    parse_time,
    pod_ready_since,
)

__all__ = [
    "BURST_REPLICAS", "SLOW_START_INITIAL_BATCH", "pod_from_template", "owner_reference",
    "slow_start_batch", "SlowStartError", "deletion_order", "pods_to_delete", "compute_status", "claim",
    "rc_selector",
]

# As Kubernetes' ReplicaSet/RC manager: at most this many creates or deletes per sync.
BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH = 1


def rc_selector(rc: dict) -> labels.Selector:
    """An RC's selector (a plain map); an empty one means the template's labels
    (the apiserver defaults it so), and with neither it selects nothing."""
    spec = rc.get("spec") or {}
    sel = spec.get("selector") or ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    return labels.from_set(sel) if sel else labels.NOTHING


def owner_reference(rc: dict) -> dict:
    meta = rc["metadata"]
    return {"apiVersion": "v1", "kind": "ReplicationController", "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def pod_from_template(rc: dict) -> dict:
    """The pod an RC creates: its template, `generateName` from the RC's name,
    and an ownerReference making the RC its controller."""
    template = copy.deepcopy((rc.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    meta: dict = {"generateName": rc["metadata"]["name"] + "-", "namespace": rc["metadata"]["namespace"],
                  "ownerReferences": [owner_reference(rc)]}
    for k in ("labels", "annotations", "finalizers"):
        if tmeta.get(k):
            meta[k] = dict(tmeta[k]) if isinstance(tmeta[k], dict) else list(tmeta[k])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}


async def slow_start_batch(count: int, initial: int, fn: Callable[[], Awaitable[None]]) -> int:
    """Call ``fn`` ``count`` times in batches of 1, 2, 4, ... (starting at
    ``initial``); the calls of a batch run concurrently. Stops after the first
    batch with a failure so a bad template does not flood the apiserver.
    Returns how many calls succeeded (Kubernetes' slowStartBatch)."""
    remaining, successes, batch = count, 0, min(count, initial)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        ok = sum(1 for r in results if not isinstance(r, BaseException))
        successes += ok
        if ok < batch:
            errors = [r for r in results if isinstance(r, BaseException)]
            raise SlowStartError(successes, errors)
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes


class SlowStartError(Exception):
    """A batch failed: ``successes`` calls went through, ``errors`` are the failures."""

    def __init__(self, successes: int, errors: list[BaseException]):
        super().__init__(f"{len(errors)} call(s) failed: {errors[0]!r}")
        self.successes = successes
        self.errors = errors


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _restarts(pod: dict) -> int:
    return sum(int(cs.get("restartCount") or 0) for cs in (pod.get("status") or {}).get("containerStatuses") or ())


def deletion_order(pods: list[dict], related: list[dict] | None = None) -> list[dict]:
    """Pods sorted so the ones to delete come first (Kubernetes' ActivePodsWithRanks):
    unscheduled before scheduled; Pending < Unknown < Running; not ready before
    ready; pods doubled up on a node with more related pods first; more
    recently ready first; more restarts first; newer first."""
    per_node = Counter((p.get("spec") or {}).get("nodeName") for p in (related if related is not None else pods)
                       if is_pod_active(p))

    def sort_key(p: dict):
        node = (p.get("spec") or {}).get("nodeName") or ""
        ready = is_pod_ready(p)
        since = pod_ready_since(p) if ready else None
        created = parse_time(p["metadata"].get("creationTimestamp"))
        return (
            1 if node else 0,
            _PHASE_RANK.get((p.get("status") or {}).get("phase"), 0) if node else 0,
            1 if ready else 0,
            -(per_node[node] if node else 0),
            -(since.timestamp() if since else 0.0),
            -_restarts(p),
            -(created.timestamp() if created else float("inf")),
        )
    return sorted(pods, key=sort_key)


def pods_to_delete(pods: list[dict], diff: int, related: list[dict] | None = None) -> list[dict]:
    return deletion_order(pods, related)[:diff]


def compute_status(rc: dict, pods: list[dict], *, at: datetime, manage_error: str | None = None) -> dict:
    """The RC status for its active, owned ``pods``: replicas, fullyLabeledReplicas,
    readyReplicas, availableReplicas (minReadySeconds), observedGeneration and a
    ReplicaFailure condition while creates/deletes fail."""
    spec = rc.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    full = ready = available = 0
    for p in pods:
        pl = p["metadata"].get("labels") or {}
        if all(pl.get(k) == v for k, v in template_labels.items()):
            full += 1
        if is_pod_ready(p):
            ready += 1
            if is_pod_available(p, min_ready, at):
                available += 1
    old = rc.get("status") or {}
    status: dict = {"replicas": len(pods)}
    # Kubernetes omits zero counts (omitempty) except replicas.
    for k, v in (("fullyLabeledReplicas", full), ("readyReplicas", ready), ("availableReplicas", available)):
        if v:
            status[k] = v
    status["observedGeneration"] = rc["metadata"].get("generation", 1)
    conds = [c for c in old.get("conditions") or () if c.get("type") != "ReplicaFailure"]
    if manage_error:
        prev = next((c for c in old.get("conditions") or () if c.get("type") == "ReplicaFailure"), None)
        reason = "FailedCreate" if "creat" in manage_error.lower() else "FailedDelete"
        conds.append({"type": "ReplicaFailure", "status": "True", "reason": reason, "message": manage_error,
                      "lastTransitionTime": (prev or {}).get("lastTransitionTime") or at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    if conds:
        status["conditions"] = conds
    return status


def claim(rc: dict, pod: dict, selector: labels.Selector) -> str:
    """What the RC does with a pod of its namespace (Kubernetes' ClaimPods):

    - ``"own"``: controlled by this RC and still matching — keep it;
    - ``"release"``: controlled by this RC but no longer matching — drop our ownerReference;
    - ``"adopt"``: an orphan that matches — add our ownerReference (unless we are being deleted);
    - ``"ignore"``: someone else's, or not ours and not matching.
    """
    ref = controller_ref(pod)
    matching = selector.matches(pod["metadata"].get("labels") or {})
    if ref is not None:
        if ref.get("uid") != rc["metadata"]["uid"]:
            return "ignore"
        return "own" if matching else "release"
    if not matching or rc["metadata"].get("deletionTimestamp") or pod["metadata"].get("deletionTimestamp"):
        return "ignore"
    return "adopt"
