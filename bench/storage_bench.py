"""Raw storage backend figures: creates/s, gets/s and watch latency.

``raw_storage_bench(store, n=..., concurrency=...)`` is imported by the
apiserver benchmark to print the backend's own figures beside the API's.
Run alone: ``python bench/storage_bench.py [--n N] [--concurrency C]`` (a
temporary SQLite store).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from typing import Any

from pybernetes.storage import Storage, open_storage

__all__ = ["raw_storage_bench", "watch_latency_bench"]

VALUE = b"x" * 1024  # about one small pod's JSON


async def _run(concurrency: int, n: int, op: Any) -> float:
    """Call ``op(i)`` for i in range(n) from ``concurrency`` tasks; returns seconds."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await op(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


async def raw_storage_bench(store: Storage, *, n: int, concurrency: int) -> dict[str, float]:
    """Create ``n`` keys then get each once, ``concurrency`` callers at a time.

    Returns ``creates_per_s``, ``gets_per_s``, ``list_all_s`` (one list of the
    ``n`` keys), ``n`` and ``concurrency``. Keys go under a fresh prefix.
    """
    prefix = f"/bench/{uuid.uuid4().hex[:8]}/"
    keys = [f"{prefix}{i:08d}" for i in range(n)]
    create_s = await _run(concurrency, n, lambda i: store.create(keys[i], VALUE))
    get_s = await _run(concurrency, n, lambda i: store.get(keys[i]))
    t0 = time.perf_counter()
    listed = await store.list(prefix)
    list_s = time.perf_counter() - t0
    assert len(listed.items) == n
    return {
        "n": n,
        "concurrency": concurrency,
        "creates_per_s": n / create_s,
        "gets_per_s": n / get_s,
        "list_all_s": list_s,
    }


async def watch_latency_bench(store: Storage, *, n: int = 500) -> dict[str, float]:
    """Sequential creates watched live: medians/p99 in milliseconds of
    create-call → watcher-receives and create-call → create-returns."""
    prefix = f"/bench-watch/{uuid.uuid4().hex[:8]}/"
    watch = store.watch(prefix, start_revision=await store.current_revision() + 1)
    arrived: dict[int, float] = {}

    async def consume() -> None:
        async for ev in watch:
            arrived[ev.revision] = time.perf_counter()
            if len(arrived) == n:
                return

    consumer = asyncio.create_task(consume())
    calls: list[tuple[int, float, float]] = []
    for i in range(n):
        t0 = time.perf_counter()
        kv = await store.create(f"{prefix}{i:08d}", VALUE)
        calls.append((kv.mod_revision, t0, time.perf_counter()))
    await asyncio.wait_for(consumer, 30)
    await watch.close()
    to_watch = sorted((arrived[rev] - t0) * 1000 for rev, t0, _ in calls)
    to_ack = sorted((t1 - t0) * 1000 for _, t0, t1 in calls)
    return {
        "n": n,
        "create_to_watch_ms_p50": statistics.median(to_watch),
        "create_to_watch_ms_p99": to_watch[int(len(to_watch) * 0.99) - 1],
        "create_to_ack_ms_p50": statistics.median(to_ack),
        "create_to_ack_ms_p99": to_ack[int(len(to_ack) * 0.99) - 1],
    }


async def _main(n: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        store = open_storage("sqlite", data_dir=data_dir)
        try:
            raw = await raw_storage_bench(store, n=n, concurrency=concurrency)
            lat = await watch_latency_bench(store)
        finally:
            await store.close()
    print(
        f"sqlite raw: {raw['creates_per_s']:,.0f} creates/s, {raw['gets_per_s']:,.0f} gets/s "
        f"(n={n}, concurrency={concurrency}); list of {n} keys {raw['list_all_s'] * 1000:.0f} ms"
    )
    print(
        f"sqlite watch: create→watcher p50 {lat['create_to_watch_ms_p50']:.2f} ms "
        f"p99 {lat['create_to_watch_ms_p99']:.2f} ms; "
        f"create→ack p50 {lat['create_to_ack_ms_p50']:.2f} ms "
        f"p99 {lat['create_to_ack_ms_p99']:.2f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(_main(args.n, args.concurrency))
