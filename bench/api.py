"""apiserver benchmark: creates/s, gets/s, lists of 1,000 pods/s, watch latency.

Starts a real `pyb apiserver` (own process, SQLite in a temp dir) and drives it
over HTTP with concurrent clients; then measures the raw storage backend in
the same run so the apiserver's overhead shows as a ratio.

    python bench/api.py [--pods 3000] [--concurrency 16] [--watchers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp
import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pybernetes.storage import open_storage  # noqa: E402
from storage_bench import raw_storage_bench  # noqa: E402

NS = "/api/v1/namespaces/default"


def pod(name: str) -> bytes:
    return orjson.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
                         "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                                  "ports": [{"containerPort": 80}],
                                                  "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}})


def start_apiserver(data_dir: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "pybernetes.cli.main", "apiserver", "--data-dir", data_dir,
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    return proc, line.split("listening on", 1)[1].strip()


async def run_workers(n: int, concurrency: int, op) -> float:
    it = iter(range(n))

    async def worker():
        for i in it:
            await op(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


async def api_bench(url: str, pods: int, concurrency: int, watchers: int) -> dict:
    conn = aiohttp.TCPConnector(limit=concurrency + watchers + 8)
    async with aiohttp.ClientSession(connector=conn) as s:
        headers = {"Content-Type": "application/json"}

        async def create(i):
            async with s.post(f"{url}{NS}/pods", data=pod(f"p{i:06d}"), headers=headers) as r:
                assert r.status == 201, await r.text()
                await r.read()

        async def get(i):
            async with s.get(f"{url}{NS}/pods/p{i % pods:06d}") as r:
                assert r.status == 200
                await r.read()

        create_s = await run_workers(pods, concurrency, create)
        n_gets = pods * 2
        get_s = await run_workers(n_gets, concurrency, get)

        async def list1000(i):
            async with s.get(f"{url}{NS}/pods", params={"limit": "1000"}) as r:
                body = await r.read()
                assert r.status == 200 and len(orjson.loads(body)["items"]) == 1000

        n_lists = 40
        list_s = await run_workers(n_lists, 4, list1000)

        # Watch latency: `watchers` streams on configmaps; each create is timed
        # from just before its request to its arrival on every stream.
        async with s.get(f"{url}{NS}/configmaps") as r:
            rv = orjson.loads(await r.read())["metadata"]["resourceVersion"]
        sent: dict[str, float] = {}
        latencies: list[float] = []
        n_events = 200
        ready = 0

        async def watcher():
            nonlocal ready
            async with s.get(f"{url}{NS}/configmaps", params={"watch": "1", "resourceVersion": rv},
                             timeout=aiohttp.ClientTimeout(total=None)) as r:
                ready += 1
                got = 0
                async for line in r.content:
                    now = time.perf_counter()
                    name = orjson.loads(line)["object"]["metadata"]["name"]
                    latencies.append(now - sent[name])
                    got += 1
                    if got == n_events:
                        return

        tasks = [asyncio.create_task(watcher()) for _ in range(watchers)]
        while ready < watchers:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        for i in range(n_events):
            name = f"w{i:05d}"
            sent[name] = time.perf_counter()
            async with s.post(f"{url}{NS}/configmaps", data=orjson.dumps({"metadata": {"name": name}}),
                              headers=headers) as r:
                assert r.status == 201
            await asyncio.sleep(0.005)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    latencies.sort()
    return {
        "creates_per_s": pods / create_s,
        "gets_per_s": n_gets / get_s,
        "lists_1000_per_s": n_lists / list_s,
        "watch_p50_ms": 1000 * statistics.median(latencies),
        "watch_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "watch_events": len(latencies),
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--watchers", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        proc, url = start_apiserver(os.path.join(d, "api"))
        try:
            api = await api_bench(url, args.pods, args.concurrency, args.watchers)
        finally:
            proc.terminate()
            proc.wait(10)
        store = open_storage("sqlite", data_dir=os.path.join(d, "raw"))
        try:
            raw = await raw_storage_bench(store, n=args.pods, concurrency=args.concurrency)
        finally:
            await store.close()
    print(f"apiserver (SQLite, {args.concurrency} concurrent clients, {args.pods} pods)")
    print(f"  creates/s            {api['creates_per_s']:10.0f}   (target >= 1000)")
    print(f"  gets/s               {api['gets_per_s']:10.0f}   (target >= 3000)")
    print(f"  lists of 1000 pods/s {api['lists_1000_per_s']:10.1f}")
    print(f"  watch latency p50    {api['watch_p50_ms']:10.2f} ms ({args.watchers} watchers, "
          f"{api['watch_events']} deliveries)")
    print(f"  watch latency p99    {api['watch_p99_ms']:10.2f} ms (target <= 50)")
    print("raw storage backend (same run, same machine)")
    print(f"  puts/s               {raw['creates_per_s']:10.0f}")
    print(f"  gets/s               {raw['gets_per_s']:10.0f}")
    print("apiserver / raw storage")
    print(f"  creates              {api['creates_per_s'] / raw['creates_per_s']:10.2f}")
    print(f"  gets                 {api['gets_per_s'] / raw['gets_per_s']:10.2f}")


if __name__ == "__main__":
    asyncio.run(main())
