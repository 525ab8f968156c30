"""The work queue contract (client-go's) and its rate limiters."""

from __future__ import annotations

import asyncio
import random

import pytest

from pybernetes.client import Controller, ShutDown, WorkQueue
from pybernetes.client.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
)


async def test_add_deduplicates_waiting_items():
    q = WorkQueue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await q.get() == "a" and await q.get() == "b"


async def test_item_in_flight_is_deferred_until_done():
    q = WorkQueue()
    q.add("a")
    item = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0  # not handed out again while processing
    q.done(item)
    assert len(q) == 1  # ... but processed again, once
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_no_item_is_processed_by_two_workers_at_once():
    q = WorkQueue()
    active: set[str] = set()
    violations = []
    processed_after_add: dict[str, int] = {}
    adds: dict[str, int] = {}
    rng = random.Random(7)

    async def worker():
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            if key in active:
                violations.append(key)
            active.add(key)
            seen = adds[key]
            await asyncio.sleep(rng.random() / 1000)
            processed_after_add[key] = seen
            active.discard(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    for i in range(2000):
        key = f"k{rng.randrange(10)}"
        adds[key] = i
        q.add(key)
        if i % 7 == 0:
            await asyncio.sleep(0)
    await q.drain()
    q.shutdown()
    await asyncio.gather(*workers)
    assert violations == []
    # Every key was processed after its last add.
    assert processed_after_add == adds


async def test_shutdown_drains_then_raises():
    q = WorkQueue()
    q.add("a")
    q.shutdown()
    q.add("b")  # ignored
    assert await q.get() == "a"
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_wakes_blocked_getters():
    q = WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    with pytest.raises(ShutDown):
        await getter


async def test_add_after_keeps_the_earliest_delay():
    q = WorkQueue()
    q.add_after("x", 3600)
    q.add_after("x", 0.01)
    assert await asyncio.wait_for(q.get(), 10) == "x"


def test_exponential_backoff_is_per_item_and_capped():
    rl = ItemExponentialFailureRateLimiter(0.005, 0.1)
    assert [rl.when("a") for _ in range(6)] == [0.005, 0.01, 0.02, 0.04, 0.08, 0.1]
    assert rl.when("b") == 0.005
    assert rl.num_requeues("a") == 6
    rl.forget("a")
    assert rl.num_requeues("a") == 0 and rl.when("a") == 0.005


def test_bucket_allows_burst_then_spaces_by_qps():
    now = [100.0]
    rl = BucketRateLimiter(qps=10, burst=3, clock=lambda: now[0])
    assert [rl.when(i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert rl.when(3) == pytest.approx(0.1)
    assert rl.when(4) == pytest.approx(0.2)
    now[0] += 1.0  # refills 10 tokens, capped at burst
    assert rl.when(5) == 0.0


def test_max_of_limiters():
    now = [0.0]
    rl = MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.001, 10), BucketRateLimiter(1, 1, clock=lambda: now[0]))
    assert rl.when("a") == 0.001  # bucket has its burst token
    assert rl.when("a") == pytest.approx(1.0)  # bucket empty: one second per token


async def test_rate_limited_requeue_reaches_the_queue():
    q = WorkQueue(rate_limiter=ItemExponentialFailureRateLimiter(0.001, 0.01))
    q.add_rate_limited("a")
    q.add_rate_limited("a")
    assert await asyncio.wait_for(q.get(), 10) == "a"
    assert q.num_requeues("a") == 2
    q.forget("a")
    assert q.num_requeues("a") == 0


class Flaky(Controller):
    name = "flaky"

    def __init__(self):
        super().__init__(workers=3, rate_limiter=ItemExponentialFailureRateLimiter(0.001, 0.01))
        self.calls: dict[str, int] = {}
        self.requeues_seen: list[int] = []

    async def reconcile(self, key):
        self.calls[key] = self.calls.get(key, 0) + 1
        self.requeues_seen.append(self.queue.num_requeues(key))
        if key == "bad" and self.calls[key] < 3:
            raise RuntimeError("not yet")
        if key == "later" and self.calls[key] == 1:
            return 0.01
        return None


async def test_controller_requeues_failures_with_backoff_and_forgets_on_success():
    c = Flaky()
    run = asyncio.create_task(c.run())
    for k in ("bad", "good", "later"):
        c.queue.add(k)
    async with asyncio.timeout(10):
        while c.calls.get("bad", 0) < 3 or c.calls.get("later", 0) < 2:
            await asyncio.sleep(0.005)
    await c.queue.drain()
    c.stop()
    await run
    assert c.calls["good"] == 1 and c.calls["bad"] == 3 and c.calls["later"] == 2
    assert c.queue.num_requeues("bad") == 0  # forgotten after the success


async def test_controller_drops_after_max_retries():
    class Always(Controller):
        async def reconcile(self, key):
            self.n = getattr(self, "n", 0) + 1
            raise RuntimeError("never")
    c = Always(max_retries=2, rate_limiter=ItemExponentialFailureRateLimiter(0.001, 0.01))
    run = asyncio.create_task(c.run())
    c.queue.add("k")
    async with asyncio.timeout(10):
        while getattr(c, "n", 0) < 3 or c.queue.num_requeues("k"):
            await asyncio.sleep(0.005)
    await c.queue.drain()
    c.stop()
    await run
    assert c.n == 3


async def test_shutdown_cancels_delayed_adds():
    q = WorkQueue()
    q.add_after("x", 0.01)
    q.shutdown()
    await asyncio.sleep(0.05)
    assert len(q) == 0
    with pytest.raises(ShutDown):
        await q.get()
