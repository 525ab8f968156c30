"""The storage conformance suite, written only against the ``Storage`` interface.

A backend's test module subclasses :class:`StorageConformance` and provides a
``store`` fixture (an open, empty-or-shared store; tests use their own key
prefix and relative revisions, so a shared server such as etcd works too):

    class TestMyBackend(StorageConformance):
        pass  # + a module-level ``store`` fixture
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from pybernetes.storage.interface import (
    AlreadyExists,
    Compacted,
    Conflict,
    FutureRevision,
    NotFound,
    Storage,
    Watch,
    WatchEvent,
)

__all__ = ["StorageConformance", "collect"]

# A guard against hangs, not a timing assertion.
GUARD = 20.0


async def collect(watch: Watch, n: int) -> list[WatchEvent]:
    """The next ``n`` events of ``watch``."""
    out = []
    for _ in range(n):
        out.append(await asyncio.wait_for(watch.__anext__(), GUARD))
    return out


@pytest.fixture
def ns() -> str:
    """A key prefix private to one test."""
    return f"/conformance/{uuid.uuid4().hex[:12]}/"


class StorageConformance:
    """Every backend must pass these."""

    # ----- create / update / delete ----------------------------------------

    async def test_create_if_absent(self, store: Storage, ns: str) -> None:
        kv = await store.create(ns + "a", b"one")
        assert kv.key == ns + "a" and kv.value == b"one"
        assert kv.create_revision == kv.mod_revision > 0
        with pytest.raises(AlreadyExists):
            await store.create(ns + "a", b"two")
        assert (await store.get(ns + "a")) == kv

    async def test_create_after_delete_starts_a_new_life(self, store: Storage, ns: str) -> None:
        first = await store.create(ns + "a", b"one")
        await store.delete(ns + "a")
        second = await store.create(ns + "a", b"two")
        assert second.create_revision == second.mod_revision > first.mod_revision
        assert (await store.get(ns + "a")).value == b"two"

    async def test_update_is_compare_and_swap(self, store: Storage, ns: str) -> None:
        kv = await store.create(ns + "a", b"one")
        kv2 = await store.update(ns + "a", b"two", expected_revision=kv.mod_revision)
        assert kv2.value == b"two"
        assert kv2.create_revision == kv.create_revision
        assert kv2.mod_revision > kv.mod_revision
        with pytest.raises(Conflict) as err:
            await store.update(ns + "a", b"three", expected_revision=kv.mod_revision)
        assert err.value.revision == kv2.mod_revision
        assert (await store.get(ns + "a")).value == b"two"

    async def test_update_missing_is_not_found(self, store: Storage, ns: str) -> None:
        with pytest.raises(NotFound):
            await store.update(ns + "nope", b"x", expected_revision=1)
        kv = await store.create(ns + "a", b"one")
        await store.delete(ns + "a")
        with pytest.raises(NotFound):
            await store.update(ns + "a", b"x", expected_revision=kv.mod_revision)

    async def test_concurrent_cas_exactly_one_wins(self, store: Storage, ns: str) -> None:
        kv = await store.create(ns + "a", b"0")
        results = await asyncio.gather(
            *(
                store.update(ns + "a", str(i).encode(), expected_revision=kv.mod_revision)
                for i in range(1, 17)
            ),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(e, Conflict) for e in losers)
        assert (await store.get(ns + "a")) == winners[0]

    async def test_concurrent_create_exactly_one_wins(self, store: Storage, ns: str) -> None:
        results = await asyncio.gather(
            *(store.create(ns + "a", str(i).encode()) for i in range(16)),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(r, AlreadyExists) for r in results if r not in winners)

    async def test_delete_with_and_without_precondition(self, store: Storage, ns: str) -> None:
        a = await store.create(ns + "a", b"A")
        b = await store.create(ns + "b", b"B")
        a2 = await store.update(ns + "a", b"A2", expected_revision=a.mod_revision)
        with pytest.raises(Conflict):
            await store.delete(ns + "a", expected_revision=a.mod_revision)
        rev, prev = await store.delete(ns + "a", expected_revision=a2.mod_revision)
        assert prev == a2
        assert rev > a2.mod_revision
        rev_b, prev_b = await store.delete(ns + "b")  # unconditional
        assert prev_b == b and rev_b > rev
        for key in ("a", "b"):
            with pytest.raises(NotFound):
                await store.get(ns + key)

    async def test_delete_missing_is_not_found(self, store: Storage, ns: str) -> None:
        with pytest.raises(NotFound):
            await store.delete(ns + "nope")
        await store.create(ns + "a", b"A")
        await store.delete(ns + "a")
        with pytest.raises(NotFound):
            await store.delete(ns + "a")

    # ----- reads -------------------------------------------------------------

    async def test_get_missing_is_not_found(self, store: Storage, ns: str) -> None:
        with pytest.raises(NotFound):
            await store.get(ns + "nope")

    async def test_get_at_revision(self, store: Storage, ns: str) -> None:
        v1 = await store.create(ns + "a", b"1")
        v2 = await store.update(ns + "a", b"2", expected_revision=v1.mod_revision)
        del_rev, _ = await store.delete(ns + "a")
        assert (await store.get(ns + "a", revision=v1.mod_revision)) == v1
        assert (await store.get(ns + "a", revision=v2.mod_revision)) == v2
        assert (await store.get(ns + "a", revision=del_rev - 1)) == v2
        with pytest.raises(NotFound):
            await store.get(ns + "a", revision=del_rev)
        with pytest.raises(NotFound):
            await store.get(ns + "a", revision=v1.mod_revision - 1)

    async def test_list_in_key_order_under_prefix(self, store: Storage, ns: str) -> None:
        for name in ("b", "a", "c/x", "c"):
            await store.create(ns + name, name.encode())
        await store.create(ns[:-1] + "-sibling/a", b"other")  # shares the string prefix sans '/'
        await store.create(ns + "d", b"d")
        await store.delete(ns + "d")
        res = await store.list(ns)
        assert [kv.key for kv in res.items] == [ns + k for k in ("a", "b", "c", "c/x")]
        assert [kv.value for kv in res.items] == [b"a", b"b", b"c", b"c/x"]
        assert res.more is False
        assert res.revision == await store.current_revision()
        assert (await store.list(ns + "zzz/")).items == []

    async def test_list_at_revision(self, store: Storage, ns: str) -> None:
        a = await store.create(ns + "a", b"a1")
        b = await store.create(ns + "b", b"b1")
        rev = await store.current_revision()
        await store.update(ns + "a", b"a2", expected_revision=a.mod_revision)
        await store.delete(ns + "b")
        await store.create(ns + "c", b"c1")
        old = await store.list(ns, revision=rev)
        assert old.revision == rev
        assert old.items == [a, b]
        new = await store.list(ns)
        assert [(kv.key, kv.value) for kv in new.items] == [(ns + "a", b"a2"), (ns + "c", b"c1")]

    async def test_pagination_is_consistent_at_one_revision(self, store: Storage, ns: str) -> None:
        keys = [ns + f"k{i:02d}" for i in range(10)]
        for k in keys:
            await store.create(k, k.encode())
        first = await store.list(ns, limit=3)
        assert [kv.key for kv in first.items] == keys[:3] and first.more
        # The world changes between pages; the pages must not notice.
        await store.create(ns + "k05a", b"new")
        await store.delete(keys[7])
        kv8 = await store.get(keys[8])
        await store.update(keys[8], b"changed", expected_revision=kv8.mod_revision)
        seen = [kv.key for kv in first.items]
        page, pages = first, 1
        while page.more:
            page = await store.list(
                ns, revision=first.revision, limit=3, start_key=page.items[-1].key + "\x00"
            )
            assert page.revision == first.revision
            seen += [kv.key for kv in page.items]
            assert all(kv.value == kv.key.encode() for kv in page.items)
            pages += 1
        assert seen == keys
        assert pages == 4
        exact = await store.list(ns, revision=first.revision, limit=10)
        assert len(exact.items) == 10 and exact.more is False

    async def test_list_start_key_is_inclusive(self, store: Storage, ns: str) -> None:
        for name in ("a", "b", "c"):
            await store.create(ns + name, b"")
        res = await store.list(ns, start_key=ns + "b")
        assert [kv.key for kv in res.items] == [ns + "b", ns + "c"]

    async def test_count(self, store: Storage, ns: str) -> None:
        assert await store.count(ns) == 0
        for name in ("a", "b", "c", "d/e"):
            await store.create(ns + name, b"")
        await store.delete(ns + "b")
        await store.create(ns[:-1] + "-sibling", b"")
        assert await store.count(ns) == 3
        assert await store.count(ns + "d/") == 1

    async def test_future_revision(self, store: Storage, ns: str) -> None:
        await store.create(ns + "a", b"")
        cur = await store.current_revision()
        with pytest.raises(FutureRevision) as err:
            await store.get(ns + "a", revision=cur + 10)
        assert err.value.revision == cur
        with pytest.raises(FutureRevision):
            await store.list(ns, revision=cur + 10)
        assert (await store.get(ns + "a", revision=cur)).value == b""

    async def test_current_revision_is_monotonic(self, store: Storage, ns: str) -> None:
        last = await store.current_revision()
        kv = None
        for i in range(5):
            kv = await store.create(ns + str(i), b"")
            cur = await store.current_revision()
            assert cur >= kv.mod_revision > last
            last = cur
        assert kv is not None
        rev, _ = await store.delete(ns + "0")
        assert await store.current_revision() >= rev > last

    # ----- watch -------------------------------------------------------------

    async def test_watch_from_next_revision_sees_every_event(self, store: Storage, ns: str) -> None:
        start = await store.current_revision() + 1
        watch = store.watch(ns, start_revision=start)
        try:
            a = await store.create(ns + "a", b"1")
            a2 = await store.update(ns + "a", b"2", expected_revision=a.mod_revision)
            b = await store.create(ns + "b", b"B")
            del_rev, _ = await store.delete(ns + "a")
            events = await collect(watch, 4)
        finally:
            await watch.close()
        assert [(e.type, e.key, e.revision) for e in events] == [
            ("PUT", ns + "a", a.mod_revision),
            ("PUT", ns + "a", a2.mod_revision),
            ("PUT", ns + "b", b.mod_revision),
            ("DELETE", ns + "a", del_rev),
        ]
        create, update, create_b, delete = events
        assert create.is_create and create.value == b"1" and create.prev_value is None
        assert not update.is_create and update.value == b"2" and update.prev_value == b"1"
        assert update.create_revision == a.mod_revision
        assert create_b.is_create
        assert not delete.is_create and delete.value is None and delete.prev_value == b"2"

    async def test_watch_replays_history(self, store: Storage, ns: str) -> None:
        a = await store.create(ns + "a", b"1")
        await store.update(ns + "a", b"2", expected_revision=a.mod_revision)
        await store.delete(ns + "a")
        await store.create(ns + "b", b"B")
        watch = store.watch(ns, start_revision=a.mod_revision)
        try:
            history = await collect(watch, 4)
            c = await store.create(ns + "c", b"C")  # then live, without a seam
            (live,) = await collect(watch, 1)
        finally:
            await watch.close()
        assert [(e.type, e.key) for e in history] == [
            ("PUT", ns + "a"),
            ("PUT", ns + "a"),
            ("DELETE", ns + "a"),
            ("PUT", ns + "b"),
        ]
        assert history[0].revision == a.mod_revision
        assert history[2].prev_value == b"2"
        assert live.key == ns + "c" and live.revision == c.mod_revision and live.is_create

    async def test_watch_resume_has_no_gap_under_concurrent_writes(
        self, store: Storage, ns: str
    ) -> None:
        start = await store.current_revision() + 1
        total = 300

        async def writer(worker: int) -> list[int]:
            revs = []
            for i in range(total // 6):
                kv = await store.create(f"{ns}w{worker}-{i}", b"")
                revs.append(kv.mod_revision)
            return revs

        writers = asyncio.gather(*(writer(w) for w in range(6)))
        got: list[WatchEvent] = []
        next_rev = start
        while len(got) < total:  # watch in short stretches, resuming after the last event
            watch = store.watch(ns, start_revision=next_rev)
            try:
                got += await collect(watch, min(37, total - len(got)))
            finally:
                await watch.close()
            next_rev = got[-1].revision + 1
        written = sorted(r for revs in await writers for r in revs)
        assert [e.revision for e in got] == written

    async def test_watch_events_rebuild_the_listed_state(self, store: Storage, ns: str) -> None:
        """Folding a watch over concurrent creates/updates/deletes gives the final list."""
        start = await store.current_revision() + 1
        watch = store.watch(ns, start_revision=start)

        async def churn(worker: int) -> None:
            for i in range(20):
                key = f"{ns}{(worker * 7 + i) % 10}"
                try:
                    kv = await store.get(key)
                    if i % 3 == 0:
                        await store.delete(key, expected_revision=kv.mod_revision)
                    else:
                        await store.update(key, b"%d" % i, expected_revision=kv.mod_revision)
                except NotFound:
                    try:
                        await store.create(key, b"new")
                    except AlreadyExists:
                        pass
                except Conflict:
                    pass

        try:
            await asyncio.gather(*(churn(w) for w in range(8)))
            final = await store.list(ns)
            state: dict[str, bytes] = {}
            last = start - 1
            while last < final.revision:
                (ev,) = await collect(watch, 1)
                assert ev.revision > last
                last = ev.revision
                if ev.type == "DELETE":
                    assert state.pop(ev.key) == ev.prev_value
                else:
                    assert state.get(ev.key) == ev.prev_value
                    assert ev.is_create == (ev.key not in state)
                    assert ev.value is not None
                    state[ev.key] = ev.value
        finally:
            await watch.close()
        assert state == {kv.key: kv.value for kv in final.items}

    async def test_watch_from_a_future_revision_waits_for_it(self, store: Storage, ns: str) -> None:
        start = await store.current_revision() + 3
        watch = store.watch(ns, start_revision=start)
        try:
            revs = [(await store.create(ns + str(i), b"")).mod_revision for i in range(5)]
            events = await collect(watch, 1)
        finally:
            await watch.close()
        assert events[0].revision == min(r for r in revs if r >= start)

    async def test_watch_sees_only_its_prefix(self, store: Storage, ns: str) -> None:
        start = await store.current_revision() + 1
        watch = store.watch(ns + "a/", start_revision=start)
        try:
            await store.create(ns + "b/x", b"")
            await store.create(ns + "a", b"")
            await store.create(ns + "ab/x", b"")
            mine = await store.create(ns + "a/x", b"")
            (event,) = await collect(watch, 1)
        finally:
            await watch.close()
        assert event.key == ns + "a/x" and event.revision == mine.mod_revision

    async def test_watch_close_ends_iteration(self, store: Storage, ns: str) -> None:
        watch = store.watch(ns, start_revision=await store.current_revision() + 1)
        waiter = asyncio.ensure_future(watch.__anext__())
        await asyncio.sleep(0)
        await watch.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiter, GUARD)
        await watch.close()  # idempotent

    # ----- compaction ----------------------------------------------------------

    async def test_compaction(self, store: Storage, ns: str) -> None:
        v1 = await store.create(ns + "a", b"1")
        v2 = await store.update(ns + "a", b"2", expected_revision=v1.mod_revision)
        gone = await store.create(ns + "gone", b"x")
        await store.delete(ns + "gone")
        v3 = await store.update(ns + "a", b"3", expected_revision=v2.mod_revision)
        b = await store.create(ns + "b", b"B")
        await store.compact(v3.mod_revision)
        assert await store.compacted_revision() >= v3.mod_revision
        with pytest.raises(Compacted):
            await store.get(ns + "a", revision=v2.mod_revision)
        with pytest.raises(Compacted):
            await store.list(ns, revision=gone.mod_revision)
        watch = store.watch(ns, start_revision=v2.mod_revision)
        try:
            with pytest.raises(Compacted):
                await asyncio.wait_for(watch.__anext__(), GUARD)
        finally:
            await watch.close()
        # State at and after the compacted revision is intact.
        assert (await store.get(ns + "a", revision=v3.mod_revision)) == v3
        assert (await store.list(ns, revision=v3.mod_revision)).items == [v3]
        assert (await store.list(ns)).items == [v3, b]
        watch = store.watch(ns, start_revision=v3.mod_revision + 1)
        try:
            (event,) = await collect(watch, 1)
        finally:
            await watch.close()
        assert event.key == ns + "b" and event.is_create
        # Writes go on normally, including re-creating a deleted key.
        again = await store.create(ns + "gone", b"again")
        assert again.create_revision > b.mod_revision
        v4 = await store.update(ns + "a", b"4", expected_revision=v3.mod_revision)
        watch = store.watch(ns, start_revision=v3.mod_revision + 1)
        try:
            events = await collect(watch, 3)
        finally:
            await watch.close()
        assert [(e.key, e.value, e.prev_value, e.revision) for e in events] == [
            (ns + "b", b"B", None, b.mod_revision),
            (ns + "gone", b"again", None, again.mod_revision),
            (ns + "a", b"4", b"3", v4.mod_revision),
        ]

    async def test_compact_twice_and_to_the_future(self, store: Storage, ns: str) -> None:
        kv = await store.create(ns + "a", b"")
        await store.compact(kv.mod_revision)
        with pytest.raises(Compacted):
            await store.compact(kv.mod_revision)
        with pytest.raises(FutureRevision):
            await store.compact(await store.current_revision() + 10)
