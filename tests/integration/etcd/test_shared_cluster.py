"""Apiservers sharing etcd beyond the request path: starting at the same moment
on an empty keyspace, and compaction (shared, coordinated) seen from both."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from pybernetes.client import Client, errors
from tests.etcd_cluster import EtcdCluster

from .conftest import etcd_apiserver


@pytest.fixture
def own_etcd(tmp_path):
    """A member of this test's own: compaction is global to an etcd cluster."""
    cluster = EtcdCluster.start(tmp_path / "etcd", size=1)
    try:
        yield cluster
    finally:
        cluster.stop()


def start_together(servers) -> None:
    with ThreadPoolExecutor(len(servers)) as pool:
        for f in [pool.submit(s.start) for s in servers]:
            f.result()


async def test_apiservers_starting_at_once_bootstrap_one_cluster(tmp_path, etcd1):
    prefix = f"/together-{uuid.uuid4().hex[:6]}/registry"
    servers = [etcd_apiserver(tmp_path / f"s{i}", etcd1.client_urls, prefix=prefix) for i in range(3)]
    try:
        start_together(servers)
        clients = [Client(servers=[s.url]) for s in servers]
        try:
            lists = [await c.namespaces().list() for c in clients]
            names = [sorted(o["metadata"]["name"] for o in lst["items"]) for lst in lists]
            assert names[0] == names[1] == names[2]
            assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= set(names[0])
            uids = {o["metadata"]["uid"] for lst in lists for o in lst["items"]}
            assert len(uids) == len(names[0])  # one object per namespace, not one per apiserver
        finally:
            for c in clients:
                await c.close()
    finally:
        for s in servers:
            s.stop()


async def test_compaction_by_either_apiserver_expires_old_versions_on_both(tmp_path, own_etcd):
    prefix = "/compact/registry"
    # Compact every second, keeping no extra history: a revision older than the
    # previous tick soon becomes unreadable through both apiservers.
    args = ("--compaction-interval", "1", "--compaction-keep-revisions", "0")
    servers = []
    for i in range(2):
        s = etcd_apiserver(tmp_path / f"s{i}", own_etcd.client_urls, prefix=prefix)
        s.extra_args = (*s.extra_args, *args)  # later flags win
        servers.append(s)
    start_together(servers)
    ca, cb = Client(servers=[servers[0].url]), Client(servers=[servers[1].url])
    try:
        first = await ca.config_maps("default").create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c0"}})
        old_rv = first["metadata"]["resourceVersion"]
        for i in range(1, 20):
            await cb.config_maps("default").create(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}})

        async def expired_on(client) -> bool:
            try:
                await client.config_maps("default").list(resource_version=old_rv,
                                                         resource_version_match="Exact")
            except errors.Expired:
                return True
            return False

        async with asyncio.timeout(30):
            while not (await expired_on(ca) and await expired_on(cb)):
                await asyncio.sleep(0.2)
        watch = cb.config_maps("default").watch(resource_version=old_rv)
        with pytest.raises(errors.Expired):
            async with asyncio.timeout(10):
                async for _ in watch:
                    pass
        await watch.close()
        # Everything written is still there at the newest revision.
        assert len((await ca.config_maps("default").list())["items"]) == 20
    finally:
        await ca.close()
        await cb.close()
        for s in servers:
            s.stop()
