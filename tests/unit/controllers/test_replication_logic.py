"""Pure decisions of the replication controller."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from pybernetes.api import labels
from pybernetes.controllers.expectations import Expectations
from pybernetes.controllers.replication_logic import (
    SlowStartError,
    claim,
    compute_status,
    deletion_order,
    pod_from_template,
    rc_selector,
    slow_start_batch,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ts(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rc(replicas=3, **spec):
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "rc-uid", "generation": 4},
            "spec": {"replicas": replicas, "selector": {"app": "web"},
                     "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, **spec}}


def pod(name, *, node="", phase="Pending", ready=None, created=0, restarts=0, labels_=None, owner=None,
        deleting=False):
    p = {"metadata": {"name": name, "namespace": "ns", "uid": name + "-uid", "creationTimestamp": ts(created),
                      "labels": labels_ if labels_ is not None else {"app": "web", "tier": "fe"}},
         "spec": {"nodeName": node} if node else {},
         "status": {"phase": phase, "containerStatuses": [{"restartCount": restarts}]}}
    if ready is not None:
        p["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": ts(ready)}]
    if owner:
        p["metadata"]["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "ReplicationController"}]
    if deleting:
        p["metadata"]["deletionTimestamp"] = ts(0)
    return p


def test_pod_from_template_owner_and_generate_name():
    p = pod_from_template(rc())
    assert p["metadata"]["generateName"] == "web-"
    assert p["metadata"]["labels"] == {"app": "web", "tier": "fe"}
    ref = p["metadata"]["ownerReferences"][0]
    assert ref == {"apiVersion": "v1", "kind": "ReplicationController", "name": "web", "uid": "rc-uid",
                   "controller": True, "blockOwnerDeletion": True}
    assert p["spec"]["containers"][0]["image"] == "nginx"


def test_deletion_order_unscheduled_then_pending_then_not_ready_then_newest():
    pods = [
        pod("ready-old", node="n1", phase="Running", ready=10, created=1),
        pod("ready-new", node="n2", phase="Running", ready=20, created=2),
        pod("running-notready", node="n3", phase="Running", created=0),
        pod("pending-on-node", node="n4", phase="Pending", created=0),
        pod("unscheduled", created=0),
    ]
    order = [p["metadata"]["name"] for p in deletion_order(pods)]
    assert order == ["unscheduled", "pending-on-node", "running-notready", "ready-new", "ready-old"]


def test_deletion_order_doubled_up_then_restarts_then_creation():
    a = pod("alone", node="n1", phase="Running", ready=5, created=5)
    b1 = pod("dup1", node="n2", phase="Running", ready=5, created=1)
    b2 = pod("dup2", node="n2", phase="Running", ready=5, created=2)
    assert [p["metadata"]["name"] for p in deletion_order([a, b1, b2])] == ["dup2", "dup1", "alone"]
    r1 = pod("r1", node="n1", phase="Running", created=1, restarts=3)
    r2 = pod("r2", node="n2", phase="Running", created=2, restarts=0)
    assert deletion_order([r2, r1])[0]["metadata"]["name"] == "r1"


class Recorder:
    """Records the size of the concurrent batch each call ran in."""

    def __init__(self, fail_from: int | None = None):
        self.inflight = 0
        self.calls = 0
        self.batch_sizes: list[int] = []
        self.fail_from = fail_from

    async def __call__(self):
        self.calls += 1
        n = self.calls
        self.inflight += 1
        await asyncio.sleep(0)
        self.batch_sizes.append(self.inflight)
        await asyncio.sleep(0)
        self.inflight -= 1
        if self.fail_from is not None and n >= self.fail_from:
            raise RuntimeError("quota exceeded")

    def batches(self) -> list[int]:
        out, i = [], 0
        while i < len(self.batch_sizes):
            size = self.batch_sizes[i]
            out.append(size)
            i += size
        return out


async def test_slow_start_batches_double():
    r = Recorder()
    assert await slow_start_batch(20, 1, r) == 20
    assert r.batches() == [1, 2, 4, 8, 5]


async def test_slow_start_stops_after_a_failing_batch():
    r = Recorder(fail_from=5)  # calls 1..4 succeed, the rest fail
    with pytest.raises(SlowStartError) as e:
        await slow_start_batch(100, 1, r)
    # Batches 1 and 2 succeed; the batch of 4 (calls 4-7) has failures; nothing more is tried.
    assert r.calls == 7
    assert e.value.successes == 4
    assert len(e.value.errors) == 3


def test_compute_status_counts():
    r = rc(minReadySeconds=30)
    now = T0 + timedelta(seconds=100)
    pods = [
        pod("a", node="n", phase="Running", ready=0),  # available (100s ready)
        pod("b", node="n", phase="Running", ready=90),  # ready 10s: not yet available
        pod("c", node="n", phase="Pending", labels_={"app": "web"}),  # not fully labeled
    ]
    s = compute_status(r, pods, at=now)
    assert s == {"replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 1,
                 "observedGeneration": 4}
    s = compute_status(r, [], at=now, manage_error="Error creating: forbidden")
    assert s["replicas"] == 0 and s["conditions"][0]["type"] == "ReplicaFailure"
    assert s["conditions"][0]["reason"] == "FailedCreate"


def test_claim_adopt_release_ignore():
    r = rc()
    sel = rc_selector(r)
    assert claim(r, pod("o", owner="rc-uid"), sel) == "own"
    assert claim(r, pod("x", owner="rc-uid", labels_={"app": "other"}), sel) == "release"
    assert claim(r, pod("y"), sel) == "adopt"
    assert claim(r, pod("z", labels_={"app": "db"}), sel) == "ignore"
    assert claim(r, pod("w", owner="someone-else"), sel) == "ignore"
    assert claim(r, pod("d", deleting=True), sel) == "ignore"
    assert rc_selector({"metadata": {}, "spec": {}}) == labels.NOTHING


def test_expectations_block_until_observed_and_expire():
    clock = [0.0]
    e = Expectations(ttl=300, clock=lambda: clock[0])
    assert e.satisfied("ns/web")
    e.expect_creations("ns/web", 2)
    assert not e.satisfied("ns/web")
    e.creation_observed("ns/web")
    assert not e.satisfied("ns/web")
    e.creation_observed("ns/web")
    assert e.satisfied("ns/web")
    e.expect_deletions("ns/web", ["ns/a", "ns/b"])
    e.deletion_observed("ns/web", "ns/a")
    e.deletion_observed("ns/web", "ns/a")  # counted once per pod
    assert not e.satisfied("ns/web")
    clock[0] = 301
    assert e.satisfied("ns/web")
