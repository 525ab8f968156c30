"""Reconcilers on the FakeClient, with caches we control.

A stalled watch is a fault we cannot cause on demand against a real
apiserver, so the informers here are a frozen cache the test fills by hand.
"""

from __future__ import annotations

import pytest

from pybernetes.client import FakeClient, errors
from pybernetes.client.objects import object_key
from pybernetes.controllers.endpoints import EndpointsController
from pybernetes.controllers.garbage_collector import (
    BY_OWNER,
    BY_UID,
    GarbageCollector,
    owner_uid_index,
    uid_index,
)
from pybernetes.controllers.replication import ReplicationManager


class FrozenCache:
    """An informer whose watch never delivers: only what the test puts in."""

    def __init__(self, *objs, indexers=None):
        self.items = {object_key(o): o for o in objs}
        self.indexers = indexers or {}
        self.handlers = []

    def put(self, obj):
        self.items[object_key(obj)] = obj

    def add_event_handler(self, on_add=None, on_update=None, on_delete=None):
        self.handlers.append((on_add, on_update, on_delete))

    def get(self, key):
        return self.items.get(key)

    def list(self, namespace=None):
        return [o for o in self.items.values()
                if namespace is None or o["metadata"].get("namespace") == namespace]

    def by_index(self, name, value):
        fn = self.indexers[name]
        return [o for o in self.items.values() if value in fn(o)]


def rc(client, replicas):
    return client.add({"apiVersion": "v1", "kind": "ReplicationController",
                       "metadata": {"name": "web", "namespace": "ns", "generation": 1},
                       "spec": {"replicas": replicas, "selector": {"app": "web"},
                                "template": {"metadata": {"labels": {"app": "web"}},
                                             "spec": {"containers": [{"name": "c", "image": "x"}]}}}})


async def test_slow_watch_never_double_creates():
    client = FakeClient()
    r = rc(client, 3)
    rcs, pods = FrozenCache(r), FrozenCache()
    mgr = ReplicationManager(client, rcs=rcs, pods=pods)
    await mgr.reconcile("ns/web")
    assert len(client.actions_of("create", "pods")) == 3
    # The watch has shown none of the three: a second sync must not create more.
    await mgr.reconcile("ns/web")
    await mgr.reconcile("ns/web")
    assert len(client.actions_of("create", "pods")) == 3
    # The pods arrive; expectations are met; nothing more to do.
    for p in client.objects("pods"):
        pods.put(p)
        mgr._pod_added(p)
    assert mgr.expectations.satisfied("ns/web")
    await mgr.reconcile("ns/web")
    assert len(client.actions_of("create", "pods")) == 3
    await mgr.recorder.aclose()
    reasons = [e["reason"] for e in client.objects("events")]
    assert reasons.count("SuccessfulCreate") == 3


async def test_failing_creates_stop_after_first_batch():
    client = FakeClient()
    r = rc(client, 20)
    attempts = []

    def refuse(action):
        attempts.append(action)
        raise errors.Forbidden({"reason": "Forbidden", "message": "exceeded quota", "code": 403})
    client.prepend_reactor("create", "pods", refuse)
    mgr = ReplicationManager(client, rcs=FrozenCache(r), pods=FrozenCache())
    with pytest.raises(RuntimeError, match="failed to create pods"):
        await mgr.reconcile("ns/web")
    assert len(attempts) == 1  # slow start: the batch of 1 failed, nothing more tried
    assert mgr.expectations.satisfied("ns/web")  # the skipped creations were written off
    status = client.objects("replicationcontrollers")[0]["status"]
    assert status["conditions"][0]["type"] == "ReplicaFailure"
    await mgr.recorder.aclose()


async def test_scale_down_deletes_unscheduled_first():
    client = FakeClient()
    r = rc(client, 1)
    ref = [{"apiVersion": "v1", "kind": "ReplicationController", "name": "web", "uid": r["metadata"]["uid"],
            "controller": True}]
    running = client.add({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "running", "namespace": "ns", "labels": {"app": "web"}, "ownerReferences": ref},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    pending = client.add({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "pending", "namespace": "ns", "labels": {"app": "web"}, "ownerReferences": ref},
        "spec": {"containers": [{"name": "c", "image": "x"}]}, "status": {"phase": "Pending"}})
    mgr = ReplicationManager(client, rcs=FrozenCache(r), pods=FrozenCache(running, pending))
    await mgr.reconcile("ns/web")
    assert [a[3] for a in client.actions_of("delete", "pods")] == ["pending"]
    await mgr.recorder.aclose()


async def test_endpoints_written_once():
    client = FakeClient()
    svc = client.add({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "ns"},
                      "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    pod = client.add({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "p", "namespace": "ns", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
        "status": {"podIP": "10.1.0.1", "conditions": [{"type": "Ready", "status": "True"}]}})
    eps = FrozenCache()
    ctl = EndpointsController(client, services=FrozenCache(svc), pods=FrozenCache(pod), endpoints=eps)
    await ctl.reconcile("ns/s")
    assert len(client.actions_of("create", "endpoints")) == 1
    eps.put(client.objects("endpoints")[0])
    await ctl.reconcile("ns/s")
    assert client.actions_of("update", "endpoints") == []


async def test_gc_deletes_dependent_of_vanished_owner_and_keeps_others():
    client = FakeClient()
    owner = client.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner", "namespace": "ns"}})
    gone_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "no-such-uid"}
    live_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    orphan = client.add({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "orphan", "namespace": "ns", "ownerReferences": [gone_ref]}})
    kept = client.add({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "kept", "namespace": "ns", "ownerReferences": [gone_ref, live_ref]}})
    idx = {BY_UID: uid_index, BY_OWNER: owner_uid_index}
    gc = GarbageCollector(client, informers={("", "configmaps"): FrozenCache(owner, indexers=idx),
                                              ("", "secrets"): FrozenCache(orphan, kept, indexers=idx)})
    await gc.reconcile("/secrets/ns/orphan")
    await gc.reconcile("/secrets/ns/kept")
    assert [a[3] for a in client.actions_of("delete", "secrets")] == ["orphan"]
    refs = [s for s in client.objects("secrets") if s["metadata"]["name"] == "kept"][0]["metadata"]["ownerReferences"]
    assert [r["name"] for r in refs] == ["owner"]
