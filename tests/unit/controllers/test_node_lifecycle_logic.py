"""Pure decisions of the node lifecycle controller."""

from __future__ import annotations

from datetime import UTC, datetime

from pybernetes.controllers.node_lifecycle_logic import (
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    HealthTracker,
    desired_taints,
    eviction_delay,
    heartbeat_marker,
    toleration_matches,
    unknown_conditions,
)

AT = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


def node(ready="True", taints=None, heartbeat="2024-01-01T11:59:00Z"):
    return {"metadata": {"name": "n1"}, "spec": {"taints": taints or []},
            "status": {"conditions": [
                {"type": "Ready", "status": ready, "reason": "KubeletReady", "lastHeartbeatTime": heartbeat,
                 "lastTransitionTime": "2024-01-01T10:00:00Z"},
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": heartbeat}]}}


def test_health_tracker_uses_own_clock():
    h = HealthTracker()
    m = heartbeat_marker(node(), None)
    assert h.observe("n1", m, 100.0) == 100.0
    assert h.observe("n1", m, 130.0) == 100.0
    assert h.silent_for("n1", 141.0) == 41.0
    lease = {"spec": {"renewTime": "2024-01-01T11:59:30.000000Z"}}
    assert h.observe("n1", heartbeat_marker(node(), lease), 142.0) == 142.0


def test_unknown_conditions():
    conds = unknown_conditions(node(), AT)
    by = {c["type"]: c for c in conds}
    assert by["Ready"]["status"] == "Unknown" and by["Ready"]["reason"] == "NodeStatusUnknown"
    assert by["Ready"]["message"] == "Kubelet stopped posting node status."
    assert by["Ready"]["lastTransitionTime"] == "2024-01-01T12:00:00Z"
    assert by["Ready"]["lastHeartbeatTime"] == "2024-01-01T11:59:00Z"
    assert by["DiskPressure"]["reason"] == "NodeStatusNeverUpdated"
    n = node()
    n["status"]["conditions"] = conds
    assert unknown_conditions(n, AT) is None


def test_taints_follow_ready_and_keep_others():
    custom = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    t = desired_taints(node("Unknown", taints=[custom]), AT)
    assert custom in t
    assert {(x["key"], x["effect"]) for x in t} == {
        ("dedicated", "NoSchedule"), (UNREACHABLE_TAINT, "NoSchedule"), (UNREACHABLE_TAINT, "NoExecute")}
    assert next(x for x in t if x["effect"] == "NoExecute")["timeAdded"] == "2024-01-01T12:00:00Z"
    assert desired_taints(node("Unknown", taints=t), AT) is None
    back = desired_taints(node("True", taints=t), AT)
    assert back == [custom]
    nr = desired_taints(node("False", taints=t), AT)
    assert {(x["key"], x["effect"]) for x in nr} == {
        ("dedicated", "NoSchedule"), (NOT_READY_TAINT, "NoSchedule"), (NOT_READY_TAINT, "NoExecute")}
    assert desired_taints(node("True"), AT) is None


def test_tolerations_and_eviction_delay():
    taint = {"key": UNREACHABLE_TAINT, "effect": "NoExecute"}
    assert toleration_matches({"operator": "Exists"}, taint)
    assert toleration_matches({"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute"}, taint)
    assert not toleration_matches({"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"}, taint)
    assert not toleration_matches({"key": "other", "operator": "Exists"}, taint)
    no_tol = {"spec": {}}
    assert eviction_delay(no_tol, [taint], 300) == 300
    bounded = {"spec": {"tolerations": [{"key": UNREACHABLE_TAINT, "operator": "Exists",
                                         "effect": "NoExecute", "tolerationSeconds": 5}]}}
    assert eviction_delay(bounded, [taint], 300) == 5
    forever = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    assert eviction_delay(forever, [taint], 300) is None
    assert eviction_delay(no_tol, [{"key": UNREACHABLE_TAINT, "effect": "NoSchedule"}], 300) is None


def test_node_that_never_reported_is_not_tainted_yet():
    n = {"metadata": {"name": "new"}, "spec": {}, "status": {}}
    assert desired_taints(n, AT) is None
