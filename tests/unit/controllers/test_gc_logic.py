"""Pure decisions of the garbage collector and the pod GC."""

from __future__ import annotations

from pybernetes.controllers.garbage_collector_logic import (
    DANGLING,
    SOLID,
    WAITING,
    blocking_dependents,
    decide,
    owner_state,
)
from pybernetes.controllers.pod_gc_logic import (
    orphaned_pods,
    terminated_pods_to_delete,
    unscheduled_terminating_pods,
)


def obj(name, *owners, finalizers=(), deleting=False, block=True):
    meta = {"name": name, "uid": name + "-uid",
            "ownerReferences": [{"kind": "X", "name": o, "uid": o + "-uid", "blockOwnerDeletion": block}
                                for o in owners]}
    if finalizers:
        meta["finalizers"] = list(finalizers)
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta}


def test_owner_state():
    ref = {"uid": "o-uid"}
    assert owner_state(ref, None) == DANGLING
    assert owner_state(ref, obj("other")) == DANGLING  # same name, new uid
    assert owner_state(ref, obj("o")) == SOLID
    assert owner_state(ref, obj("o", finalizers=["foregroundDeletion"], deleting=True)) == WAITING
    assert owner_state(ref, obj("o", finalizers=["orphan"], deleting=True)) == SOLID


def test_decide():
    d = obj("d", "a", "b")
    assert decide(d, {"a-uid": SOLID, "b-uid": SOLID}, has_dependents=False).kind == "none"
    act = decide(d, {"a-uid": SOLID, "b-uid": DANGLING}, has_dependents=False)
    assert (act.kind, act.uids) == ("remove_refs", ("b-uid",))
    act = decide(d, {"a-uid": DANGLING, "b-uid": DANGLING}, has_dependents=False)
    assert (act.kind, act.policy) == ("delete", "Background")
    act = decide(d, {"a-uid": WAITING, "b-uid": DANGLING}, has_dependents=True)
    assert (act.kind, act.policy, act.unblock) == ("delete", "Foreground", ("a-uid",))
    act = decide(d, {"a-uid": WAITING, "b-uid": DANGLING}, has_dependents=False)
    assert (act.kind, act.policy) == ("delete", "Background")
    act = decide(obj("d", "a", finalizers=["orphan"]), {"a-uid": DANGLING}, has_dependents=True)
    assert act.policy == "Orphan"
    # Unresolved owners: wait; terminating items: leave to their own finalizers.
    assert decide(d, {"a-uid": DANGLING}, has_dependents=False).kind == "none"
    assert decide(obj("d", "a", deleting=True), {"a-uid": DANGLING}, has_dependents=False).kind == "none"
    assert decide(obj("d"), {}, has_dependents=False).kind == "none"


def test_blocking_dependents():
    owner = obj("o")
    deps = [obj("d1", "o"), obj("d2", "o", block=False), obj("d3", "x")]
    assert [d["metadata"]["name"] for d in blocking_dependents(owner, deps)] == ["d1"]


def pod(name, phase="Running", node="n1", created="2024-01-01T00:00:00Z", deleting=False):
    p = {"metadata": {"name": name, "creationTimestamp": created}, "spec": {"nodeName": node} if node else {},
         "status": {"phase": phase}}
    if deleting:
        p["metadata"]["deletionTimestamp"] = created
    return p


def test_pod_gc_decisions():
    pods = [pod("old", "Succeeded", created="2024-01-01T00:00:01Z"),
            pod("older", "Failed", created="2024-01-01T00:00:00Z"),
            pod("new", "Succeeded", created="2024-01-01T00:00:02Z"),
            pod("live", "Running")]
    assert [p["metadata"]["name"] for p in terminated_pods_to_delete(pods, 1)] == ["older", "old"]
    assert terminated_pods_to_delete(pods, 3) == []
    assert terminated_pods_to_delete(pods, 0) == []
    assert [p["metadata"]["name"] for p in orphaned_pods(pods + [pod("lost", node="gone")], {"n1"})] == ["lost"]
    assert [p["metadata"]["name"] for p in unscheduled_terminating_pods(
        [pod("u", node="", deleting=True), pod("s", deleting=True)])] == ["u"]
