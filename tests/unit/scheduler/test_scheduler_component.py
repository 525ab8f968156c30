"""The Scheduler component over the FakeClient: handlers in, bindings/conditions/events out.

Informer events are delivered by calling the handlers, as an informer would.
"""

from __future__ import annotations

import pytest

from pybernetes.scheduler.queue import QueueClosed
from pybernetes.scheduler.scheduler import Scheduler, SchedulerConfig

from .helpers import make_node, make_pod

FakeClient = pytest.importorskip("pybernetes.client").FakeClient


async def make(nodes=(), **kw):
    client = FakeClient()
    sched = Scheduler(client, SchedulerConfig(leader_elect=False, initial_backoff=0.0, **kw))
    from pybernetes.scheduler.events import SerialEventRecorder

    sched.recorder = SerialEventRecorder(client, "default-scheduler")
    for n in nodes:
        sched.on_node_add(n)
    return client, sched


async def add_pod(client, sched, pod):
    created = await client.pods(pod["metadata"]["namespace"]).create(pod)
    sched.on_pod_add(created)
    return created


async def drain(sched):
    """Schedule every active pod, then wait for bindings and writes."""
    while sched.queue.pending_counts()["active"]:
        try:
            qpi = await sched.queue.pop()
        except QueueClosed:
            return
        await sched.schedule_one(qpi)
    await sched.wait_idle()
    await sched.recorder.flush()


async def test_binds_via_binding_subresource_and_records_scheduled_event():
    client, sched = await make([make_node("n1")])
    await add_pod(client, sched, make_pod("web"))
    await drain(sched)
    assert ("create", "pods/binding", "default", "web") in client.actions
    assert (await client.pods("default").get("web"))["spec"]["nodeName"] == "n1"
    events = (await client.events("default").list())["items"]
    assert [(e["reason"], e["message"], e["type"]) for e in events] == [
        ("Scheduled", "Successfully assigned default/web to n1", "Normal")]
    assert events[0]["involvedObject"]["kind"] == "Pod"
    assert sched.cache.is_assumed("default/web")  # until the informer confirms it


async def test_unschedulable_sets_condition_and_event_once_per_message():
    client, sched = await make([make_node("n1", labels={"disk": "hdd"})])
    await add_pod(client, sched, make_pod("p", node_selector={"disk": "ssd"}))
    await drain(sched)
    pod = await client.pods("default").get("p")
    cond = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"][0]
    msg = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", msg)
    assert sched.queue.where("default/p") == "unschedulable"
    # a heartbeat-only node update does not retry it
    beat = make_node("n1", labels={"disk": "hdd"})
    beat["status"]["conditions"][0]["lastHeartbeatTime"] = "2030-01-01T00:00:00Z"
    sched.on_node_update(make_node("n1", labels={"disk": "hdd"}), beat)
    assert sched.queue.where("default/p") == "unschedulable"
    # our own status write comes back as an update: not a reason to retry either
    sched.on_pod_update(make_pod("p", node_selector={"disk": "ssd"}), pod)
    assert sched.queue.where("default/p") == "unschedulable"
    # a relabel does
    sched.on_node_update(beat, make_node("n1", labels={"disk": "ssd"}))
    assert sched.queue.where("default/p") == "active"
    await drain(sched)
    assert (await client.pods("default").get("p"))["spec"]["nodeName"] == "n1"
    writes = [a for a in client.actions if a[1] == "pods/status"]
    assert len(writes) == 2  # Unschedulable once, then PodScheduled=True
    reasons = [e["reason"] for e in (await client.events("default").list())["items"]]
    assert reasons == ["FailedScheduling", "Scheduled"]


async def test_assumed_pods_count_before_the_informer_sees_them():
    client, sched = await make([make_node("n1", cpu="1"), make_node("n2", cpu="1")])
    for i in range(4):
        await add_pod(client, sched, make_pod(f"p{i}", cpu="500m"))
    await add_pod(client, sched, make_pod("extra", cpu="500m"))
    await drain(sched)
    placed = [(await client.pods("default").get(f"p{i}"))["spec"].get("nodeName") for i in range(4)]
    assert sorted(placed) == ["n1", "n1", "n2", "n2"]
    assert sched.queue.where("default/extra") == "unschedulable"
    # the informer reports p0 deleted: the pending pod is retried at once
    p0 = await client.pods("default").get("p0")
    await client.pods("default").delete("p0", grace_period_seconds=0)
    sched.on_pod_delete(p0)
    assert sched.queue.where("default/extra") in ("active", "backoff")


async def test_binding_conflict_forgets_the_assumption():
    client, sched = await make([make_node("n1", cpu="1")])
    created = await add_pod(client, sched, make_pod("p", cpu="800m"))
    await client.pods("default").bind("p", "elsewhere")  # another scheduler won the race
    await drain(sched)
    assert not sched.cache.is_assumed("default/p")
    assert sched.cache.nodes["n1"].requested.milli_cpu == 0
    assert created["metadata"]["name"] == "p"


async def test_other_schedulers_pods_and_bound_pods():
    client, sched = await make([make_node("n1")])
    other = make_pod("o")
    other["spec"]["schedulerName"] = "custom"
    await add_pod(client, sched, other)
    await add_pod(client, sched, make_pod("bound", cpu="1", node_name="n1"))
    assert len(sched.queue) == 0
    assert sched.cache.nodes["n1"].requested.milli_cpu == 1000


async def test_event_writer_is_serial_and_drops_when_full():
    from pybernetes.scheduler.events import SerialEventRecorder

    client = FakeClient()
    rec = SerialEventRecorder(client, "default-scheduler", buffer=2)
    pod = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "default", "uid": "u"}}
    for i in range(5):
        rec.event(pod, "Normal", "Scheduled", f"m{i}")  # no await: the writer has not run yet
    assert rec.dropped == 3
    await rec.flush()
    msgs = [e["message"] for e in (await client.events("default").list())["items"]]
    assert sorted(msgs) == ["m0", "m1"]
    await rec.aclose()


def test_percentage_flag_is_validated():
    import argparse

    from pybernetes.scheduler.command import add_scheduler_args, config_from_args

    p = argparse.ArgumentParser()
    add_scheduler_args(p)
    cfg = config_from_args(p.parse_args(["--percentage-of-nodes-to-score", "30", "--leader-elect=false"]))
    assert cfg.percentage_of_nodes_to_score == 30 and cfg.leader_elect is False
    assert config_from_args(p.parse_args([])).leader_elect is True
    with pytest.raises(SystemExit):
        p.parse_args(["--percentage-of-nodes-to-score", "101"])


async def test_bindings_logged_per_pod_at_debug_and_summarized_at_info(caplog):
    caplog.set_level("INFO", logger="pybernetes.scheduler")
    client, sched = await make([make_node("n1")])
    for name in ("a", "b"):
        await add_pod(client, sched, make_pod(name))
    await drain(sched)
    assert "Successfully bound pod to node" not in caplog.text  # per pod only with -v
    sched.log_summary(10)
    assert "scheduler: bound 2 pod(s) in the last 10s; 0 pending" in caplog.text
    caplog.clear()
    sched.log_summary(10)  # nothing new bound: no line
    assert "bound" not in caplog.text
    caplog.set_level("DEBUG", logger="pybernetes.scheduler")
    await add_pod(client, sched, make_pod("c"))
    await drain(sched)
    assert 'Successfully bound pod to node pod="default/c" node="n1"' in caplog.text
