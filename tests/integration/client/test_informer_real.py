"""Informers, watches and leader election against a real `pyb apiserver`."""

from __future__ import annotations

import asyncio
import inspect
import uuid

import pytest

from pybernetes.client import Client, Informer, LeaderElector, SyncClient, errors
from tests.conftest import APIServerProcess

from .samples import pod


async def eventually(cond, timeout: float = 30.0, interval: float = 0.02):
    async with asyncio.timeout(timeout):
        while True:
            value = cond()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(interval)


class Mirror:
    """Handlers' view: a dict kept only from add/update/delete calls."""

    def __init__(self, inf: Informer):
        self.state: dict[str, str] = {}
        self.duplicate_adds = 0
        self.reg = inf.add_event_handler(on_add=self.add, on_update=lambda o, n: self.add(n, update=True),
                                         on_delete=self.delete)

    @staticmethod
    def key(o):
        return f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"

    def add(self, o, update=False):
        if not update and self.key(o) in self.state:
            self.duplicate_adds += 1
        self.state[self.key(o)] = o["metadata"]["resourceVersion"]

    def delete(self, o):
        self.state.pop(self.key(o), None)


async def _server_state(api) -> dict[str, str]:
    items = (await api.list())["items"]
    return {f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
            for o in items}


async def _converged(api, mirror: Mirror, inf: Informer) -> bool:
    want = await _server_state(api)
    return mirror.state == want and {k: v["metadata"]["resourceVersion"] for k, v in
                                     ((k, inf.get(k.lstrip("/"))) for k in want) if v} == want


@pytest.fixture
async def ns_client(apiserver):
    client = Client.from_kubeconfig(apiserver.kubeconfig)
    ns = "inf-" + uuid.uuid4().hex[:6]
    await client.namespaces().create({"metadata": {"name": ns}})
    try:
        yield apiserver, client, ns
    finally:
        await client.close()


async def test_informer_converges_across_apiserver_restart(ns_client):
    server, client, ns = ns_client
    pods = client.pods(ns)
    for i in range(5):
        await pods.create(pod(f"p{i}", labels={"i": str(i)}))
    inf = Informer(pods, max_backoff=0.5)
    mirror = Mirror(inf)
    async with inf:
        assert await inf.wait_for_sync(30)
        assert mirror.state == await _server_state(pods)
        relists = inf.relists
        await asyncio.to_thread(server.restart)  # the informer's watch drops mid-stream
        # Changes right after the restart, racing the informer's reconnect.
        await pods.delete("p0", grace_period_seconds=0)
        await pods.create(pod("late"))
        await pods.patch("p1", {"metadata": {"labels": {"i": "changed"}}}, patch_type="merge")
        await eventually(lambda: _converged(pods, mirror, inf))
        assert inf.relists > relists
        # And it keeps watching afterwards.
        await pods.create(pod("after"))
        await eventually(lambda: _converged(pods, mirror, inf))
    assert mirror.duplicate_adds == 0


async def test_informer_converges_after_sigkill_of_the_apiserver(ns_client):
    server, client, ns = ns_client
    cms = client.config_maps(ns)
    await cms.create({"metadata": {"name": "a"}, "data": {"k": "1"}})
    inf = Informer(cms, max_backoff=0.5)
    mirror = Mirror(inf)
    async with inf:
        assert await inf.wait_for_sync(30)
        await asyncio.to_thread(server.kill)
        await asyncio.to_thread(server.start)
        await cms.create({"metadata": {"name": "b"}, "data": {"k": "2"}})
        await cms.delete("a")
        await eventually(lambda: _converged(cms, mirror, inf))
    assert mirror.duplicate_adds == 0


@pytest.fixture
async def compacting(tmp_path):
    """An apiserver that compacts away all but the newest revision every 0.2 s."""
    server = APIServerProcess(tmp_path / "compacting", extra_args=(
        "--compaction-interval", "0.2", "--compaction-keep-revisions", "1"))
    await asyncio.to_thread(server.start)
    client = Client.from_kubeconfig(server.kubeconfig)
    try:
        yield server, client
    finally:
        await client.close()
        await asyncio.to_thread(server.stop)


async def _churn_until_compacted(client, ns: str, since: str) -> None:
    """Write other objects until a watch from ``since`` answers 410."""
    i = 0
    while True:
        await client.secrets(ns).create({"metadata": {"name": f"churn-{i}"}, "type": "Opaque"})
        i += 1
        try:
            async with client.config_maps(ns).watch(resource_version=since, timeout_seconds=1) as w:
                async for _ in w:
                    pass
        except errors.Expired:
            return


async def test_watch_from_a_compacted_version_is_expired(compacting):
    _, client = compacting
    start = (await client.config_maps("default").list())["metadata"]["resourceVersion"]
    await client.config_maps("default").create({"metadata": {"name": "x"}})
    await asyncio.wait_for(_churn_until_compacted(client, "default", start), 60)
    with pytest.raises(errors.Expired) as exc:
        async for _ in client.config_maps("default").watch(resource_version=start):
            pass
    assert exc.value.code == 410


async def test_informer_relists_when_its_watch_is_expired_by_compaction(compacting):
    _, client = compacting
    cms = client.config_maps("default")
    await cms.create({"metadata": {"name": "one"}})
    # Short watches: each resume starts from the informer's last configmap version,
    # which other kinds' writes push behind the compaction point.
    inf = Informer(cms, watch_timeout=1, max_backoff=0.5)
    mirror = Mirror(inf)
    async with inf:
        assert await inf.wait_for_sync(30)
        rv = inf.resource_version
        relists = inf.relists
        await asyncio.wait_for(_churn_until_compacted(client, "default", rv), 60)
        await eventually(lambda: inf.relists > relists, timeout=60)
        await cms.create({"metadata": {"name": "two"}})
        await cms.delete("one")
        await eventually(lambda: _converged(cms, mirror, inf))
    assert mirror.duplicate_adds == 0


async def test_leader_election_on_the_real_apiserver(shared_apiserver):
    client = Client.from_kubeconfig(shared_apiserver.kubeconfig)
    name = "lock-" + uuid.uuid4().hex[:6]
    leading: list[str] = []

    def candidate(identity):
        async def lead():
            leading.append(identity)
            await asyncio.Event().wait()
        return LeaderElector(client, name=name, namespace="default", identity=identity, lease_duration=2,
                             renew_deadline=1, retry_period=0.2, on_started_leading=lead)
    a = asyncio.create_task(candidate("a").run())
    await eventually(lambda: leading == ["a"])
    b = asyncio.create_task(candidate("b").run())
    await asyncio.sleep(0.5)
    assert leading == ["a"]
    a.cancel()
    await asyncio.gather(a, return_exceptions=True)
    await eventually(lambda: leading == ["a", "b"])
    lease = await client.leases("default").get(name)
    assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1
    b.cancel()
    await asyncio.gather(b, return_exceptions=True)
    await client.close()


def test_sync_client_on_the_real_apiserver(shared_apiserver):
    with SyncClient.from_kubeconfig(shared_apiserver.kubeconfig) as c:
        ns = "sync-" + uuid.uuid4().hex[:6]
        c.namespaces().create({"metadata": {"name": ns}})
        rv = c.config_maps(ns).list()["metadata"]["resourceVersion"]
        c.config_maps(ns).create({"metadata": {"name": "a"}, "data": {"k": "v"}})
        with pytest.raises(errors.NotFound):
            c.config_maps(ns).get("nope")
        with c.config_maps(ns).watch(resource_version=rv, timeout_seconds=5) as w:
            ev = next(w)
        assert (ev.type, ev.object["metadata"]["name"]) == ("ADDED", "a")
        assert c.version()["gitVersion"]


async def test_pod_log_errors_surface_as_status(shared_apiserver):
    async with Client.from_kubeconfig(shared_apiserver.kubeconfig) as c:
        with pytest.raises(errors.NotFound):
            await c.pods("default").log("no-such-pod")
