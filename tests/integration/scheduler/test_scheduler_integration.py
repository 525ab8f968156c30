"""The scheduler against a real apiserver: placement rules, unschedulable pods and their
messages, retries on cluster events, leader election, and `pyb scheduler` itself."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from pathlib import Path

import pytest

from pybernetes.client import Client
from pybernetes.scheduler.scheduler import Scheduler, SchedulerConfig

WAIT = 30.0
ROOT = Path(__file__).resolve().parents[3]


def node(name, *, cpu="4", memory="8Gi", pods="110", labels=None, taints=None):
    n = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": dict(labels or {})}, "spec": {}}
    if taints:
        n["spec"]["taints"] = taints
    return n, {"capacity": {"cpu": cpu, "memory": memory, "pods": pods},
               "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
               "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}


def pod(name, *, cpu=None, node_selector=None, affinity=None, tolerations=None, host_port=None):
    c = {"name": "c", "image": "busybox"}
    if cpu:
        c["resources"] = {"requests": {"cpu": cpu}}
    if host_port:
        c["ports"] = [{"containerPort": 80, "hostPort": host_port}]
    spec = {"containers": [c]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity:
        spec["affinity"] = affinity
    if tolerations:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


class Cluster:
    """A client, a private namespace and node names unique to the test."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.ns = f"sched-{uuid.uuid4().hex[:8]}"
        self.prefix = self.ns

    def n(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    async def add_node(self, short, **kw):
        obj, status = node(self.n(short), **kw)
        created = await self.client.nodes().create(obj)
        created["status"] = status
        return await self.client.nodes().update_status(created)

    async def create(self, p):
        return await self.client.pods(self.ns).create(p)

    async def node_of(self, name, timeout=WAIT) -> str:
        async def bound():
            while True:
                p = await self.client.pods(self.ns).get(name)
                if p["spec"].get("nodeName"):
                    return p["spec"]["nodeName"]
                await asyncio.sleep(0.05)
        return await asyncio.wait_for(bound(), timeout)

    async def unschedulable(self, name, timeout=WAIT) -> tuple[dict, list[dict]]:
        """Wait for PodScheduled=False and a FailedScheduling event; return (condition, events)."""
        async def wait():
            while True:
                p = await self.client.pods(self.ns).get(name)
                assert not p["spec"].get("nodeName"), "pod was bound"
                cond = next((c for c in p["status"].get("conditions") or () if c["type"] == "PodScheduled"), None)
                events = [e for e in (await self.client.events(self.ns).list())["items"]
                          if e["involvedObject"]["name"] == name and e["reason"] == "FailedScheduling"]
                if cond and cond["status"] == "False" and events:
                    return cond, events
                await asyncio.sleep(0.05)
        return await asyncio.wait_for(wait(), timeout)


@contextlib.asynccontextmanager
async def running_scheduler(kubeconfig, **kw):
    client = Client.from_kubeconfig(kubeconfig)
    cfg = SchedulerConfig(leader_elect=kw.pop("leader_elect", False), initial_backoff=0.2, max_backoff=1.0, **kw)
    sched = Scheduler(client, cfg)
    task = asyncio.create_task(sched.run())
    try:
        yield sched
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await client.close()


@pytest.fixture
async def cluster(apiserver):
    client = Client.from_kubeconfig(apiserver.kubeconfig)
    c = Cluster(client)
    await client.namespaces().create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": c.ns}})
    try:
        yield c
    finally:
        await client.close()


async def test_node_selector_match_mismatch_then_relabel(apiserver, cluster):
    await cluster.add_node("ssd", labels={"disk": "ssd"})
    await cluster.add_node("hdd", labels={"disk": "hdd"})
    async with running_scheduler(apiserver.kubeconfig):
        await cluster.create(pod("fast", node_selector={"disk": "ssd"}))
        assert await cluster.node_of("fast") == cluster.n("ssd")
        await cluster.create(pod("nvme", node_selector={"disk": "nvme"}))
        cond, events = await cluster.unschedulable("nvme")
        msg = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
        assert cond["reason"] == "Unschedulable" and cond["message"] == msg
        assert events[0]["message"] == msg and events[0]["type"] == "Warning"
        assert events[0]["source"]["component"] == "default-scheduler"
        # relabel a node: the pending pod is retried because of the node update, and lands
        n = await cluster.client.nodes().get(cluster.n("hdd"))
        n["metadata"]["labels"]["disk"] = "nvme"
        await cluster.client.nodes().update(n)
        assert await cluster.node_of("nvme") == cluster.n("hdd")
        scheduled = [e for e in (await cluster.client.events(cluster.ns).list())["items"]
                     if e["reason"] == "Scheduled" and e["involvedObject"]["name"] == "fast"]
        assert scheduled and scheduled[0]["message"] == f"Successfully assigned {cluster.ns}/fast to {cluster.n('ssd')}"


async def test_node_affinity_operators(apiserver, cluster):
    await cluster.add_node("a", labels={"zone": "z1", "gen": "3", "gpu": "yes"})
    await cluster.add_node("b", labels={"zone": "z2", "gen": "5"})

    def req(*exprs, fields=()):
        term = {}
        if exprs:
            term["matchExpressions"] = list(exprs)
        if fields:
            term["matchFields"] = list(fields)
        return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}

    cases = {
        "in": (req({"key": "zone", "operator": "In", "values": ["z2", "z9"]}), "b"),
        "notin": (req({"key": "zone", "operator": "NotIn", "values": ["z2"]}), "a"),
        "exists": (req({"key": "gpu", "operator": "Exists"}), "a"),
        "doesnotexist": (req({"key": "gpu", "operator": "DoesNotExist"}), "b"),
        "gt": (req({"key": "gen", "operator": "Gt", "values": ["4"]}), "b"),
        "lt": (req({"key": "gen", "operator": "Lt", "values": ["4"]}), "a"),
        "fields": (req(fields=[{"key": "metadata.name", "operator": "In", "values": [cluster.n("b")]}]), "b"),
    }
    async with running_scheduler(apiserver.kubeconfig):
        for name, (aff, _) in cases.items():
            await cluster.create(pod(name, affinity=aff))
        for name, (_, want) in cases.items():
            assert await cluster.node_of(name) == cluster.n(want), name
        await cluster.create(pod("none", affinity=req({"key": "gen", "operator": "Gt", "values": ["9"]})))
        cond, _ = await cluster.unschedulable("none")
        assert cond["message"] == "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."


async def test_taints_and_tolerations(apiserver, cluster):
    await cluster.add_node("tainted", labels={"pool": "special"},
                           taints=[{"key": "dedicated", "value": "special", "effect": "NoSchedule"}])
    await cluster.add_node("plain", labels={"pool": "general"})
    async with running_scheduler(apiserver.kubeconfig):
        await cluster.create(pod("any"))
        assert await cluster.node_of("any") == cluster.n("plain")
        await cluster.create(pod("wants-special", node_selector={"pool": "special"}))
        cond, _ = await cluster.unschedulable("wants-special")
        assert cond["message"] == ("0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
                                   "1 node(s) had untolerated taint {dedicated: special}.")
        await cluster.create(pod("tolerant", node_selector={"pool": "special"},
                                 tolerations=[{"key": "dedicated", "operator": "Equal", "value": "special",
                                               "effect": "NoSchedule"}]))
        assert await cluster.node_of("tolerant") == cluster.n("tainted")


async def test_host_port_conflict_until_the_holder_is_deleted(apiserver, cluster):
    await cluster.add_node("only")
    async with running_scheduler(apiserver.kubeconfig):
        await cluster.create(pod("first", host_port=8080))
        assert await cluster.node_of("first") == cluster.n("only")
        await cluster.create(pod("second", host_port=8080))
        cond, _ = await cluster.unschedulable("second")
        assert cond["message"] == ("0/1 nodes are available: 1 node(s) didn't have free ports for the "
                                   "requested pod ports.")
        await cluster.create(pod("other-port", host_port=8081))
        assert await cluster.node_of("other-port") == cluster.n("only")
        await cluster.client.pods(cluster.ns).delete("first", grace_period_seconds=0)
        assert await cluster.node_of("second") == cluster.n("only")


async def test_resource_exhaustion_then_delete_then_add_node(apiserver, cluster):
    await cluster.add_node("small", cpu="1")
    async with running_scheduler(apiserver.kubeconfig):
        for i in range(2):
            await cluster.create(pod(f"p{i}", cpu="500m"))
        for i in range(2):
            assert await cluster.node_of(f"p{i}") == cluster.n("small")
        await cluster.create(pod("p2", cpu="500m"))
        cond, _ = await cluster.unschedulable("p2")
        assert cond["message"] == "0/1 nodes are available: 1 Insufficient cpu."
        # a pod goes away: the pending one is retried at once and fits
        await cluster.client.pods(cluster.ns).delete("p0", grace_period_seconds=0)
        assert await cluster.node_of("p2") == cluster.n("small")
        # the cluster is full again: a new node makes room
        await cluster.create(pod("p3", cpu="500m"))
        await cluster.unschedulable("p3")
        await cluster.add_node("big", cpu="2")
        assert await cluster.node_of("p3") == cluster.n("big")


async def test_two_schedulers_only_the_leader_binds(apiserver, cluster):
    await cluster.add_node("x")
    await cluster.add_node("y")
    lease = f"sched-{cluster.ns}"
    kw = {"leader_elect": True, "lease_name": lease, "lease_duration": 3.0, "renew_deadline": 2.0,
          "retry_period": 0.2}
    async with running_scheduler(apiserver.kubeconfig, identity="one", **kw) as one, \
            running_scheduler(apiserver.kubeconfig, identity="two", **kw) as two:
        await asyncio.wait_for(asyncio.wait([asyncio.ensure_future(one.leading.wait()),
                                             asyncio.ensure_future(two.leading.wait())],
                                            return_when=asyncio.FIRST_COMPLETED), WAIT)
        for i in range(10):
            await cluster.create(pod(f"p{i}", cpu="10m"))
        for i in range(10):
            await cluster.node_of(f"p{i}")
        leader, follower = (one, two) if one.leading.is_set() else (two, one)
        assert not follower.leading.is_set()
        assert leader.scheduled == 10 and follower.scheduled == 0
        held = await cluster.client.leases("kube-system").get(lease)
        assert held["spec"]["holderIdentity"] == ("one" if leader is one else "two")


def _open_log(path):
    return open(path, "wb")  # noqa: SIM115 - closed by the caller's with


async def test_pyb_scheduler_command(apiserver, cluster, tmp_path):
    await cluster.add_node("cli")
    with _open_log(tmp_path / "scheduler.log") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pybernetes.cli.main", "-v", "scheduler", "--kubeconfig",
            str(apiserver.kubeconfig), "--leader-elect=false", cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
            stderr=log)
    try:
        await cluster.create(pod("via-cli"))
        assert await cluster.node_of("via-cli") == cluster.n("cli")
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    # per pod at DEBUG (-v), as kube-scheduler's V(2)
    assert "Successfully bound pod to node" in (tmp_path / "scheduler.log").read_text()


async def test_pods_of_other_schedulers_and_bound_pods_are_left_alone(apiserver, cluster):
    await cluster.add_node("n")
    async with running_scheduler(apiserver.kubeconfig):
        other = pod("other")
        other["spec"]["schedulerName"] = "my-scheduler"
        await cluster.create(other)
        pinned = pod("pinned")
        pinned["spec"]["nodeName"] = cluster.n("n")
        await cluster.create(pinned)
        await cluster.create(pod("mine"))
        assert await cluster.node_of("mine") == cluster.n("n")
        got = await cluster.client.pods(cluster.ns).get("other")
        assert not got["spec"].get("nodeName")


async def test_pods_of_a_service_spread_across_nodes(apiserver, cluster):
    # without spreading, "big" would win every time (its least-allocated score barely moves)
    await cluster.add_node("big", cpu="64")
    await cluster.add_node("s1", cpu="2")
    await cluster.add_node("s2", cpu="2")
    await cluster.client.services(cluster.ns).create({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    async with running_scheduler(apiserver.kubeconfig):
        placed = []
        for i in range(3):
            p = pod(f"web-{i}", cpu="100m")
            p["metadata"]["labels"] = {"app": "web"}
            await cluster.create(p)
            placed.append(await cluster.node_of(f"web-{i}"))
        assert sorted(placed) == sorted(cluster.n(x) for x in ("big", "s1", "s2"))
        await cluster.create(pod("loner", cpu="100m"))
        assert await cluster.node_of("loner") == cluster.n("big")
