"""The SQLite backend: the conformance suite plus SQLite-only behaviour."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys

import pytest

from pybernetes.storage import Compacted, StorageError, WatchExpired, open_storage
from pybernetes.storage.sqlite import SQLiteConfig, SQLiteStorage
from tests.storage.conformance import StorageConformance, collect, ns  # noqa: F401  (fixture)


@pytest.fixture
async def store(tmp_path):
    s = open_storage("sqlite", data_dir=str(tmp_path))
    assert isinstance(s, SQLiteStorage)
    yield s
    await s.close()


class TestSQLiteConformance(StorageConformance):
    pass


# ----- SQLite-only ------------------------------------------------------------

GUARD = 30.0


def _rows(path: str) -> list[tuple[str, int, int]]:
    """(name, id, deleted) of every row, read through a separate connection."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT name, id, deleted FROM kv ORDER BY id").fetchall()
    finally:
        conn.close()


async def test_data_survives_close_and_reopen(tmp_path):
    store = open_storage("sqlite", data_dir=str(tmp_path))
    a = await store.create("/r/a", b"A")
    a2 = await store.update("/r/a", b"A2", expected_revision=a.mod_revision)
    await store.create("/r/b", b"B")
    del_rev, _ = await store.delete("/r/b")
    await store.compact(a2.mod_revision)
    rev = await store.current_revision()
    await store.close()

    store = open_storage("sqlite", data_dir=str(tmp_path))
    try:
        assert await store.current_revision() == rev == del_rev
        assert await store.compacted_revision() == a2.mod_revision
        assert await store.get("/r/a") == a2
        assert (await store.list("/r/")).items == [a2]
        c = await store.create("/r/c", b"C")
        assert c.mod_revision == rev + 1
    finally:
        await store.close()


async def test_second_process_cannot_open_the_same_file(tmp_path):
    store = open_storage("sqlite", data_dir=str(tmp_path))
    try:
        with pytest.raises(StorageError, match="in use"):
            open_storage("sqlite", data_dir=str(tmp_path))
    finally:
        await store.close()
    open_again = open_storage("sqlite", data_dir=str(tmp_path))
    await open_again.close()


_WRITE_BURST = """
import asyncio, sys
from pybernetes.storage import open_storage

async def main():
    store = open_storage("sqlite", data_dir=sys.argv[1])
    async def worker(w):
        i = 0
        while True:
            key = f"/burst/{w}/{i}"
            await store.create(key, key.encode() * 20)
            print(key, flush=True)
            i += 1
    await asyncio.gather(*(worker(w) for w in range(16)))

asyncio.run(main())
"""


async def test_acknowledged_writes_survive_kill_9(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WRITE_BURST,
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
    )
    acked: list[str] = []
    try:
        assert proc.stdout is not None
        while len(acked) < 2000:
            line = await asyncio.wait_for(proc.stdout.readline(), GUARD)
            assert line, "the writer subprocess died"
            acked.append(line.decode().strip())
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-burst, no chance to flush anything
    rest, _ = await asyncio.wait_for(proc.communicate(), GUARD)
    acked += rest.decode().split()  # acknowledged before the kill, still in the pipe
    assert proc.returncode == -signal.SIGKILL

    store = open_storage("sqlite", data_dir=str(tmp_path))
    try:
        stored = {kv.key: kv.value for kv in (await store.list("/burst/")).items}
        missing = [key for key in acked if stored.get(key) != key.encode() * 20]
        assert missing == []
        assert len(stored) >= len(acked)
    finally:
        await store.close()


async def test_compaction_removes_superseded_rows_and_tombstones(tmp_path):
    store = SQLiteStorage(str(tmp_path / "db"), config=SQLiteConfig(compact_batch=3))
    try:
        kv = await store.create("/c/a", b"0")
        for i in range(1, 10):
            kv = await store.update("/c/a", str(i).encode(), expected_revision=kv.mod_revision)
        await store.create("/c/gone", b"")
        await store.delete("/c/gone")
        keep = await store.create("/c/b", b"")
        await store.compact(keep.mod_revision)
        assert [(name, deleted) for name, _, deleted in _rows(store.path)] == [
            ("/c/a", 0),
            ("/c/b", 0),
        ]
        assert (await store.list("/c/")).items == [kv, keep]
    finally:
        await store.close()


async def test_periodic_compaction(tmp_path):
    store = SQLiteStorage(str(tmp_path / "db"))
    try:
        kv = await store.create("/p/a", b"0")
        for i in range(20):
            kv = await store.update("/p/a", str(i).encode(), expected_revision=kv.mod_revision)
        compactor = store.start_compactor(interval=0.01, keep_revisions=5)
        async with asyncio.timeout(GUARD):
            while await store.compacted_revision() == 0:
                await asyncio.sleep(0.01)
        compacted = await store.compacted_revision()
        assert 0 < compacted <= kv.mod_revision - 5
        assert len(_rows(store.path)) <= kv.mod_revision - compacted + 1
        assert await store.get("/p/a") == kv
        await compactor.aclose()
    finally:
        await store.close()


async def test_slow_watcher_does_not_block_writers_or_other_watchers(tmp_path):
    store = SQLiteStorage(str(tmp_path / "db"), config=SQLiteConfig(watch_buffer=50))
    try:
        start = await store.current_revision() + 1
        slow = store.watch("/s/", start_revision=start)  # never read while writes go on
        fast = store.watch("/s/", start_revision=start)
        received: list[int] = []

        async def read_fast() -> None:
            async for ev in fast:
                received.append(ev.revision)
                if len(received) == 500:
                    return

        reader = asyncio.create_task(read_fast())
        sem = asyncio.Semaphore(16)

        async def put(i: int) -> int:
            async with sem:
                return (await store.create(f"/s/{i}", b"")).mod_revision

        revs = await asyncio.wait_for(asyncio.gather(*(put(i) for i in range(500))), GUARD)
        await asyncio.wait_for(reader, GUARD)
        assert received == sorted(revs)
        with pytest.raises(WatchExpired):
            await asyncio.wait_for(slow.__anext__(), GUARD)
        with pytest.raises(StopAsyncIteration):
            await slow.__anext__()
        await slow.close()
        await fast.close()
    finally:
        await store.close()


async def test_close_ends_open_watches(tmp_path):
    store = SQLiteStorage(str(tmp_path / "db"))
    watch = store.watch("/", start_revision=await store.current_revision() + 1)
    waiter = asyncio.ensure_future(watch.__anext__())
    await asyncio.sleep(0)
    await store.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, GUARD)


async def test_watch_replay_spans_many_pages(tmp_path):
    store = SQLiteStorage(str(tmp_path / "db"))
    try:
        first = await store.create("/h/0", b"")
        for i in range(1, 2500):
            await store.create(f"/h/{i}", b"")
            if i % 2:
                await store.create(f"/other/{i}", b"")
        watch = store.watch("/h/", start_revision=first.mod_revision)
        try:
            events = await collect(watch, 2500)
        finally:
            await watch.close()
        assert [e.key for e in events] == [f"/h/{i}" for i in range(2500)]
    finally:
        await store.close()


async def test_compaction_during_replay_fails_the_watch_instead_of_skipping(tmp_path):
    store = SQLiteStorage(str(tmp_path / "db"))
    try:
        kv = first = await store.create("/z/a", b"0")
        for i in range(1, 2500):
            kv = await store.update("/z/a", b"%d" % i, expected_revision=kv.mod_revision)
        watch = store.watch("/z/", start_revision=first.mod_revision)
        try:
            (ev,) = await collect(watch, 1)
            assert ev.revision == first.mod_revision
            await store.compact(kv.mod_revision)
            delivered = [ev.revision]
            with pytest.raises(Compacted):
                while True:
                    ev = await asyncio.wait_for(watch.__anext__(), GUARD)
                    delivered.append(ev.revision)
            # Whatever came before the error was gapless.
            assert delivered == list(range(first.mod_revision, first.mod_revision + len(delivered)))
        finally:
            await watch.close()
    finally:
        await store.close()


def test_open_storage_kinds(tmp_path):
    with pytest.raises(ValueError, match="endpoints"):
        open_storage("etcd", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown storage kind"):
        open_storage("redis", data_dir=str(tmp_path))
    with pytest.raises(TypeError):
        open_storage("sqlite", data_dir=str(tmp_path), no_such_option=1)


async def test_a_failed_commit_fails_its_writes_and_leaves_no_gap(tmp_path):
    store = SQLiteStorage(str(tmp_path / "db"), config=SQLiteConfig(busy_timeout_ms=50))
    try:
        before = await store.create("/f/a", b"")
        intruder = sqlite3.connect(store.path, isolation_level=None)
        intruder.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock
        try:
            with pytest.raises(StorageError, match="sqlite commit failed"):
                await store.create("/f/b", b"")
        finally:
            intruder.execute("ROLLBACK")
            intruder.close()
        after = await store.create("/f/b", b"")
        assert after.mod_revision == before.mod_revision + 1
        assert [kv.key for kv in (await store.list("/f/")).items] == ["/f/a", "/f/b"]
    finally:
        await store.close()
