"""The cache's incremental sums and assumed pods; the queue's ordering, backoff and pool."""

from __future__ import annotations

import asyncio

import pytest

from pybernetes.scheduler.cache import SchedulerCache
from pybernetes.scheduler.node_table import np
from pybernetes.scheduler.pod_info import PodInfo
from pybernetes.scheduler.queue import NODE_ADD, POD_DELETE, SchedulingQueue

from .helpers import make_node, make_pod


def test_assume_confirm_forget_and_remove_keep_sums_exact():
    c = SchedulerCache()
    c.add_node(make_node("n"))
    pi = PodInfo(make_pod("p", cpu="300m", memory="1Gi"))
    c.assume_pod(pi, "n")
    ni = c.nodes["n"]
    assert ni.requested.milli_cpu == 300 and (np is None or c.table.req_cpu[ni.slot] == 300)
    assert c.is_assumed("default/p")
    bound = make_pod("p", cpu="300m", memory="1Gi", node_name="n")
    c.add_pod(bound)  # the informer confirms it: no double counting
    assert not c.is_assumed("default/p") and ni.requested.milli_cpu == 300 and len(ni.pods) == 1
    c.remove_pod("default/p")
    assert ni.requested.milli_cpu == 0 and (np is None or (c.table.req_cpu[ni.slot] == 0 and c.table.req_pods[ni.slot] == 0))
    c.assume_pod(PodInfo(make_pod("q", cpu="1")), "n")
    c.forget_pod("default/q")
    assert ni.requested.milli_cpu == 0


def test_pod_observed_on_another_node_moves():
    c = SchedulerCache()
    c.add_node(make_node("a"))
    c.add_node(make_node("b"))
    c.assume_pod(PodInfo(make_pod("p", cpu="1")), "a")
    c.add_pod(make_pod("p", cpu="1", node_name="b"))
    assert c.nodes["a"].requested.milli_cpu == 0 and c.nodes["b"].requested.milli_cpu == 1000


def test_pods_before_node_and_node_removal():
    c = SchedulerCache()
    c.add_pod(make_pod("p", cpu="1", node_name="late"))
    assert c.node_count() == 0
    c.add_node(make_node("late"))
    assert c.node_count() == 1 and (np is None or c.table.req_cpu[c.nodes["late"].slot] == 1000)
    c.remove_node("late")
    assert c.node_count() == 0 and (np is None or not c.table.live[0])
    c.add_node(make_node("late"))
    assert c.nodes["late"].requested.milli_cpu == 1000


def test_heartbeat_is_not_a_property_change():
    c = SchedulerCache()
    n = make_node("n")
    ni = c.add_node(n)
    beat = make_node("n")
    beat["status"]["conditions"][0]["lastHeartbeatTime"] = "2024-01-01T00:00:00Z"
    assert ni.set_node(beat) is False
    assert ni.set_node(make_node("n", labels={"x": "y"})) is True


def qpi_keys(q):
    return sorted(q._where)


async def test_priority_then_fifo():
    q = SchedulingQueue()
    q.add(PodInfo(make_pod("low1", priority=0)))
    q.add(PodInfo(make_pod("high", priority=100)))
    q.add(PodInfo(make_pod("low2", priority=0)))
    names = [(await q.pop()).info.name for _ in range(3)]
    assert names == ["high", "low1", "low2"]


async def test_pop_waits_for_work():
    q = SchedulingQueue()
    task = asyncio.create_task(q.pop())
    await asyncio.sleep(0.01)
    assert not task.done()
    q.add(PodInfo(make_pod("p")))
    assert (await asyncio.wait_for(task, 2)).info.name == "p"


async def test_unschedulable_pool_moves_on_relevant_events_only():
    q = SchedulingQueue(initial_backoff=0.0)
    q.add(PodInfo(make_pod("fit")))
    q.add(PodInfo(make_pod("sel")))
    a = await q.pop()
    b = await q.pop()
    a.unschedulable_plugins = frozenset({"NodeResourcesFit"})
    b.unschedulable_plugins = frozenset({"NodeAffinity"})
    q.add_unschedulable(a, q.scheduling_cycle)
    q.add_unschedulable(b, q.scheduling_cycle)
    assert q.where("default/fit") == "unschedulable" and q.where("default/sel") == "unschedulable"
    assert q.move_all_to_active_or_backoff(POD_DELETE) == 1  # a freed pod helps only resource rejections
    assert q.where("default/fit") == "active" and q.where("default/sel") == "unschedulable"
    assert q.move_all_to_active_or_backoff(NODE_ADD) == 1
    assert q.where("default/sel") == "active"


async def test_event_during_cycle_sends_pod_to_backoff_not_pool():
    q = SchedulingQueue(initial_backoff=0.05)
    q.add(PodInfo(make_pod("p")))
    qpi = await q.pop()
    cycle = q.scheduling_cycle
    q.move_all_to_active_or_backoff(NODE_ADD)  # arrives while p is being scheduled
    q.add_unschedulable(qpi, cycle)
    assert q.where("default/p") == "backoff"
    again = await asyncio.wait_for(q.pop(), 2)  # the backoff timer releases it
    assert again.info.name == "p" and again.attempts == 2


async def test_backoff_doubles_and_caps():
    q = SchedulingQueue(initial_backoff=1.0, max_backoff=10.0)
    q.add(PodInfo(make_pod("p")))
    qpi = await q.pop()
    durations = []
    for attempts in range(1, 7):
        qpi.attempts = attempts
        durations.append(q._backoff_duration(qpi))
    assert durations == [1, 2, 4, 8, 10, 10]


async def test_delete_removes_everywhere():
    q = SchedulingQueue()
    q.add(PodInfo(make_pod("p")))
    q.delete("default/p")
    assert len(q) == 0
    q.add(PodInfo(make_pod("r")))
    assert (await q.pop()).info.name == "r"


@pytest.mark.parametrize("where", ["unschedulable"])
async def test_update_of_unschedulable_pod_retries_it(where):
    q = SchedulingQueue(initial_backoff=0.0)
    q.add(PodInfo(make_pod("p")))
    qpi = await q.pop()
    q.add_unschedulable(qpi, q.scheduling_cycle)
    q.update(PodInfo(make_pod("p", node_selector={"a": "b"})))
    assert q.where("default/p") == "active"
    assert (await q.pop()).info.node_selector == {"a": "b"}


def test_pods_of_one_shape_share_their_parsed_requests():
    a, b = PodInfo(make_pod("a", cpu="250m", memory="1Gi")), PodInfo(make_pod("b", cpu="250m", memory="1Gi"))
    assert a.requests is b.requests and a.nonzero == b.nonzero == (250, 1024**3)
    sidecar = make_pod("c", cpu="250m", memory="1Gi", init=[
        {"name": "s", "image": "i", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}])
    c = PodInfo(sidecar)
    assert c.requests is not a.requests and c.requests.milli_cpu == 350
    assert c.nonzero == (350, 1024**3 + 200 * 1024**2)  # the sidecar without a memory request counts 200Mi
    odd = make_pod("d")
    odd["spec"]["containers"][0]["resources"] = {"requests": {"cpu": ["1"]}}  # unhashable: parsed alone
    assert PodInfo(odd).requests.milli_cpu == 0 and PodInfo(odd).nonzero == (0, 200 * 1024**2)
