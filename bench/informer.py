"""Informer benchmark: sync time for N pods, memory per cached pod, events/s.

Starts a real `pyb apiserver` (own process, SQLite in a temp dir), fills it
with pods through the client library, then measures:

- sync: time for a fresh informer to list (500 per page) and cache every pod,
  handlers notified (best of 3);
- memory: bytes per cached pod (tracemalloc over a second sync, everything
  the informer keeps: objects, indexes, handler buffers once drained);
- events/s end to end: pods patched by concurrent writers, counted when a
  handler sees them (bounded by the apiserver's write rate);
- events/s of the informer pipeline alone: prepared events replayed from
  memory, so the figure is the cache + index + handler-delivery rate without
  HTTP or JSON.

    python bench/informer.py [--pods 10000] [--events 5000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc

from pybernetes.api.resources import by_plural
from pybernetes.client import Client, Informer, ResourceClient, Watch, WatchEvent, index_by_field


def pod(name: str, i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench", "shard": str(i % 16)}},
            "spec": {"nodeName": f"node-{i % 100}",
                     "containers": [{"name": "c", "image": "busybox:1.36", "ports": [{"containerPort": 80}],
                                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}


def start_apiserver(data_dir: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "pybernetes.cli.main", "apiserver", "--insecure-http", "--data-dir", data_dir,
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"apiserver did not start: {line!r}")
    return proc, line.split("listening on", 1)[1].strip()


async def run_workers(n: int, concurrency: int, op) -> float:
    it = iter(range(n))

    async def worker():
        for i in it:
            await op(i)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


def _informer(api) -> Informer:
    return Informer(api, indexers={"node": index_by_field("spec", "nodeName")})


async def sync_time(client: Client) -> float:
    inf = _informer(client.pods("default"))
    seen = [0]
    reg = inf.add_event_handler(on_add=lambda o: seen.__setitem__(0, seen[0] + 1))
    t0 = time.perf_counter()
    await inf.start()
    await inf.wait_for_sync()
    await reg.wait_for_sync()
    elapsed = time.perf_counter() - t0
    await inf.stop()
    return elapsed


async def memory_per_object(client: Client, n: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    inf = _informer(client.pods("default"))
    inf.add_event_handler(on_add=lambda o: None)
    await inf.start()
    await inf.wait_for_sync()
    await asyncio.sleep(0.1)  # let the aiohttp buffers of the last page go
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per = (after - before) / max(len(inf), 1)
    await inf.stop()
    return per


async def end_to_end_events(client: Client, pods: int, events: int, concurrency: int) -> float:
    inf = _informer(client.pods("default"))
    got = [0]
    done = asyncio.Event()

    def on_update(old, new):
        got[0] += 1
        if got[0] >= events:
            done.set()
    inf.add_event_handler(on_update=on_update)
    async with inf:
        await inf.wait_for_sync()
        api = client.pods("default")
        t0 = time.perf_counter()
        await run_workers(events, concurrency, lambda i: api.patch(
            f"p{i % pods}", {"metadata": {"annotations": {"n": str(i)}}}, patch_type="merge"))
        await asyncio.wait_for(done.wait(), 120)
        return events / (time.perf_counter() - t0)


class _ReplayBackend:
    """A source that lists nothing and then replays prepared events: the informer alone."""

    def __init__(self, events: list[WatchEvent]):
        self.events = events

    async def list(self, info, ns, opts):
        return {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}

    def watch(self, info, ns, opts):
        events = self.events

        class _Replay(Watch):
            def __init__(self):
                super().__init__()
                self.it = iter(events)

            async def _next(self):
                ev = next(self.it, None)
                if ev is None:
                    await asyncio.Event().wait()  # stay open, like an idle stream
                return ev
        return _Replay()


async def pipeline_events(events: int) -> float:
    n = 1000
    evs = []
    for i in range(events):
        obj = pod(f"p{i % n}", i)
        obj["metadata"].update(namespace="default", resourceVersion=str(i + 2))
        evs.append(WatchEvent("ADDED" if i < n else "MODIFIED", obj))
    inf = _informer(ResourceClient(_ReplayBackend(evs), by_plural("", "pods"), None))
    got = [0]
    done = asyncio.Event()

    def count(*args):
        got[0] += 1
        if got[0] >= events:
            done.set()
    inf.add_event_handler(on_add=count, on_update=count)
    t0 = time.perf_counter()
    async with inf:
        await asyncio.wait_for(done.wait(), 120)
        return events / (time.perf_counter() - t0)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pyb-informer-bench-") as d:
        proc, url = start_apiserver(d)
        try:
            async with Client.from_url(url) as client:
                api = client.pods("default")
                t = await run_workers(args.pods, args.concurrency, lambda i: api.create(pod(f"p{i}", i)))
                print(f"created {args.pods} pods in {t:.1f}s ({args.pods / t:.0f}/s)")
                best = min([await sync_time(client) for _ in range(3)])
                print(f"informer sync of {args.pods} pods: {best:.2f}s ({args.pods / best:.0f} pods/s)")
                per = await memory_per_object(client, args.pods)
                print(f"memory per cached pod: {per / 1024:.1f} KiB (objects + indexes)")
                rate = await end_to_end_events(client, args.pods, args.events, args.concurrency)
                print(f"events/s end to end (apiserver writes -> handler): {rate:.0f}")
            rate = await pipeline_events(max(args.events, 50000))
            print(f"events/s through the informer pipeline alone (replayed events): {rate:.0f}")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
