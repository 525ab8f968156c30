"""Two `pyb apiserver` processes on one etcd; one is SIGKILLed mid-stream:
clients move to the other, and watches (a raw one and an informer's) resume
from their last resourceVersion without missing or repeating an event."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from pybernetes.client import Informer, errors
from pybernetes.client.kubeconfig import APISERVERS_ENV

from .conftest import new_namespace, wait_for


def _cm(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i:02d}"}, "data": {"i": str(i)}}


async def create_once(api, obj: dict) -> None:
    """Create; a POST whose connection broke may or may not have landed (the
    client does not resend it), so send it again and accept AlreadyExists."""
    try:
        await api.create(obj)
    except errors.ConnectionFailed:
        try:
            await api.create(obj)
        except errors.AlreadyExists:
            pass


@pytest.mark.parametrize("end", ["kill", "stop"])
async def test_clients_and_watches_fail_over_to_the_surviving_apiserver(etcd_apiservers, make_client, end):
    """``kill``: SIGKILL, connections drop; ``stop``: SIGTERM, the apiserver ends its streams itself."""
    a, b = etcd_apiservers(2)
    client = make_client(a.url, b.url)
    ns = await new_namespace(client)
    cms = client.config_maps(ns)
    for i in range(5):
        await cms.create(_cm(i))

    informer = Informer(cms, watch_timeout=600)
    await informer.start()
    assert await informer.wait_for_sync(30)

    start_rv = (await cms.list())["metadata"]["resourceVersion"]
    events: list[tuple[str, str, str]] = []
    watch = cms.watch(resource_version=start_rv, timeout_seconds=600)

    async def consume() -> None:
        async for ev in watch:
            events.append((ev.type, ev.object["metadata"]["name"], ev.resource_version))
    consumer = asyncio.create_task(consume())
    try:
        for i in range(5, 10):
            await cms.create(_cm(i))
        await wait_for(lambda: len(events) >= 5, what="events through the first apiserver")
        assert client.backend.server == a.url

        a.kill() if end == "kill" else a.stop()
        killed = time.monotonic()
        await create_once(cms, _cm(10))  # a pooled connection to a breaks, or a refuses: then b
        first_write = time.monotonic() - killed
        for i in range(11, 20):
            await create_once(cms, _cm(i))
        assert client.backend.server == b.url
        cm = await cms.get("cm03")
        cm["data"]["i"] = "changed"
        await cms.update(cm)
        await cms.delete("cm04")

        expected = ([("ADDED", f"cm{i:02d}") for i in range(5, 20)] + [("MODIFIED", "cm03"), ("DELETED", "cm04")])
        await wait_for(lambda: len(events) >= len(expected), what="every event after the failover")
        all_watched = time.monotonic() - killed
        await asyncio.sleep(0.5)  # and nothing more
        assert [(t, n) for t, n, _ in events] == expected, "no event lost or repeated"
        revisions = [int(rv) for _, _, rv in events]
        assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)
        assert watch.resumes >= 1, "the watch moved to the other apiserver"
        print(f"apiserver failover ({end}): first write through b {first_write * 1000:.0f} ms after a ended, "
              f"all 17 events watched {all_watched:.2f} s after it")

        names = {o["metadata"]["name"] for o in (await cms.list())["items"]}
        assert names == {f"cm{i:02d}" for i in range(20)} - {"cm04"}
        await wait_for(lambda: {o["metadata"]["name"] for o in informer.list()} == names,
                       what="informer cache matches the server")
        assert informer.get(f"{ns}/cm03")["data"]["i"] == "changed"
        assert informer.relists == 1, "the informer resumed its watch instead of relisting"
    finally:
        await watch.close()
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await informer.stop()


async def test_writes_through_one_apiserver_are_watched_on_the_other(etcd_apiservers, make_client):
    a, b = etcd_apiservers(2)
    via_a, via_b = make_client(a.url), make_client(b.url)
    ns = await new_namespace(via_a)
    rv = (await via_b.config_maps(ns).list())["metadata"]["resourceVersion"]
    seen = []
    async with via_b.config_maps(ns).watch(resource_version=rv, timeout_seconds=60) as w:
        await via_a.config_maps(ns).create(_cm(1))
        async for ev in w:
            seen.append((ev.type, ev.object["metadata"]["name"]))
            break
    assert seen == [("ADDED", "cm01")]


def _rc(name: str, replicas: int) -> dict:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": name},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def _pod_count(client, ns: str, app: str) -> int:
    return len((await client.pods(ns).list(label_selector=f"app={app}"))["items"])


async def test_a_component_fails_over_with_pyb_apiservers(etcd_apiservers, make_client, components):
    """`pyb controller-manager` with a kubeconfig naming apiserver a and
    $PYB_APISERVERS listing both: a dies, it carries on through b — its
    informers resume, it keeps its Lease, and acts on objects created on b."""
    a, b = etcd_apiservers(2)
    env = {**os.environ, APISERVERS_ENV: f"{a.url},{b.url}"}
    manager = components(["controller-manager", "--kubeconfig", str(a.kubeconfig), "--controllers", "replication"],
                         ready="controller-manager started", env=env)
    identity = manager.first_line.rsplit("(", 1)[1].strip().rstrip(")")
    via_b = make_client(b.url)
    ns = await new_namespace(via_b)
    await via_b.replication_controllers(ns).create(_rc("before", 2))
    await wait_for(lambda: _is(_pod_count(via_b, ns, "before"), 2), what="pods for the first RC")

    a.kill()
    await via_b.replication_controllers(ns).create(_rc("after", 3))
    await wait_for(lambda: _is(_pod_count(via_b, ns, "after"), 3), what="pods for an RC made after a died")
    lease = await via_b.leases("kube-system").get("kube-controller-manager")
    assert lease["spec"]["holderIdentity"] == identity and manager.running, "it kept its lease"
    assert "failing over to " + b.url in manager.log.read_text()


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected
