"""Two `pyb apiserver --storage etcd` processes on one etcd (a single member, and
the 3-member cluster with each apiserver talking to a different member first):
they serve one cluster — watches, resourceVersions, optimistic concurrency and
ClusterIP allocation all hold across them."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from pybernetes.client import Client, errors

from .conftest import eventually


@pytest.fixture(params=["1-member", "3-members"])
def etcd_urls(request) -> list[list[str]]:
    """Member URL orders for apiserver A and B (3 members: A starts on m0, B on m1)."""
    if request.param == "1-member":
        urls = request.getfixturevalue("etcd1").client_urls
        return [urls, urls]
    urls = request.getfixturevalue("etcd3").client_urls
    return [urls, urls[1:] + urls[:1]]


@pytest.fixture(params=["watch-cache", "no-watch-cache"])
async def pair(request, apiservers, etcd_urls):
    a, b = apiservers(etcd_urls, n=2, extra=(f"--{request.param}",))
    ca, cb = Client(servers=[a.url]), Client(servers=[b.url])
    try:
        yield ca, cb
    finally:
        await ca.close()
        await cb.close()


def cm(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


async def _next_events(watch, n: int, *, timeout: float = 20.0) -> list[tuple[str, str, dict]]:
    out = []
    async with asyncio.timeout(timeout):
        async for ev in watch:
            if ev.type == "BOOKMARK":
                continue
            out.append((ev.type, ev.object["metadata"]["name"], ev.object.get("data") or {}))
            if len(out) == n:
                return out
    return out


@pytest.mark.parametrize("writer_first", ["A", "B"])
async def test_writes_through_one_are_seen_by_a_watch_on_the_other(pair, writer_first):
    ca, cb = pair
    writer, watcher = (ca, cb) if writer_first == "A" else (cb, ca)
    rv = (await watcher.config_maps("default").list())["metadata"]["resourceVersion"]
    watch = watcher.config_maps("default").watch(resource_version=rv)
    try:
        api = writer.config_maps("default")
        await api.create(cm("x", v="1"))
        obj = await api.get("x")
        obj["data"]["v"] = "2"
        await api.update(obj)
        await api.delete("x")
        assert await _next_events(watch, 3) == [
            ("ADDED", "x", {"v": "1"}), ("MODIFIED", "x", {"v": "2"}), ("DELETED", "x", {"v": "2"})]
    finally:
        await watch.close()


async def test_resource_version_from_one_serves_lists_and_gets_on_the_other(pair):
    ca, cb = pair
    created = await ca.config_maps("default").create(cm("rv", v="1"))
    rv = created["metadata"]["resourceVersion"]
    # Changed afterwards, so an Exact read at rv differs from the latest one.
    created["data"]["v"] = "2"
    await ca.config_maps("default").update(created)
    api_b = cb.config_maps("default")
    exact = await api_b.list(resource_version=rv, resource_version_match="Exact")
    assert exact["metadata"]["resourceVersion"] == rv
    assert [(o["metadata"]["name"], o["data"]) for o in exact["items"]] == [("rv", {"v": "1"})]
    newer = await api_b.list(resource_version=rv)  # not older than rv
    assert int(newer["metadata"]["resourceVersion"]) > int(rv)
    assert [o["data"] for o in newer["items"]] == [{"v": "2"}]
    assert (await api_b.get("rv", resource_version=rv))["data"] == {"v": "2"}
    # And the latest revision B serves works on A: one revision sequence for both.
    latest = newer["metadata"]["resourceVersion"]
    again = await ca.config_maps("default").list(resource_version=latest, resource_version_match="Exact")
    assert [o["data"] for o in again["items"]] == [{"v": "2"}]


async def test_optimistic_concurrency_across_apiservers(pair):
    ca, cb = pair
    obj = await ca.config_maps("default").create(cm("cas", v="0"))
    for round_ in range(5):
        a_copy = {**obj, "data": {"v": f"A{round_}"}}
        b_copy = {**obj, "data": {"v": f"B{round_}"}}
        results = await asyncio.gather(ca.config_maps("default").update(a_copy),
                                       cb.config_maps("default").update(b_copy), return_exceptions=True)
        won = [r for r in results if isinstance(r, dict)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], errors.Conflict), lost[0]
        assert lost[0].status["details"]["name"] == "cas"
        obj = won[0]
        stored = await cb.config_maps("default").get("cas")
        assert stored["data"] == obj["data"] and stored["metadata"]["resourceVersion"] == \
            obj["metadata"]["resourceVersion"]


async def test_cluster_ips_are_never_handed_out_twice(pair):
    ca, cb = pair
    n = 40  # of the default range's 254 addresses

    async def create(i: int) -> dict:
        client = ca if i % 2 else cb
        return await client.services("default").create({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i}"},
            "spec": {"selector": {"app": f"a{i}"}, "ports": [{"port": 80}]}})

    created = await asyncio.gather(*(create(i) for i in range(n)))
    ips = [s["spec"]["clusterIP"] for s in created]
    assert len(set(ips)) == n, sorted(ips)
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.0.0.0/24") for ip in ips)
    listed = (await ca.services("default").list())["items"]
    stored = {s["metadata"]["name"]: s["spec"]["clusterIP"] for s in listed}
    assert {f"svc-{i}": ip for i, ip in enumerate(ips)}.items() <= stored.items()
    assert len(set(stored.values())) == len(stored)
    # A freed address can be taken again, by either apiserver, but only once.
    await ca.services("default").delete("svc-0")
    await eventually(lambda: _gone(cb, "svc-0"))
    again = await asyncio.gather(*(create(100 + i) for i in range(4)))
    all_ips = [s["spec"]["clusterIP"] for s in again] + ips[1:]
    assert len(set(all_ips)) == len(all_ips)


async def _gone(client, name: str) -> bool:
    try:
        await client.services("default").get(name)
    except errors.NotFound:
        return True
    return False
