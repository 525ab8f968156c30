"""Each filter and score plugin, per node and in batch form (they must agree)."""

from __future__ import annotations

import random

import pytest

from pybernetes.scheduler.cache import SchedulerCache
from pybernetes.scheduler.framework import Code, CycleState
from pybernetes.scheduler.node_table import np
from pybernetes.scheduler.plugins import (
    NodeAffinity,
    NodePorts,
    NodeReady,
    NodeResourcesBalancedAllocation,
    NodeResourcesFit,
    NodeUnschedulable,
    SelectorSpread,
    TaintToleration,
)
from pybernetes.scheduler.pod_info import PodInfo
from pybernetes.scheduler.profile import Handle, StaticListers

from .helpers import expr, make_node, make_pod, required


def cache_with(*nodes, pods=()):
    c = SchedulerCache()
    for n in nodes:
        c.add_node(n)
    for p in pods:
        c.add_pod(p)
    return c


def verdict(plugin, pod, cache, name):
    st = plugin.filter(CycleState(), PodInfo(pod), cache.nodes[name])
    return None if st is None else st


needs_numpy = pytest.mark.skipif(np is None, reason="numpy is not installed (batch forms unused)")


def batch_scores(pl, state, pod, table, slots):
    """The batch form's scores, or None without numpy (then only the per-node hooks are checked)."""
    if np is None:
        return None
    s = pl.score_batch(state, pod, table, np.asarray(slots, dtype=np.intp))
    return [s] * len(slots) if isinstance(s, int) else s.tolist()  # an int: that score for every slot


def check_batch_agrees(plugin, pod, cache):
    if np is None:
        return
    pi = PodInfo(pod)
    mask = plugin.filter_batch(CycleState(), pi, cache.table)
    for ni in cache.table:
        per_node = plugin.filter(CycleState(), pi, ni) is None
        batch = True if mask is None else bool(mask[ni.slot])
        assert per_node == batch, (plugin.name, ni.name)


# -- NodeReady / NodeUnschedulable ---------------------------------------------------

def test_node_ready_and_unschedulable():
    c = cache_with(make_node("ok"), make_node("down", ready=False), make_node("cordoned", unschedulable=True))
    pod = make_pod("p")
    assert verdict(NodeReady(), pod, c, "ok") is None
    st = verdict(NodeReady(), pod, c, "down")
    assert st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE and st.reasons == ("node(s) were not ready",)
    assert verdict(NodeUnschedulable(), pod, c, "cordoned").reasons == ("node(s) were unschedulable",)
    assert verdict(NodeUnschedulable(), pod, c, "down") is None
    tolerant = make_pod("t", tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                                           "effect": "NoSchedule"}])
    assert verdict(NodeUnschedulable(), tolerant, c, "cordoned") is None
    for pl in (NodeReady(), NodeUnschedulable()):
        check_batch_agrees(pl, pod, c)
        check_batch_agrees(pl, tolerant, c)


def test_node_without_ready_condition_is_not_ready():
    n = make_node("bare")
    n["status"]["conditions"] = []
    c = cache_with(n)
    assert verdict(NodeReady(), make_pod("p"), c, "bare").reasons == ("node(s) were not ready",)


# -- NodeAffinity ----------------------------------------------------------------

NODES = [
    make_node("a", labels={"zone": "z1", "disk": "ssd", "gen": "3"}),
    make_node("b", labels={"zone": "z2", "gen": "5"}),
    make_node("c", labels={"zone": "z3", "disk": "hdd"}),
]


@pytest.mark.parametrize(("pod_kw", "expected"), [
    ({"node_selector": {"disk": "ssd"}}, {"a"}),
    ({"node_selector": {"disk": "ssd", "zone": "z2"}}, set()),
    ({"node_selector": {"missing": "x"}}, set()),
    ({"affinity": required({"matchExpressions": [expr("zone", "In", "z1", "z2")]})}, {"a", "b"}),
    ({"affinity": required({"matchExpressions": [expr("zone", "NotIn", "z1")]})}, {"b", "c"}),
    ({"affinity": required({"matchExpressions": [expr("disk", "Exists")]})}, {"a", "c"}),
    ({"affinity": required({"matchExpressions": [expr("disk", "DoesNotExist")]})}, {"b"}),
    ({"affinity": required({"matchExpressions": [expr("gen", "Gt", "4")]})}, {"b"}),
    ({"affinity": required({"matchExpressions": [expr("gen", "Lt", "4")]})}, {"a"}),
    ({"affinity": required({"matchExpressions": [expr("gen", "Gt", "x")]})}, set()),
    # terms are ORed, expressions ANDed
    ({"affinity": required({"matchExpressions": [expr("zone", "In", "z1"), expr("disk", "In", "hdd")]},
                           {"matchExpressions": [expr("zone", "In", "z3")]})}, {"c"}),
    ({"affinity": required({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]})},
     {"b"}),
    ({"affinity": required({"matchFields": [{"key": "metadata.name", "operator": "NotIn",
                                             "values": ["b"]}]})}, {"a", "c"}),
    ({"affinity": required({})}, set()),  # an empty term matches nothing
    ({"affinity": required()}, set()),  # and so does an empty term list
    # nodeSelector and affinity must both hold
    ({"node_selector": {"zone": "z1"}, "affinity": required({"matchExpressions": [expr("gen", "Gt", "4")]})},
     set()),
])
def test_node_affinity_filter(pod_kw, expected):
    c = cache_with(*NODES)
    pod = make_pod("p", **pod_kw)
    fits = {n["metadata"]["name"] for n in NODES if verdict(NodeAffinity(), pod, c, n["metadata"]["name"]) is None}
    assert fits == expected
    for n in NODES:
        st = verdict(NodeAffinity(), pod, c, n["metadata"]["name"])
        if st is not None:
            assert st.reasons == ("node(s) didn't match Pod's node affinity/selector",)
            assert st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    check_batch_agrees(NodeAffinity(), pod, c)


@needs_numpy
def test_node_affinity_static_column_follows_relabel():
    c = cache_with(*NODES)
    pod = make_pod("p", node_selector={"disk": "ssd"})
    pl = NodeAffinity()
    pl.filter_batch(CycleState(), PodInfo(pod), c.table)  # warm the cached column
    relabelled = make_node("c", labels={"zone": "z3", "disk": "ssd"})
    c.update_node(relabelled)
    check_batch_agrees(pl, pod, c)
    mask = pl.filter_batch(CycleState(), PodInfo(pod), c.table)
    assert bool(mask[c.nodes["c"].slot])


def test_preferred_affinity_score():
    c = cache_with(*NODES)
    pod = make_pod("p", affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [expr("disk", "Exists")]}},
        {"weight": 30, "preference": {"matchExpressions": [expr("zone", "In", "z1")]}},
    ]}})
    pl, pi, state = NodeAffinity(), PodInfo(pod), CycleState()
    infos = [c.nodes[n] for n in ("a", "b", "c")]
    scores = [pl.score(state, pi, ni) for ni in infos]
    assert scores == [40, 0, 10]
    pl.normalize(state, pi, scores)
    assert scores == [100, 0, 25]
    assert batch_scores(pl, state, pi, c.table, [ni.slot for ni in infos]) in (None, scores)


# -- TaintToleration ---------------------------------------------------------------

def test_taints_and_tolerations():
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    c = cache_with(make_node("t", taints=[taint]),
                   make_node("x", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]),
                   make_node("soft", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]),
                   make_node("clean"))
    pl = TaintToleration()
    plain = make_pod("p")
    assert verdict(pl, plain, c, "t").reasons == ("node(s) had untolerated taint {k: v}",)
    assert verdict(pl, plain, c, "x").reasons == ("node(s) had untolerated taint {dedicated: gpu}",)
    assert verdict(pl, plain, c, "soft") is None
    cases = [
        ([{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}], True),
        ([{"key": "k", "value": "v"}], True),  # operator defaults to Equal, empty effect = all
        ([{"key": "k", "operator": "Equal", "value": "other"}], False),
        ([{"key": "k", "operator": "Exists"}], True),
        ([{"operator": "Exists"}], True),  # empty key + Exists tolerates everything
        ([{"key": "k", "operator": "Exists", "effect": "NoExecute"}], False),
    ]
    for tols, ok in cases:
        pod = make_pod("p", tolerations=tols)
        assert (verdict(pl, pod, c, "t") is None) == ok, tols
        check_batch_agrees(pl, pod, c)
    check_batch_agrees(pl, plain, c)
    # PreferNoSchedule only scores
    pi, state = PodInfo(plain), CycleState()
    infos = [c.nodes["soft"], c.nodes["clean"]]
    scores = [pl.score(state, pi, ni) for ni in infos]
    pl.normalize(state, pi, scores)
    assert scores == [0, 100]
    assert batch_scores(pl, state, pi, c.table, [ni.slot for ni in infos]) in (None, scores)


# -- NodePorts -----------------------------------------------------------------------

def test_host_port_conflicts():
    c = cache_with(make_node("n1"), make_node("n2"),
                   pods=[make_pod("web", host_port=8080, node_name="n1")])
    pl = NodePorts()
    same = make_pod("p", host_port=8080)
    assert verdict(pl, same, c, "n1").reasons == ("node(s) didn't have free ports for the requested pod ports",)
    assert verdict(pl, same, c, "n2") is None
    assert verdict(pl, make_pod("q", host_port=8081), c, "n1") is None
    udp = make_pod("u")
    udp["spec"]["containers"][0]["ports"] = [{"containerPort": 1, "hostPort": 8080, "protocol": "UDP"}]
    assert verdict(pl, udp, c, "n1") is None
    ip = make_pod("i")
    ip["spec"]["containers"][0]["ports"] = [{"containerPort": 1, "hostPort": 8080, "hostIP": "10.0.0.1"}]
    assert verdict(pl, ip, c, "n1") is not None  # 0.0.0.0 conflicts with every IP
    for p in (same, udp, ip, make_pod("none")):
        check_batch_agrees(pl, p, c)
    c.remove_pod("default/web")
    assert verdict(pl, same, c, "n1") is None


# -- NodeResourcesFit -------------------------------------------------------------------

def test_resources_fit_and_messages():
    c = cache_with(make_node("small", cpu="1", memory="1Gi", pods="2"),
                   pods=[make_pod("a", cpu="600m", memory="512Mi", node_name="small")])
    pl = NodeResourcesFit()
    assert verdict(pl, make_pod("ok", cpu="400m", memory="512Mi"), c, "small") is None
    st = verdict(pl, make_pod("big", cpu="500m", memory="600Mi"), c, "small")
    assert st.reasons == ("Insufficient cpu", "Insufficient memory") and st.code == Code.UNSCHEDULABLE
    huge = verdict(pl, make_pod("huge", cpu="2"), c, "small")
    assert huge.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    c.assume_pod(PodInfo(make_pod("b")), "small")
    assert verdict(pl, make_pod("third"), c, "small").reasons == ("Too many pods",)
    for p in (make_pod("ok", cpu="400m"), make_pod("big", cpu="500m", memory="600Mi"), make_pod("x")):
        check_batch_agrees(pl, p, c)


def test_init_containers_count_as_kubernetes_does():
    c = cache_with(make_node("n", cpu="2", memory="4Gi"))
    pl = NodeResourcesFit()
    # max(sum(app)=500m, max(init)=1500m) = 1500m fits in 2; 2500m init does not
    pod = make_pod("p", cpu="500m", init=[{"name": "i", "image": "x", "resources": {"requests": {"cpu": "1500m"}}}])
    assert PodInfo(pod).requests.milli_cpu == 1500
    assert verdict(pl, pod, c, "n") is None
    pod2 = make_pod("p2", cpu="500m", init=[{"name": "i", "image": "x", "resources": {"requests": {"cpu": "2500m"}}}])
    assert verdict(pl, pod2, c, "n").reasons == ("Insufficient cpu",)
    # a sidecar (restartPolicy Always) adds to the app containers
    side = make_pod("s", cpu="500m", init=[{"name": "i", "image": "x", "restartPolicy": "Always",
                                             "resources": {"requests": {"cpu": "1"}}}])
    assert PodInfo(side).requests.milli_cpu == 1500


def test_least_allocated_and_balanced_scores():
    c = cache_with(make_node("empty", cpu="4", memory="8Gi"), make_node("busy", cpu="4", memory="8Gi"),
                   pods=[make_pod("x", cpu="3", memory="1Gi", node_name="busy")])
    pod = PodInfo(make_pod("p", cpu="1", memory="2Gi"))
    state = CycleState()
    infos = [c.nodes["empty"], c.nodes["busy"]]
    fit = NodeResourcesFit()
    least = [fit.score(state, pod, ni) for ni in infos]
    # empty: cpu (4-1)/4=75, mem (8-2)/8=75 -> 75; busy: cpu 0, mem (8-3)/8=62 -> 31
    assert least == [75, 31]
    assert batch_scores(fit, state, pod, c.table, [ni.slot for ni in infos]) in (None, least)
    bal = NodeResourcesBalancedAllocation()
    balanced = [bal.score(state, pod, ni) for ni in infos]
    # empty: cpu .25 mem .25 -> 100; busy: cpu 1.0 mem .375 -> (1 - .3125) * 100 = 68
    assert balanced == [100, 68]
    assert batch_scores(bal, state, pod, c.table, [ni.slot for ni in infos]) in (None, balanced)


def test_best_effort_pods_count_default_requests_for_spreading():
    c = cache_with(make_node("n", cpu="1", memory="1Gi"), pods=[make_pod("a", node_name="n")])
    ni = c.nodes["n"]
    assert (ni.nonzero_cpu, ni.nonzero_mem) == (100, 200 * 1024 * 1024)
    assert ni.requested.milli_cpu == 0


# -- SelectorSpread ---------------------------------------------------------------------

def test_selector_spread_prefers_nodes_with_fewer_siblings():
    svc = {"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": {"app": "web"}}}
    c = cache_with(make_node("n1"), make_node("n2"), make_node("n3"),
                   pods=[make_pod("w1", labels={"app": "web"}, node_name="n1"),
                         make_pod("w2", labels={"app": "web"}, node_name="n1"),
                         make_pod("w3", labels={"app": "web"}, node_name="n2"),
                         make_pod("o1", labels={"app": "other"}, node_name="n3"),
                         make_pod("w4", ns="elsewhere", labels={"app": "web"}, node_name="n3")])
    pl = SelectorSpread(Handle(c, StaticListers({"services": [svc]})))
    pod = PodInfo(make_pod("new", labels={"app": "web"}))
    state = CycleState()
    infos = [c.nodes[n] for n in ("n1", "n2", "n3")]
    assert pl.pre_score(state, pod, infos) is None
    scores = [pl.score(state, pod, ni) for ni in infos]
    assert scores == [2, 1, 0]
    pl.normalize(state, pod, scores)
    assert scores == [0, 50, 100]
    assert batch_scores(pl, state, pod, c.table, [ni.slot for ni in infos]) in (None, scores)
    lonely = PodInfo(make_pod("lonely", labels={"app": "none"}))
    assert pl.pre_score(CycleState(), lonely, infos).code == Code.SKIP


# -- batch vs per-node on random clusters ----------------------------------------------------

def test_batch_and_per_node_agree_on_random_clusters():
    rng = random.Random(7)
    nodes = []
    for i in range(60):
        taints = [{"key": "k", "value": rng.choice("ab"), "effect": rng.choice(["NoSchedule", "PreferNoSchedule"])}] \
            if rng.random() < 0.3 else None
        nodes.append(make_node(f"n{i}", cpu=str(rng.choice([1, 2, 4])), memory=rng.choice(["1Gi", "4Gi"]),
                               pods=str(rng.choice([2, 5, 110])), labels={"zone": f"z{rng.randrange(3)}"},
                               taints=taints, ready=rng.random() > 0.1, unschedulable=rng.random() < 0.1))
    pods = [make_pod(f"p{i}", cpu=f"{rng.randrange(1, 900)}m", memory=f"{rng.randrange(1, 900)}Mi",
                     node_name=f"n{rng.randrange(60)}", host_port=rng.choice([None, 80])) for i in range(120)]
    c = cache_with(*nodes, pods=pods)
    for j in range(30):
        pod = make_pod(f"q{j}", cpu=f"{rng.randrange(1, 2000)}m", memory=f"{rng.randrange(1, 2000)}Mi",
                       node_selector=rng.choice([None, {"zone": "z1"}]), host_port=rng.choice([None, 80]),
                       tolerations=rng.choice([None, [{"key": "k", "value": "a"}]]))
        for pl in (NodeReady(), NodeUnschedulable(), NodeAffinity(), TaintToleration(), NodePorts(),
                   NodeResourcesFit()):
            check_batch_agrees(pl, pod, c)
        pi, state = PodInfo(pod), CycleState()
        infos = list(c.table)
        slots = [ni.slot for ni in infos]
        for pl in (NodeResourcesFit(), NodeResourcesBalancedAllocation(), TaintToleration(), NodeAffinity()):
            scores = [pl.score(state, pi, ni) for ni in infos]
            pl.normalize(state, pi, scores)
            assert batch_scores(pl, state, pi, c.table, slots) in (None, scores), pl.name


# -- derived columns (per pod shape, rewritten row by row as pods come and go) ---------------

@needs_numpy
def test_derived_column_is_made_on_the_second_request_and_bounded():
    c = cache_with(make_node("a"), make_node("b"))
    t = c.table
    calls = []

    def build(idx):
        calls.append(idx)
        return np.arange(t.size)[idx]

    assert t.derived_column("k", lambda ni: ni.slot, build, np.int64) is None  # a one-off shape: no column
    col = t.derived_column("k", lambda ni: ni.slot, build, np.int64)
    assert col[:2].tolist() == [0, 1] and len(calls) == 1
    assert t.derived_column("k", lambda ni: ni.slot, build, np.int64) is col and len(calls) == 1
    for i in range(20):  # many other shapes: only the most recent few keep a column
        t.derived_column(("other", i), lambda ni: 0, build, np.int64)
        t.derived_column(("other", i), lambda ni: 0, build, np.int64)
    assert len(t._derived) <= 12 and "k" not in t._derived


@needs_numpy
def test_resource_batch_forms_follow_pods_and_nodes_for_a_repeated_shape():
    """The same pod shape over and over (cached columns) agrees with the per-node hooks
    through assumes, forgets, pod removals, node additions, resizes and removals."""
    rng = random.Random(11)
    c = cache_with(*[make_node(f"n{i}", cpu=rng.choice(["1", "2"]), memory=rng.choice(["1Gi", "2Gi"]),
                               pods=rng.choice(["3", "110"])) for i in range(12)])
    fit, bal = NodeResourcesFit(), NodeResourcesBalancedAllocation()

    def check(pi):
        check_batch_agrees(fit, pi.pod, c)
        infos = list(c.table)
        slots = [ni.slot for ni in infos]
        state = CycleState()
        for pl in (fit, bal):
            assert batch_scores(pl, state, pi, c.table, slots) == [pl.score(state, pi, ni) for ni in infos], pl.name

    placed = []
    for i in range(60):
        pi = PodInfo(make_pod(f"p{i}", cpu="300m", memory="200Mi"))
        check(pi)
        op = rng.random()
        if op < 0.5 or not placed:
            ni = rng.choice(list(c.table))
            c.assume_pod(pi, ni.name)
            placed.append(pi.key)
        elif op < 0.7:
            c.forget_pod(placed.pop(rng.randrange(len(placed))))
        elif op < 0.8:
            c.add_node(make_node(f"x{i}", cpu=rng.choice(["1", "3"])))
        elif op < 0.9:
            name = rng.choice(sorted(c.nodes))
            c.update_node(make_node(name, cpu=rng.choice(["1", "2", "4"]), memory="2Gi"))
        else:
            victim = rng.choice(list(c.table)).name
            c.remove_node(victim)
    assert any(k[0] == "NodeResourcesFit" for k in c.table._derived)  # the cached path was exercised


@needs_numpy
def test_prefer_no_schedule_score_follows_a_taint_added_later():
    c = cache_with(make_node("a"), make_node("b"))
    pl, pi = TaintToleration(), PodInfo(make_pod("p"))

    def agree():
        infos = list(c.table)
        scores = [pl.score(CycleState(), pi, ni) for ni in infos]
        pl.normalize(CycleState(), pi, scores)
        assert batch_scores(pl, CycleState(), pi, c.table, [ni.slot for ni in infos]) == scores
        return dict(zip([ni.name for ni in infos], scores, strict=True))

    assert agree() == {"a": 100, "b": 100}
    c.update_node(make_node("b", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]))
    assert agree() == {"a": 100, "b": 0}
    c.remove_node("b")
    c.add_node(make_node("c"))
    assert agree() == {"a": 100, "c": 100}
