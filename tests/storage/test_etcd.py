"""The etcd backend: the conformance suite on a real etcd, plus cluster failures.

Needs Debian's ``etcd-server`` (scripts/install-system-deps) and the ``aetcd``
package; without them every test here skips, saying which is missing.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import pytest

from tests.etcd_cluster import EtcdCluster, etcd_missing_reason
from tests.storage.conformance import StorageConformance, collect, ns  # noqa: F401  (fixture)

_MISSING = etcd_missing_reason()
if _MISSING:
    pytest.skip(f"SKIPPING etcd storage tests: {_MISSING}", allow_module_level=True)

from pybernetes.storage import (  # noqa: E402
    Compacted,
    NotFound,
    StorageError,
    open_storage,
    start_compactor,
)
from pybernetes.storage.etcd import EtcdStorage, WriteOutcomeUnknown  # noqa: E402

GUARD = 30.0


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    """One etcd member shared by the module (tests use their own key prefixes)."""
    cluster = EtcdCluster.start(tmp_path_factory.mktemp("etcd1"), size=1)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def store(etcd):
    s = open_storage(
        "etcd", data_dir="", endpoints=etcd.client_urls, prefix=f"/pyb-{uuid.uuid4().hex[:8]}"
    )
    assert isinstance(s, EtcdStorage)
    yield s
    await s.close()


class TestEtcdConformance(StorageConformance):
    pass


# ----- etcd-only ----------------------------------------------------------------


async def test_prefix_isolates_stores_sharing_one_etcd(etcd):
    a = EtcdStorage(etcd.client_urls, prefix="/tenant-a")
    b = EtcdStorage(",".join(etcd.client_urls), prefix="/tenant-b")
    try:
        await a.create("/registry/x", b"A")
        with pytest.raises(NotFound):
            await b.get("/registry/x")
        kv = await b.create("/registry/x", b"B")
        assert [k.value for k in (await a.list("/registry/")).items] == [b"A"]
        assert (await b.list("")).items == [kv]
        assert await a.count("") == 1
    finally:
        await a.close()
        await b.close()


async def test_compacted_revision_is_learned_from_etcd(etcd):
    """A second client that did not compact learns the revision from etcd's error."""
    a = EtcdStorage(etcd.client_urls, prefix="/learn-a")
    b = EtcdStorage(etcd.client_urls, prefix="/learn-b", compact_key="/learn-b-compact")
    try:
        kv = await a.create("/k", b"1")
        kv2 = await a.update("/k", b"2", expected_revision=kv.mod_revision)
        await a.compact(kv2.mod_revision)
        with pytest.raises(Compacted) as err:
            await b.get("/k", revision=kv.mod_revision)
        assert err.value.revision >= kv2.mod_revision
        watch = b.watch("/", start_revision=kv.mod_revision)
        try:
            with pytest.raises(Compacted) as err:
                await asyncio.wait_for(watch.__anext__(), GUARD)
            assert err.value.revision >= kv2.mod_revision
        finally:
            await watch.close()
        assert await b.compacted_revision() >= kv2.mod_revision
    finally:
        await a.close()
        await b.close()


async def test_coordinated_compaction_one_compactor_per_interval(etcd):
    """Two apiservers' compactors on one etcd: the claim on compact_rev_key lets
    exactly one of them compact in each round."""
    key = f"/compact-{uuid.uuid4().hex[:6]}"
    a = EtcdStorage(etcd.client_urls, prefix="/ca", compact_key=key)
    b = EtcdStorage(etcd.client_urls, prefix="/cb", compact_key=key)
    try:
        won_a = won_b = 0
        token_a = token_b = 0
        for i in range(6):
            rev = (await a.create(f"/k{i}", b"")).mod_revision
            ok_a, token_a = await a.claim_compaction(rev, token=token_a)
            ok_b, token_b = await b.claim_compaction(rev, token=token_b)
            assert ok_a + ok_b <= 1
            won_a += ok_a
            won_b += ok_b
        # a won first and keeps winning while it lives; b always learns the clock.
        assert (won_a, won_b) == (6, 0)
        # a stops compacting: b takes over at its next claim.
        ok_b, token_b = await b.claim_compaction(rev, token=token_b)
        assert ok_b
    finally:
        await a.close()
        await b.close()


async def test_compactor_compacts_etcd(etcd):
    s = EtcdStorage(
        etcd.client_urls, prefix="/compactor", compact_key=f"/compact-{uuid.uuid4().hex[:6]}"
    )
    try:
        kv = await s.create("/a", b"0")
        for i in range(10):
            kv = await s.update("/a", str(i).encode(), expected_revision=kv.mod_revision)
        before = await s.compacted_revision()
        compactor = start_compactor(s, interval=0.05, keep_revisions=2)
        try:
            async with asyncio.timeout(GUARD):
                while await s.compacted_revision() <= before:
                    await asyncio.sleep(0.05)
        finally:
            await compactor.aclose()
        assert await s.get("/a") == kv
    finally:
        await s.close()


async def test_unreachable_etcd_fails_reads_with_storage_error():
    from tests.etcd_cluster import free_port

    s = EtcdStorage([f"http://127.0.0.1:{free_port()}"], request_timeout=0.5)
    try:
        with pytest.raises(StorageError, match="unavailable"):
            await s.get("/x")
        with pytest.raises(StorageError):
            await s.create("/x", b"")
    finally:
        await s.close()


async def test_failover_to_a_live_endpoint(etcd):
    """A dead URL first in the list: calls fail over to the live one."""
    from tests.etcd_cluster import free_port

    s = EtcdStorage([f"http://127.0.0.1:{free_port()}", *etcd.client_urls], prefix="/fo")
    try:
        kv = await s.create("/a", b"1")  # never sent to the dead one: safe to retry
        assert await s.get("/a") == kv
    finally:
        await s.close()


async def test_slow_watcher_is_held_back_not_dropped(etcd):
    """A watcher that does not read makes etcd hold its events (backpressure):
    writers and other watchers go on, and it later reads everything, in order."""
    s = EtcdStorage(etcd.client_urls, prefix=f"/slow-{uuid.uuid4().hex[:6]}", watch_buffer=10)
    try:
        start = await s.current_revision() + 1
        slow = s.watch("/", start_revision=start)
        fast = s.watch("/", start_revision=start)
        sem = asyncio.Semaphore(16)

        async def put(i: int) -> int:
            async with sem:
                return (await s.create(f"/{i:04d}", b"x" * 100)).mod_revision

        revs = sorted(await asyncio.wait_for(asyncio.gather(*(put(i) for i in range(400))), GUARD))
        assert [e.revision for e in await collect(fast, 400)] == revs
        assert [e.revision for e in await collect(slow, 400)] == revs
        await slow.close()
        await fast.close()
    finally:
        await s.close()


async def test_watch_from_now_sees_the_next_write(etcd):
    s = EtcdStorage(etcd.client_urls, prefix=f"/now-{uuid.uuid4().hex[:6]}")
    try:
        before = await s.create("/old", b"")
        watch = s.watch("/", start_revision=0)
        try:
            new = await s.create("/new", b"")
            (event,) = await collect(watch, 1)
        finally:
            await watch.close()
        assert event.key == "/new" and event.revision == new.mod_revision > before.mod_revision
    finally:
        await s.close()


async def test_close_ends_open_watches(etcd):
    s = EtcdStorage(etcd.client_urls, prefix="/closing")
    watch = s.watch("/", start_revision=await s.current_revision() + 1)
    waiter = asyncio.ensure_future(watch.__anext__())
    await asyncio.sleep(0)
    await s.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, GUARD)


# ----- 3-member cluster ----------------------------------------------------------


@pytest.fixture
def cluster(tmp_path):
    c = EtcdCluster.start(tmp_path / "etcd3", size=3)
    try:
        yield c
    finally:
        c.stop()


class _Burst:
    """Writers that create a key, update it, and delete every third one with a
    precondition; ``final`` holds each key's acknowledged end state (None:
    deleted), ``acked`` the acknowledged creates, ``errors`` what failed."""

    def __init__(self, store: EtcdStorage, prefix: str) -> None:
        self.store = store
        self.prefix = prefix
        self.acked: list[str] = []
        self.final: dict[str, bytes | None] = {}
        self.errors: list[BaseException] = []
        self.stop = asyncio.Event()

    async def _chain(self, key: str, i: int) -> None:
        kv = await self.store.create(key, b"v1")
        self.acked.append(key)
        self.final[key] = b"v1"
        kv = await self.store.update(key, b"v2", expected_revision=kv.mod_revision)
        self.final[key] = b"v2"
        if i % 3 == 0:
            await self.store.delete(key, expected_revision=kv.mod_revision)
            self.final[key] = None

    async def _worker(self, w: int) -> None:
        i = 0
        while not self.stop.is_set():
            key = f"{self.prefix}{w}/{i}"
            i += 1
            try:
                await self._chain(key, i)
            except StorageError as exc:
                self.errors.append(exc)
                self.final.pop(key, None)  # its state is unknown
                await asyncio.sleep(0.05)

    async def run(self, workers: int) -> None:
        await asyncio.gather(*(self._worker(w) for w in range(workers)))

    async def acked_at_least(self, n: int) -> None:
        async with asyncio.timeout(GUARD):
            while len(self.acked) < n:
                await asyncio.sleep(0.01)

    async def check(self, urls: list[str]) -> None:
        """Every acknowledged state is what the cluster holds."""
        check = EtcdStorage(urls, prefix="/burst")
        try:
            stored = {kv.key: kv.value for kv in (await check.list(self.prefix)).items}
        finally:
            await check.close()
        wrong = {k: (v, stored.get(k)) for k, v in self.final.items() if stored.get(k) != v}
        assert wrong == {}
        assert len(self.final) >= len(self.acked) - 16  # at most the chains in flight


async def test_member_killed_mid_burst_writes_continue_and_survive(cluster):
    leader = cluster.leader()
    victim = next(m for m in cluster.members if m is not leader)
    # The client talks to the victim first: its death breaks the connection mid-write.
    urls = [victim.client_url] + [u for u in cluster.client_urls if u != victim.client_url]
    store = EtcdStorage(urls, prefix="/burst")
    burst = _Burst(store, "/k/")
    try:
        running = asyncio.create_task(burst.run(workers=16))
        await burst.acked_at_least(200)
        cluster.kill(victim)
        await burst.acked_at_least(len(burst.acked) + 500)  # writes continue on the survivors
        burst.stop.set()
        await asyncio.wait_for(running, GUARD)
    finally:
        burst.stop.set()
        await store.close()
    # Interrupted writes are re-sent and settled: none surfaces as an error.
    assert burst.errors == []
    await burst.check([m.client_url for m in cluster.members if m is not victim])


async def test_leader_killed_store_recovers_without_losing_acked_writes(cluster):
    leader = cluster.leader()
    # Talk to the leader first: its death breaks the connection and the raft group.
    urls = [leader.client_url] + [u for u in cluster.client_urls if u != leader.client_url]
    store = EtcdStorage(urls, prefix="/burst")
    burst = _Burst(store, "/l/")
    loop = asyncio.get_running_loop()
    try:
        running = asyncio.create_task(burst.run(workers=16))
        await burst.acked_at_least(200)
        cluster.kill(leader)
        killed_at = loop.time()
        # Recovered = a write begun after the kill is acknowledged.
        probe = 0
        async with asyncio.timeout(GUARD):
            while True:
                probe += 1
                try:
                    await store.create(f"/probe/{probe}", b"")
                    break
                except StorageError:
                    await asyncio.sleep(0.05)
        recovered_in = loop.time() - killed_at
        await burst.acked_at_least(len(burst.acked) + 300)
        burst.stop.set()
        await asyncio.wait_for(running, GUARD)
    finally:
        burst.stop.set()
        await store.close()
    assert recovered_in < 10.0
    # Writes stuck with the dead leader were re-sent and settled, not failed.
    assert burst.errors == []
    assert cluster.leader() is not leader
    await burst.check([m.client_url for m in cluster.members if m is not leader])


async def test_watch_resumes_on_another_member_without_gaps(cluster):
    store = EtcdStorage(cluster.client_urls, prefix="/w")
    writer = EtcdStorage(list(reversed(cluster.client_urls)), prefix="/w")
    try:
        start = await store.current_revision() + 1
        watch = store.watch("/", start_revision=start)
        revs = [(await writer.create(f"/a{i}", b"")).mod_revision for i in range(50)]
        got = await collect(watch, 50)
        cluster.kill(cluster.members[0])  # the watch's endpoint
        revs += [(await writer.create(f"/b{i}", b"")).mod_revision for i in range(50)]
        got += await collect(watch, 50)
        await watch.close()
        assert [e.revision for e in got] == revs
    finally:
        await store.close()
        await writer.close()


def test_write_outcome_unknown_is_a_storage_error():
    assert issubclass(WriteOutcomeUnknown, StorageError)


# ----- TLS -------------------------------------------------------------------------


async def test_tls_with_client_certificates(tmp_path):
    from tests.etcd_cluster import EtcdTLS

    try:
        tls = EtcdTLS.generate(tmp_path / "pki")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"SKIPPING etcd TLS test: cannot make certificates with openssl: {exc}")
    cluster = EtcdCluster.start(tmp_path / "etcd-tls", size=1, tls=tls)
    try:
        assert cluster.client_urls[0].startswith("https://")
        store = open_storage(
            "etcd",
            data_dir="",
            endpoints=",".join(cluster.client_urls),
            ca_file=tls.ca_file,
            cert_file=tls.client_cert,
            key_file=tls.client_key,
        )
        try:
            kv = await store.create("/tls/a", b"secret")
            assert await store.get("/tls/a") == kv
        finally:
            await store.close()
        # Without a client certificate etcd refuses the handshake.
        anonymous = EtcdStorage(cluster.client_urls, ca_file=tls.ca_file, request_timeout=1.0)
        try:
            with pytest.raises(StorageError):
                await anonymous.get("/tls/a")
        finally:
            await anonymous.close()
    finally:
        cluster.stop()


# ----- pure helpers -------------------------------------------------------------------


def test_parse_endpoints():
    from pybernetes.storage.etcd_endpoints import Endpoint, parse_endpoints

    assert parse_endpoints("http://127.0.0.1:2379, https://etcd-2:2379,", tls=False) == [
        Endpoint("127.0.0.1:2379", False),
        Endpoint("etcd-2:2379", True),
    ]
    assert parse_endpoints(["[::1]:2379"], tls=True) == [Endpoint("[::1]:2379", True)]
    assert parse_endpoints(["https://[::1]:2379"], tls=False) == [Endpoint("[::1]:2379", True)]
    for bad in ("", "ftp://h:1", "http://nohost"):
        with pytest.raises(ValueError):
            parse_endpoints(bad, tls=False)


def test_range_end():
    from pybernetes.storage.etcd import _range_end

    assert _range_end(b"/a/") == b"/a0"
    assert _range_end(b"a\xff") == b"b"
    assert _range_end(b"\xff\xff") == b"\0"
    assert _range_end(b"") == b"\0"
