"""A read "not older than" a resourceVersion storage has not reached: 504 Timeout
with a ResourceVersionTooLarge cause, as Kubernetes answers — on SQLite and on etcd."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.conftest import APIServerProcess

from .conftest import etcd_apiserver

NS = "/api/v1/namespaces/default"


@pytest.fixture(params=["sqlite", "etcd"])
def server(request, tmp_path):
    if request.param == "sqlite":
        s = APIServerProcess(tmp_path / "sqlite")
    else:
        etcd1 = request.getfixturevalue("etcd1")
        s = etcd_apiserver(tmp_path / "etcd", etcd1.client_urls, prefix="/rv-test/registry")
    s.start()
    try:
        yield s
    finally:
        s.stop()


async def _current(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}{NS}/configmaps") as r:
        assert r.status == 200
        return int((await r.json())["metadata"]["resourceVersion"])


@pytest.mark.parametrize("query", [
    "", "&resourceVersionMatch=NotOlderThan", "&resourceVersionMatch=Exact"], ids=["list", "notolderthan", "exact"])
async def test_list_beyond_current_revision_is_resource_version_too_large(server, query):
    async with aiohttp.ClientSession() as http:
        current = await _current(http, server.url)
        far = current + 1_000_000
        async with http.get(f"{server.url}{NS}/configmaps?resourceVersion={far}{query}") as r:
            assert r.status == 504
            body = await r.json()
    now = body["message"].rsplit(" ", 1)[1]
    assert int(now) >= current
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f"Timeout: Too large resource version: {far}, current: {now}", "reason": "Timeout",
        "details": {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                    "retryAfterSeconds": 1},
        "code": 504}


async def test_get_beyond_current_revision_is_resource_version_too_large(server):
    async with aiohttp.ClientSession() as http:
        far = await _current(http, server.url) + 1_000_000
        async with http.get(f"{server.url}/api/v1/namespaces/default?resourceVersion={far}") as r:
            assert r.status == 504
            body = await r.json()
    assert body["reason"] == "Timeout"
    assert body["message"].startswith(f"Timeout: Too large resource version: {far}, current: ")
    assert body["details"]["causes"] == [{"reason": "ResourceVersionTooLarge",
                                         "message": "Too large resource version"}]


async def test_reads_at_or_below_current_revision_are_served(server):
    async with aiohttp.ClientSession() as http:
        current = await _current(http, server.url)
        for q in (f"resourceVersion={current}", f"resourceVersion={current}&resourceVersionMatch=Exact",
                  "resourceVersion=1", "resourceVersion=0"):
            async with http.get(f"{server.url}{NS}/configmaps?{q}") as r:
                assert r.status == 200, (q, await r.text())
        async with http.get(f"{server.url}/api/v1/namespaces/default?resourceVersion={current}") as r:
            assert r.status == 200
        async with http.get(f"{server.url}{NS}/configmaps?resourceVersion=x1") as r:
            assert r.status == 400
            assert (await r.json())["message"] == 'invalid resource version "x1"'


async def test_read_waits_for_a_revision_committed_meanwhile(server):
    """The next revision, written while the read waits, lets it through."""
    async with aiohttp.ClientSession() as http:
        nxt = await _current(http, server.url) + 1

        async def later_write():
            await asyncio.sleep(0.2)
            async with http.post(f"{server.url}{NS}/configmaps", json={"metadata": {"name": "later"}}) as r:
                assert r.status == 201

        writer = asyncio.create_task(later_write())
        async with http.get(f"{server.url}{NS}/configmaps?resourceVersion={nxt}") as r:
            status, body = r.status, await r.json()
        await writer
    assert status == 200, body
    assert int(body["metadata"]["resourceVersion"]) >= nxt
