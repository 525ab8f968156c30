"""Node lifecycle (a hollow kubelet stops) and pod GC against a real apiserver."""

from __future__ import annotations

from pybernetes.controllers.node_lifecycle_logic import UNREACHABLE_TAINT

from .conftest import exists, wait_for
from .test_replication import converged, rc_body


def _ready(node: dict) -> str:
    return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")


async def test_stopped_kubelet_node_goes_unknown_and_pods_move(client, namespace, hollow, manager):
    body = rc_body("mover", 6)
    # The apiserver gives every pod Kubernetes' default 300 s toleration of
    # the unreachable taint; this RC's pods tolerate it for 2 s only.
    body["spec"]["template"]["spec"]["tolerations"] = [
        {"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}]
    await client.replication_controllers(namespace).create(body)
    pods, _ = await wait_for(lambda: converged(client, namespace, "mover", 6), what="6 replicas")
    on_lost = [p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == "hollow-1"]
    assert on_lost, "round-robin binding puts pods on every node"
    hollow.stop_node("hollow-1")

    async def unreachable():
        node = await client.nodes().get("hollow-1")
        keys = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or ()}
        return _ready(node) == "Unknown" and {(UNREACHABLE_TAINT, "NoSchedule"),
                                               (UNREACHABLE_TAINT, "NoExecute")} <= keys and node
    node = await wait_for(unreachable, what="Ready=Unknown + unreachable taints")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."

    # Its pods are marked not ready, then evicted; the RC brings 6 back on the other nodes.
    async def replaced():
        res = await converged(client, namespace, "mover", 6)
        return res and all(p["spec"]["nodeName"] != "hollow-1" for p in res[0]) and res
    await wait_for(replaced, timeout=40, what="pods back on healthy nodes")
    for name in on_lost:
        p = await client.pods(namespace).get(name)
        assert p["metadata"].get("deletionTimestamp"), "evicted pod is terminating"
        ready = next(c for c in p["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False"
    events = (await client.events("default").list())["items"]
    assert any(e["reason"] == "NodeNotReady" and e["involvedObject"].get("name") == "hollow-1" for e in events)
    pod_events = (await client.events(namespace).list())["items"]
    assert any(e["reason"] == "TaintManagerEviction" for e in pod_events)

    # The kubelet comes back: Ready again, taints gone.
    hollow.start_node("hollow-1")

    async def back():
        node = await client.nodes().get("hollow-1")
        return _ready(node) == "True" and not node["spec"].get("taints")
    await wait_for(back, what="node untainted")


async def test_pod_gc_removes_orphans_and_excess_terminated(client, namespace, manager):
    pods = client.pods(namespace)
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lost"},
            "spec": {"nodeName": "no-such-node", "containers": [{"name": "c", "image": "busybox"}]}}
    await pods.create(body)
    await wait_for(lambda: _gone(pods, "lost"), what="orphaned pod removed")
    # Five finished pods, threshold 3 (FAST config): the two oldest go.
    for i in range(5):
        await pods.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"done-{i}"},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        p = await pods.get(f"done-{i}")
        p["status"] = {"phase": "Succeeded"}
        await pods.update_status(p)

    async def trimmed():
        names = {p["metadata"]["name"] for p in (await pods.list())["items"]}
        return len(names & {f"done-{i}" for i in range(5)}) == 3 and names
    names = await wait_for(trimmed, what="terminated pods trimmed")
    assert "done-4" in names


async def _gone(api, name):
    return not await exists(api, name)
