"""Failures under load, through the apiserver over HTTP:

- apiserver A SIGKILLed mid-burst while B shares its etcd: writes through B all
  succeed, every acknowledged write survives, and a watch and an informer
  opened on A resume on B (the client library's failover) without missing or
  repeating an event;
- the etcd leader (or the follower the apiserver talks to) of a 3-member
  cluster SIGKILLed while the apiserver takes writes and serves a watch: writes
  resume within 10 s, no acknowledged write is lost, the watch misses nothing.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pybernetes.client import Client, Informer, errors

from .conftest import eventually

GUARD = 120.0  # no test waits longer than this for anything


def cm(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"n": name}}


class Writers:
    """``concurrency`` tasks creating configmaps ``{tag}-{worker}-{i}`` one after
    another until ``stop``; each outcome is acked, failed (with the error) or unknown."""

    def __init__(self, client: Client, tag: str, *, concurrency: int = 4):
        self.client, self.tag, self.concurrency = client, tag, concurrency
        self.acked: dict[str, float] = {}  # name -> monotonic time of the ack
        self.failed: dict[str, BaseException] = {}
        self.stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(w)) for w in range(self.concurrency)]

    async def _run(self, worker: int) -> None:
        api = self.client.config_maps("default")
        i = 0
        while not self.stop.is_set():
            name = f"{self.tag}-{worker}-{i}"
            i += 1
            try:
                await api.create(cm(name))
            except (errors.APIError, errors.ConnectionFailed) as e:
                self.failed[name] = e
                await asyncio.sleep(0.05)
                continue
            self.acked[name] = time.monotonic()

    async def until(self, n: int) -> None:
        await eventually(lambda: len(self.acked) >= n, timeout=GUARD)

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self._tasks)


async def test_apiserver_killed_mid_burst_clients_and_watches_fail_over(apiservers, etcd1):
    a, b = apiservers(etcd1.client_urls, n=2)
    on_b = Client(servers=[b.url])
    failing_over = Client(servers=[a.url, b.url])  # talks to A until A dies
    informer = Informer(Client(servers=[a.url, b.url]).config_maps("default"))
    seen: list[tuple[str, str]] = []
    informer.add_event_handler(on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                               on_update=lambda old, new: seen.append(("update", new["metadata"]["name"])),
                               on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])))
    try:
        start_rv = (await failing_over.config_maps("default").list())["metadata"]["resourceVersion"]
        watch = failing_over.config_maps("default").watch(resource_version=start_rv)
        events: list[tuple[str, str, int]] = []

        async def consume() -> None:
            async for ev in watch:
                events.append((ev.type, ev.object["metadata"]["name"],
                               int(ev.object["metadata"]["resourceVersion"])))

        consumer = asyncio.create_task(consume())
        await informer.start()
        assert await informer.wait_for_sync(timeout=30)
        through_b, through_both = Writers(on_b, "b"), Writers(failing_over, "ab")
        through_b.start()
        through_both.start()
        await through_b.until(100)
        await through_both.until(100)
        await eventually(lambda: len(events) >= 100, timeout=GUARD)  # the watch streams from A
        a.kill()  # SIGKILL by pid
        killed_at = time.monotonic()
        await eventually(lambda: any(t > killed_at for t in through_both.acked.values()), timeout=GUARD)
        await through_b.until(len(through_b.acked) + 100)
        await through_b.finish()
        await through_both.finish()

        # B never saw a failure; through A, only requests in flight at the kill may have.
        assert through_b.failed == {}
        assert len(through_both.failed) <= through_both.concurrency, through_both.failed
        assert all(isinstance(e, errors.ConnectionFailed) for e in through_both.failed.values())
        stored = {o["metadata"]["name"] for o in (await on_b.config_maps("default").list_all())["items"]}
        acked = through_b.acked.keys() | through_both.acked.keys()
        assert acked <= stored
        assert stored <= acked | through_both.failed.keys()  # nothing appeared from nowhere

        # The watch moved to B and delivered every create once, in revision order.
        await eventually(lambda: len(events) >= len(stored), timeout=GUARD)
        await asyncio.sleep(0.5)  # room for a repeated event to show up
        await watch.close()
        await consumer
        assert watch.resumes >= 1
        assert [e[1] for e in events if e[0] == "ADDED"] == [e[1] for e in events]
        assert sorted(e[1] for e in events) == sorted(stored)
        revisions = [e[2] for e in events]
        assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)

        # The informer converged on B's state without a relist or a repeated add.
        await eventually(lambda: set(informer.keys()) >= {f"default/{n}" for n in stored}, timeout=GUARD)
        assert informer.relists == 1
        adds = [name for kind, name in seen if kind == "add"]
        assert sorted(adds) == sorted(set(adds)) and set(adds) == stored
    finally:
        await informer.stop()
        await informer.api.backend.close()
        await on_b.close()
        await failing_over.close()


@pytest.mark.parametrize("victim", ["leader", "follower"])
async def test_etcd_member_killed_apiserver_recovers_without_losing_acked_writes(apiservers, fresh_etcd3, victim):
    leader = fresh_etcd3.leader()
    dead = leader if victim == "leader" else next(m for m in fresh_etcd3.members if m is not leader)
    # The apiserver talks to the victim first: its death cuts the connection (and, for
    # the leader, the raft group) under the apiserver's writes and its watch feed.
    urls = [dead.client_url] + [u for u in fresh_etcd3.client_urls if u != dead.client_url]
    (server,) = apiservers(urls, n=1)
    client = Client(servers=[server.url])
    events: list[tuple[str, str]] = []
    try:
        rv = (await client.config_maps("default").list())["metadata"]["resourceVersion"]
        watch = client.config_maps("default").watch(resource_version=rv)

        async def consume() -> None:
            async for ev in watch:
                events.append((ev.type, ev.object["metadata"]["name"]))

        consumer = asyncio.create_task(consume())
        writers = Writers(client, "w", concurrency=8)
        writers.start()
        await writers.until(150)
        fresh_etcd3.kill(dead)  # SIGKILL by pid
        killed_at = time.monotonic()
        await eventually(lambda: sum(t > killed_at for t in writers.acked.values()) >= 150, timeout=GUARD)
        await writers.finish()

        # The longest stretch without any acknowledged write, from the kill on.
        times = sorted([killed_at, *(t for t in writers.acked.values() if t > killed_at)])
        stall = max(b - a for a, b in zip(times, times[1:], strict=False))
        assert stall < 10.0, f"no write acknowledged for {stall:.1f}s after the {victim} died"
        if victim == "leader":
            assert fresh_etcd3.leader() is not leader
        stored = {o["metadata"]["name"]: o["data"]
                  for o in (await client.config_maps("default").list_all())["items"]}
        missing = [n for n in writers.acked if n not in stored]
        assert missing == []
        assert all(stored[n] == {"n": n} for n in writers.acked)
        # Failures, if any, were answers (never a hang): 5xx/timeouts while no leader existed.
        assert all(isinstance(e, errors.APIError) for e in writers.failed.values()), writers.failed
        # The apiserver's watch went on through the loss: every object once, as ADDED.
        await eventually(lambda: len(events) >= len(stored), timeout=GUARD)
        await asyncio.sleep(0.5)  # room for a repeated event to show up
        await watch.close()
        await consumer
        assert sorted(name for _, name in events) == sorted(stored)
        assert {t for t, _ in events} == {"ADDED"}
        print(f"\netcd {victim} killed: longest stall without an acknowledged write {stall:.2f}s; "
              f"{len(writers.acked)} acked, {len(writers.failed)} failed")
    finally:
        await client.close()
