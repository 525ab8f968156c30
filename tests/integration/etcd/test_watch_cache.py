"""EtcdStorage's shared watch cache (what the apiserver runs with): the whole
storage conformance suite through it, plus what only the cache does — one etcd
stream for many watchers, old revisions served by etcd directly, laggards
expired, a failed feed ending watchers so they resume."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from pybernetes.storage import Compacted, WatchExpired, open_storage
from pybernetes.storage.etcd import EtcdStorage, EtcdWatch
from pybernetes.storage.watch_hub import HubWatch
from tests.etcd_cluster import EtcdCluster
from tests.storage.conformance import StorageConformance, collect, ns  # noqa: F401  (fixture)

GUARD = 30.0


@pytest.fixture
async def store(etcd1):
    s = open_storage("etcd", data_dir="", endpoints=etcd1.client_urls, prefix=f"/wc-{uuid.uuid4().hex[:8]}",
                     watch_cache_size=1000)
    assert isinstance(s, EtcdStorage)
    await s.start_watch_cache()
    yield s
    await s.close()


class TestEtcdWatchCacheConformance(StorageConformance):
    pass


def _inner(watch):
    return watch._inner


async def test_many_watchers_share_one_feed_and_see_every_event(store):
    start = await store.current_revision() + 1
    watches = [store.watch("/x/", start_revision=start) for _ in range(50)]
    revs = [(await store.create(f"/x/{i}", b"v")).mod_revision for i in range(20)]
    await store.create("/y/other", b"")  # another prefix: no watcher of /x/ sees it
    for w in watches:
        assert [e.revision for e in await collect(w, 20)] == revs
        assert isinstance(_inner(w), HubWatch)
    assert store._cache._hub.watcher_count == 50
    for w in watches:
        await w.close()
    assert store._cache._hub.watcher_count == 0


async def test_a_revision_older_than_the_cache_is_served_by_etcd(etcd1):
    s = EtcdStorage(etcd1.client_urls, prefix=f"/wc-old-{uuid.uuid4().hex[:6]}", watch_cache_size=5)
    try:
        first = await s.create("/a", b"1")
        await s.start_watch_cache()
        later = [(await s.create(f"/b{i}", b"")).mod_revision for i in range(10)]  # > the ring's 5
        w = s.watch("/", start_revision=first.mod_revision)
        got = await collect(w, 11)
        assert [e.revision for e in got] == [first.mod_revision, *later]
        assert isinstance(_inner(w), EtcdWatch)
        await w.close()
        recent = s.watch("/", start_revision=later[-2])
        assert [e.revision for e in await collect(recent, 2)] == later[-2:]
        assert isinstance(_inner(recent), HubWatch)
        await recent.close()
    finally:
        await s.close()


async def test_a_compacted_revision_is_compacted_even_if_cached(store):
    a = await store.create("/c/a", b"")
    b = await store.create("/c/b", b"")
    await store.compact(b.mod_revision)
    w = store.watch("/c/", start_revision=a.mod_revision)
    with pytest.raises(Compacted):
        await asyncio.wait_for(w.__anext__(), GUARD)
    await w.close()


async def test_a_watcher_that_falls_too_far_behind_is_expired(etcd1):
    s = EtcdStorage(etcd1.client_urls, prefix=f"/wc-lag-{uuid.uuid4().hex[:6]}", watch_cache_size=1000,
                    watch_cache_lag=10)
    try:
        await s.start_watch_cache()
        start = await s.current_revision() + 1
        slow, fast = s.watch("/", start_revision=start), s.watch("/", start_revision=start)
        await s.create("/first", b"")
        assert len(await collect(slow, 1)) == len(await collect(fast, 1)) == 1  # both live now
        revs = []
        for i in range(30):
            revs.append((await s.create(f"/{i:03d}", b"")).mod_revision)
            await collect(fast, 1)  # fast keeps up
        with pytest.raises(WatchExpired):
            await collect(slow, 30)
        await slow.close()
        await fast.close()
    finally:
        await s.close()


async def test_feed_failure_ends_watchers_and_a_new_feed_serves_the_next(tmp_path):
    cluster = EtcdCluster.start(tmp_path / "etcd", size=1)
    s = EtcdStorage(cluster.client_urls, prefix="/wc-fail", watch_cache_size=100,
                    watch_reconnect_timeout=1.0, request_timeout=3.0)
    try:
        await s.start_watch_cache()
        w = s.watch("/", start_revision=0)
        waiter = asyncio.ensure_future(w.__anext__())
        await asyncio.sleep(0.2)
        member = cluster.members[0]
        member.kill()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiter, GUARD)  # ended, not hung: the client resumes
        member.spawn()  # same data dir: the cluster comes back
        cluster.wait_healthy()
        w2 = s.watch("/", start_revision=0)
        got = asyncio.ensure_future(collect(w2, 1))
        await asyncio.sleep(0.5)
        kv = await s.create("/after", b"")
        (ev,) = await asyncio.wait_for(got, GUARD)
        assert ev.revision == kv.mod_revision
        await w2.close()
    finally:
        await s.close()
        cluster.stop()


async def test_buffered_events_are_handed_over_in_one_batch(store):
    start = await store.current_revision() + 1
    w = store.watch("/r/", start_revision=start)
    first = await store.create("/r/0", b"")
    assert (await collect(w, 1))[0].revision == first.mod_revision  # live on the hub now
    revs = [(await store.create(f"/r/{i}", b"")).mod_revision for i in range(1, 6)]
    async with asyncio.timeout(GUARD):
        while len(_inner(w)._sub.buffer) < 5:  # the feed delivers them
            await asyncio.sleep(0.01)
    assert [e.revision for e in w.ready(3)] == revs[:3]
    assert [e.revision for e in await collect(w, 2)] == revs[3:]
    assert w.ready(10) == []
    await w.close()


async def test_a_direct_etcd_watch_hands_over_buffered_events_too(etcd1):
    s = EtcdStorage(etcd1.client_urls, prefix=f"/direct-{uuid.uuid4().hex[:6]}")  # no cache
    try:
        start = await s.current_revision() + 1
        w = s.watch("/", start_revision=start)
        assert isinstance(w, EtcdWatch)
        revs = [(await s.create(f"/{i}", b"")).mod_revision for i in range(6)]
        assert (await collect(w, 1))[0].revision == revs[0]
        async with asyncio.timeout(GUARD):
            while w._queue.qsize() < 5:
                await asyncio.sleep(0.01)
        assert [e.revision for e in w.ready(3)] == revs[1:4]
        assert [e.revision for e in w.ready(10)] == revs[4:]
        assert w.ready(10) == []
        await w.close()
        with pytest.raises(StopAsyncIteration):
            await w.__anext__()
    finally:
        await s.close()
