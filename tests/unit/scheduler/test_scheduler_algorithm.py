"""Filter + score + select over a cache, with and without numpy columns."""

from __future__ import annotations

import random

import pytest

from pybernetes.scheduler.algorithm import (
    Algorithm,
    FitError,
    NoNodesAvailable,
    fit_error_message,
    num_feasible_nodes_to_find,
)
from pybernetes.scheduler.cache import SchedulerCache
from pybernetes.scheduler.pod_info import PodInfo
from pybernetes.scheduler.profile import DEFAULT_PROFILE, Handle, build_plugins

from .helpers import make_node, make_pod


def algorithm(*nodes, pods=(), vector=True, percentage=0, seed=1):
    cache = SchedulerCache(vector=vector)
    for n in nodes:
        cache.add_node(n)
    for p in pods:
        cache.add_pod(p)
    plugins = build_plugins(DEFAULT_PROFILE, Handle(cache))
    return Algorithm(cache, plugins, percentage=percentage, rng=random.Random(seed))


@pytest.mark.parametrize(("n", "pct", "want"), [
    (50, 0, 50), (99, 0, 99), (100, 0, 100), (500, 0, 230), (1000, 0, 420),
    (5000, 0, 500), (6000, 0, 300), (10000, 0, 500), (5000, 100, 5000), (5000, 1, 100), (5000, 30, 1500),
])
def test_num_feasible_nodes_to_find(n, pct, want):
    assert num_feasible_nodes_to_find(pct, n) == want


def test_fit_error_message_histogram_is_sorted():
    from pybernetes.scheduler.framework import Code, Status
    sts = [Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) had untolerated taint {k: v}",)),
           Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) didn't match Pod's node affinity/selector",)),
           Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) didn't match Pod's node affinity/selector",))]
    assert fit_error_message(3, sts) == ("0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, "
                                         "2 node(s) didn't match Pod's node affinity/selector.")


@pytest.mark.parametrize("vector", [True, False])
def test_unschedulable_pod_gets_kubernetes_message(vector):
    alg = algorithm(make_node("a", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]),
                    make_node("b", labels={"disk": "hdd"}), make_node("c", labels={"disk": "hdd"}),
                    vector=vector)
    with pytest.raises(FitError) as ei:
        alg.schedule(PodInfo(make_pod("p", node_selector={"disk": "ssd"})))
    assert str(ei.value) == ("0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, "
                             "2 node(s) didn't match Pod's node affinity/selector.")
    assert ei.value.unresolvable


@pytest.mark.parametrize("vector", [True, False])
def test_resources_exhaust_then_pending(vector):
    alg = algorithm(make_node("a", cpu="1"), make_node("b", cpu="1"), vector=vector)
    placed = []
    for i in range(4):
        pi = PodInfo(make_pod(f"p{i}", cpu="500m"))
        r = alg.schedule(pi)
        alg.cache.assume_pod(pi, r.node)  # assumed pods count at once
        placed.append(r.node)
    assert sorted(placed) == ["a", "a", "b", "b"]
    with pytest.raises(FitError) as ei:
        alg.schedule(PodInfo(make_pod("p4", cpu="500m")))
    assert str(ei.value) == "0/2 nodes are available: 2 Insufficient cpu."
    assert not ei.value.unresolvable
    alg.cache.forget_pod("default/p0")
    assert alg.schedule(PodInfo(make_pod("p4", cpu="500m"))).node == placed[0]


@pytest.mark.parametrize("vector", [True, False])
def test_least_allocated_spreads_and_ties_break_randomly(vector):
    nodes = [make_node(f"n{i}") for i in range(4)]
    seen = set()
    for seed in range(20):
        alg = algorithm(*nodes, vector=vector, seed=seed)
        seen.add(alg.schedule(PodInfo(make_pod("p", cpu="100m"))).node)
    assert len(seen) > 1  # equal nodes: random among the best
    alg = algorithm(*nodes, pods=[make_pod(f"x{i}", cpu="2", node_name=f"n{i}") for i in range(3)], vector=vector)
    assert alg.schedule(PodInfo(make_pod("p", cpu="100m"))).node == "n3"


def test_no_nodes():
    with pytest.raises(NoNodesAvailable) as ei:
        algorithm().schedule(PodInfo(make_pod("p")))
    assert str(ei.value) == "no nodes available to schedule pods"


def test_percentage_limits_nodes_scored_and_rotates():
    nodes = [make_node(f"n{i:03}") for i in range(300)]
    alg = algorithm(*nodes)
    # 300 nodes, adaptive 48% -> 144 feasible nodes found per pod, starting where the last stopped
    r1 = alg.schedule(PodInfo(make_pod("p1")))
    assert r1.feasible == 144 and r1.evaluated == 300
    assert alg.next_start == 144
    alg.schedule(PodInfo(make_pod("p2")))
    assert alg.next_start == 288
    alg.schedule(PodInfo(make_pod("p3")))
    assert alg.next_start == 132  # wrapped around


def test_vector_and_scalar_pick_the_same_on_deterministic_clusters():
    rng = random.Random(3)
    nodes = [make_node(f"n{i}", cpu=str(rng.choice([2, 4, 8])), memory=rng.choice(["2Gi", "8Gi", "16Gi"]),
                       labels={"zone": f"z{i % 3}"}) for i in range(40)]
    a, b = algorithm(*nodes, vector=True), algorithm(*nodes, vector=False)
    for i in range(150):
        pod = make_pod(f"p{i}", cpu=f"{rng.randrange(50, 1500)}m", memory=f"{rng.randrange(64, 3000)}Mi",
                       node_selector=rng.choice([None, {"zone": "z1"}]))
        outcomes = []
        for alg in (a, b):
            pi = PodInfo(pod)
            try:
                # with ties the choice is random: compare the best score sets instead
                r = alg.schedule(pi)
                alg.cache.assume_pod(pi, r.node)
                outcomes.append(r.feasible)
            except FitError as e:
                outcomes.append(str(e))
        assert outcomes[0] == outcomes[1]
