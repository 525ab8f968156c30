"""Leader election handover between real processes: two `pyb scheduler` and two
`pyb controller-manager` against one `pyb apiserver`. Only the Lease holder
acts; SIGKILL it by pid (it cannot release the Lease) and the other takes the
Lease once it expires, then acts. No timing assertions: generous timeouts."""

from __future__ import annotations

import time

from pybernetes.client import Client, errors

from .conftest import new_namespace, wait_for

LEASE_FLAGS = ["--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
               "--leader-elect-retry-period", "0.5"]
HANDOVER = 60.0  # seconds: far beyond the 3 s lease, for a loaded machine


def _identity(proc) -> str:
    """The identity a component prints on its start line: 'X started (IDENTITY)'."""
    return proc.first_line.rsplit("(", 1)[1].rstrip().rstrip(")")


async def _holder(client: Client, name: str) -> dict:
    try:
        lease = await client.leases("kube-system").get(name)
    except errors.NotFound:
        return {}
    return lease["spec"]


def _became_leader(proc) -> bool:
    return "became leader" in proc.log.read_text(errors="replace")


def _pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def _ready_node(client: Client, name: str) -> None:
    created = await client.nodes().create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    created["status"] = {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                         "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                         "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}
    await client.nodes().update_status(created)


async def _node_of(client: Client, ns: str, name: str) -> str:
    return (await client.pods(ns).get(name))["spec"].get("nodeName") or ""


async def _leader_and_follower(client: Client, lease: str, procs: list) -> tuple:
    by_id = {_identity(p): p for p in procs}
    spec = await wait_for(lambda: _holder_in(client, lease, by_id), what=f"a holder of the {lease} lease")
    leader = by_id[spec["holderIdentity"]]
    follower = next(p for p in procs if p is not leader)
    return leader, follower, spec


async def _holder_in(client: Client, lease: str, by_id: dict) -> dict | None:
    spec = await _holder(client, lease)
    return spec if spec.get("holderIdentity") in by_id else None


async def test_scheduler_handover(apiserver, components):
    client = Client.from_kubeconfig(str(apiserver.kubeconfig))
    try:
        ns = await new_namespace(client)
        node = f"{ns}-node"
        await _ready_node(client, node)
        args = ["scheduler", "--kubeconfig", str(apiserver.kubeconfig), *LEASE_FLAGS]
        first = components(args, ready="scheduler started")
        second = components(args, ready="scheduler started")

        leader, follower, spec = await _leader_and_follower(client, "kube-scheduler", [first, second])
        await client.pods(ns).create(_pod("before"))
        assert await wait_for(lambda: _node_of(client, ns, "before"), what="the leader binds") == node
        assert _became_leader(leader) and not _became_leader(follower), "only the holder runs the scheduler"
        assert (await _holder(client, "kube-scheduler"))["holderIdentity"] == _identity(leader)

        leader.kill()
        killed = time.monotonic()
        await client.pods(ns).create(_pod("after"))
        new = await wait_for(
            lambda: _holder_in(client, "kube-scheduler", {_identity(follower): follower}),
            timeout=HANDOVER, what="the follower takes the lease")
        took = time.monotonic() - killed
        assert new["leaseTransitions"] == (spec.get("leaseTransitions") or 0) + 1
        assert await wait_for(lambda: _node_of(client, ns, "after"), timeout=HANDOVER,
                              what="the new leader binds") == node
        print(f"scheduler handover: lease taken {took:.1f} s after SIGKILL (lease 3 s), "
              f"pod bound after {time.monotonic() - killed:.1f} s")
        assert _became_leader(follower)
    finally:
        await client.close()


async def _pods_of(client: Client, ns: str, rc: str) -> int:
    pods = (await client.pods(ns).list(label_selector=f"app={rc}"))["items"]
    return len([p for p in pods if not p["metadata"].get("deletionTimestamp")])


def _rc(name: str, replicas: int) -> dict:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": name},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def test_controller_manager_handover(apiserver, components):
    client = Client.from_kubeconfig(str(apiserver.kubeconfig))
    try:
        ns = await new_namespace(client)
        args = ["controller-manager", "--kubeconfig", str(apiserver.kubeconfig), "--controllers",
                "replication,serviceaccount", *LEASE_FLAGS]
        first = components(args, ready="controller-manager started")
        second = components(args, ready="controller-manager started")

        leader, follower, spec = await _leader_and_follower(client, "kube-controller-manager", [first, second])
        await client.replication_controllers(ns).create(_rc("before", 3))
        await wait_for(lambda: _pods_of(client, ns, "before"), what="the leader's RC has pods")
        await wait_for(lambda: _pods_exactly(client, ns, "before", 3), what="3 pods for 'before'")
        assert _became_leader(leader) and not _became_leader(follower), "only the holder runs controllers"

        leader.kill()
        killed = time.monotonic()
        await client.replication_controllers(ns).create(_rc("after", 2))
        new = await wait_for(
            lambda: _holder_in(client, "kube-controller-manager", {_identity(follower): follower}),
            timeout=HANDOVER, what="the follower takes the lease")
        took = time.monotonic() - killed
        assert new["leaseTransitions"] == (spec.get("leaseTransitions") or 0) + 1
        await wait_for(lambda: _pods_exactly(client, ns, "after", 2), timeout=HANDOVER,
                       what="the new leader gives the new RC its pods")
        print(f"controller-manager handover: lease taken {took:.1f} s after SIGKILL (lease 3 s), "
              f"RC filled after {time.monotonic() - killed:.1f} s")
        assert await _pods_exactly(client, ns, "before", 3), "the old RC is left as it was"
        assert _became_leader(follower)
    finally:
        await client.close()


async def _pods_exactly(client: Client, ns: str, rc: str, n: int) -> bool:
    return await _pods_of(client, ns, rc) == n
