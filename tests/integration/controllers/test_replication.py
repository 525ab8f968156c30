"""The replication controller against a real apiserver, with hollow nodes."""

from __future__ import annotations

import asyncio

from pybernetes.controllers.podutil import is_pod_active

from .conftest import wait_for


def rc_body(name: str, replicas: int, app: str | None = None) -> dict:
    app = app or name
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": app},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox",
                                                           "command": ["sleep", "3600"]}]}}}}


async def active_pods(client, ns: str, app: str) -> list[dict]:
    items = (await client.pods(ns).list(label_selector=f"app={app}"))["items"]
    return [p for p in items if is_pod_active(p)]


async def converged(client, ns: str, name: str, n: int, *, ready: bool = True):
    pods = await active_pods(client, ns, name)
    rc = await client.replication_controllers(ns).get(name)
    st = rc.get("status") or {}
    ok = (len(pods) == n and st.get("replicas", 0) == n
          and st.get("observedGeneration") == rc["metadata"]["generation"])
    if ready:
        ok = ok and st.get("readyReplicas", 0) == n and st.get("availableReplicas", 0) == n
    return ok and (pods, rc)


async def test_rc_scales_0_5_2_0_and_recovers(client, namespace, hollow, manager):
    rcs = client.replication_controllers(namespace)
    await rcs.create(rc_body("web", 0))
    await wait_for(lambda: converged(client, namespace, "web", 0), what="0 replicas")
    rc = await rcs.get("web")
    rc["spec"]["replicas"] = 5
    await rcs.update(rc)
    pods, rc = await wait_for(lambda: converged(client, namespace, "web", 5), what="5 replicas")
    for p in pods:
        assert p["metadata"]["name"].startswith("web-")
        ref = p["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == \
            ("ReplicationController", "web", rc["metadata"]["uid"], True)
        assert p["spec"]["nodeName"].startswith("hollow-")
    assert rc["status"]["fullyLabeledReplicas"] == 5

    # A deleted pod is replaced.
    victim = pods[0]["metadata"]["name"]
    await client.pods(namespace).delete(victim, grace_period_seconds=0)
    pods, _ = await wait_for(lambda: converged(client, namespace, "web", 5), what="recovery")
    assert victim not in {p["metadata"]["name"] for p in pods}

    # Scale down through the scale subresource.
    await rcs.patch("web", {"spec": {"replicas": 2}}, patch_type="merge", subresource="scale")
    await wait_for(lambda: converged(client, namespace, "web", 2), what="2 replicas")
    rc = await rcs.get("web")
    rc["spec"]["replicas"] = 0
    await rcs.update(rc)
    await wait_for(lambda: converged(client, namespace, "web", 0), what="0 replicas again")

    events = (await client.events(namespace).list())["items"]
    reasons = {e["reason"] for e in events if e["involvedObject"].get("name") == "web"}
    assert {"SuccessfulCreate", "SuccessfulDelete"} <= reasons
    created = [e for e in events if e["reason"] == "SuccessfulCreate"]
    assert created[0]["message"].startswith("Created pod: web-")
    assert created[0]["source"]["component"] == "replication-controller"


async def test_relabelled_pod_is_released_and_replaced(client, namespace, hollow, manager):
    await client.replication_controllers(namespace).create(rc_body("rel", 3))
    pods, rc = await wait_for(lambda: converged(client, namespace, "rel", 3), what="3 replicas")
    name = pods[0]["metadata"]["name"]
    await client.pods(namespace).patch(name, {"metadata": {"labels": {"app": "elsewhere"}}}, patch_type="merge")

    async def released():
        p = await client.pods(namespace).get(name)
        return not p["metadata"].get("ownerReferences") and p
    await wait_for(released, what="release")
    pods, _ = await wait_for(lambda: converged(client, namespace, "rel", 3), what="replacement")
    assert name not in {p["metadata"]["name"] for p in pods}

    # Put the label back: the RC adopts it and deletes one extra.
    await client.pods(namespace).patch(name, {"metadata": {"labels": {"app": "rel"}}}, patch_type="merge")
    await wait_for(lambda: converged(client, namespace, "rel", 3), what="back to 3 after re-adoption")
    await asyncio.sleep(1.0)
    assert len(await active_pods(client, namespace, "rel")) == 3


async def test_orphan_is_adopted(client, namespace, hollow, manager):
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "labels": {"app": "adopt"}},
              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await client.pods(namespace).create(orphan)
    await client.replication_controllers(namespace).create(rc_body("adopt", 2))
    pods, rc = await wait_for(lambda: converged(client, namespace, "adopt", 2), what="2 replicas")
    stray = await client.pods(namespace).get("stray")
    assert stray["metadata"]["ownerReferences"][0]["uid"] == rc["metadata"]["uid"]
    assert "stray" in {p["metadata"]["name"] for p in pods}


async def test_bad_template_fails_with_slow_start_and_reports(client, namespace, manager):
    # A template whose pods the apiserver refuses (an invalid finalizer name
    # passes RC validation but not pod validation): each sync's first batch of 1 fails and stops.
    body = rc_body("bad", 50)
    body["spec"]["template"]["metadata"]["finalizers"] = ["bad finalizer!"]
    await client.replication_controllers(namespace).create(body)

    async def failure_reported():
        rc = await client.replication_controllers(namespace).get("bad")
        conds = (rc.get("status") or {}).get("conditions") or []
        return [c for c in conds if c["type"] == "ReplicaFailure"]
    conds = await wait_for(failure_reported, what="ReplicaFailure condition")
    assert conds[0]["reason"] == "FailedCreate"
    events = (await client.events(namespace).list())["items"]
    failed = [e for e in events if e["reason"] == "FailedCreate"]
    # Slow start: a handful of attempts (backoff retries), never a flood of 50 per sync.
    assert 1 <= len(failed) < 50
    assert failed[0]["type"] == "Warning"


async def test_manager_killed_mid_scale_ends_with_exact_count(client, namespace, hollow, manager_process):
    first = manager_process("--no-leader-elect")
    await client.replication_controllers(namespace).create(rc_body("kill", 40))
    await wait_for(lambda: _count_at_least(client, namespace, "kill", 5), what="some pods")
    first.kill()
    second = manager_process("--no-leader-elect")
    await wait_for(lambda: converged(client, namespace, "kill", 40), timeout=60, what="40 replicas")
    # Stays at exactly 40: the restarted manager created no extra pods.
    await asyncio.sleep(2.0)
    assert len(await active_pods(client, namespace, "kill")) == 40
    second.kill()
    third = manager_process("--no-leader-elect")
    rc = await client.replication_controllers(namespace).get("kill")
    rc["spec"]["replicas"] = 7
    await client.replication_controllers(namespace).update(rc)
    await wait_for(lambda: converged(client, namespace, "kill", 7), timeout=60, what="7 replicas")
    third.stop()


async def _count_at_least(client, ns, app, n):
    return len((await client.pods(ns).list(label_selector=f"app={app}"))["items"]) >= n
