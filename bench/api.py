"""apiserver benchmark: creates/s, gets/s, lists of 1,000 pods/s, watch latency.

Starts a real `pyb apiserver` (own process, plain HTTP on loopback so TLS does
not blur the storage comparison) on SQLite in a temp dir and/or on etcd (a
member or a 3-member cluster this script starts on loopback ports and stops by
pid, via tests/etcd_cluster.py), drives it over HTTP with concurrent clients,
then measures the raw storage backend in the same run — for etcd through the
same client the apiserver uses (EtcdStorage on aetcd's stubs) — so the
apiserver's overhead shows as a ratio. ``--repeat N`` runs everything N times
and prints medians.

    python bench/api.py [--storage sqlite|etcd|both] [--members 1|3] [--repeat 3]
                        [--pods 3000] [--concurrency 16] [--watchers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import aiohttp
import orjson

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))  # the repo root, for tests.etcd_cluster
from etcd_bench import etcd_store_bench  # noqa: E402
from pybernetes.storage import open_storage  # noqa: E402
from storage_bench import raw_storage_bench  # noqa: E402

NS = "/api/v1/namespaces/default"


def pod(name: str) -> bytes:
    return orjson.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
                         "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                                  "ports": [{"containerPort": 80}],
                                                  "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}})


def start_apiserver(data_dir: str, extra_args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "pybernetes.cli.main", "apiserver", "--data-dir", data_dir,
                             "--port", "0", "--insecure-http", *extra_args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        proc.kill()
        proc.wait()
        raise SystemExit(f"apiserver did not start ({' '.join(extra_args) or 'sqlite'})")
    return proc, line.split("listening on", 1)[1].strip()


def stop_apiserver(proc: subprocess.Popen) -> None:
    proc.terminate()  # by pid
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()


async def run_workers(n: int, concurrency: int, op) -> float:
    it = iter(range(n))

    async def worker():
        for i in it:
            await op(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of process ``pid`` so far (from /proc): a figure the
    other tenants of a busy machine disturb far less than wall-clock rates."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def api_bench(url: str, pods: int, concurrency: int, watchers: int, *, pid: int = 0) -> dict:
    """Wall-clock rates and latencies, and (given the apiserver's ``pid``) its CPU
    time per operation in each phase."""
    cpu = {}
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

        async def bind(i):
            name = f"p{i:06d}"
            body = orjson.dumps({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                                 "target": {"apiVersion": "v1", "kind": "Node", "name": f"n{i % 100}"}})
            async with s.post(f"{url}{NS}/pods/{name}/binding", data=body, headers=headers) as r:
                assert r.status == 201, await r.text()
                await r.read()

        c0 = cpu_seconds(pid)
        create_s = await run_workers(pods, concurrency, create)
        c1 = cpu_seconds(pid)
        n_gets = pods * 2
        get_s = await run_workers(n_gets, concurrency, get)
        c2 = cpu_seconds(pid)
        bind_s = await run_workers(pods, concurrency, bind)  # the scheduler's write: pods/NAME/binding
        c3 = cpu_seconds(pid)
        cpu["cpu_ms_per_create"] = 1000 * (c1 - c0) / pods
        cpu["cpu_ms_per_get"] = 1000 * (c2 - c1) / n_gets
        cpu["cpu_ms_per_binding"] = 1000 * (c3 - c2) / pods

        async def list1000(i):
            async with s.get(f"{url}{NS}/pods", params={"limit": "1000"}) as r:
                body = await r.read()
                assert r.status == 200 and len(orjson.loads(body)["items"]) == min(1000, pods)

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
        c0 = cpu_seconds(pid)
        for i in range(n_events):
            name = f"w{i:05d}"
            sent[name] = time.perf_counter()
            async with s.post(f"{url}{NS}/configmaps", data=orjson.dumps({"metadata": {"name": name}}),
                              headers=headers) as r:
                assert r.status == 201
            await asyncio.sleep(0.005)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        # Creates and their deliveries to every watcher: per delivered event.
        cpu["cpu_us_per_delivery"] = 1e6 * (cpu_seconds(pid) - c0) / (n_events * watchers)
    latencies.sort()
    return {
        "creates_per_s": pods / create_s,
        "gets_per_s": n_gets / get_s,
        "bindings_per_s": pods / bind_s,
        "lists_1000_per_s": n_lists / list_s,
        "watch_p50_ms": 1000 * statistics.median(latencies),
        "watch_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "watch_events": len(latencies),
        **cpu,
    }


# Figures in print order: (key, label, format, target note).
API_ROWS = (
    ("creates_per_s", "creates/s", "{:10.0f}", "(target >= 1000 on SQLite)"),
    ("gets_per_s", "gets/s", "{:10.0f}", "(target >= 3000 on SQLite)"),
    ("bindings_per_s", "bindings/s", "{:10.0f}", "(pods/NAME/binding)"),
    ("lists_1000_per_s", "lists of 1000 pods/s", "{:10.1f}", ""),
    ("watch_p50_ms", "watch latency p50 ms", "{:10.2f}", ""),
    ("watch_p99_ms", "watch latency p99 ms", "{:10.2f}", "(target <= 50)"),
    ("cpu_ms_per_create", "CPU ms per create", "{:10.3f}", "(apiserver process)"),
    ("cpu_ms_per_get", "CPU ms per get", "{:10.3f}", ""),
    ("cpu_ms_per_binding", "CPU ms per binding", "{:10.3f}", ""),
    ("cpu_us_per_delivery", "CPU us per watch event", "{:10.1f}", "(create + deliveries, per delivery)"),
)
RAW_ROWS = (
    ("raw_puts_per_s", "puts/s", "{:10.0f}", ""),
    ("raw_gets_per_s", "gets/s", "{:10.0f}", ""),
)
RATIO_ROWS = (
    ("ratio_creates", "creates (api / raw)", "{:10.2f}", ""),
    ("ratio_gets", "gets (api / raw)", "{:10.2f}", ""),
)


async def bench_sqlite(tmp: str, args: argparse.Namespace) -> dict[str, float]:
    run_dir = tempfile.mkdtemp(dir=tmp)
    proc, url = start_apiserver(os.path.join(run_dir, "api"))
    try:
        api = await api_bench(url, args.pods, args.concurrency, args.watchers, pid=proc.pid)
    finally:
        stop_apiserver(proc)
    store = open_storage("sqlite", data_dir=os.path.join(run_dir, "raw"))
    try:
        raw = await raw_storage_bench(store, n=args.pods, concurrency=args.concurrency)
    finally:
        await store.close()
    return _figures(api, raw)


async def bench_etcd(tmp: str, urls: list[str], args: argparse.Namespace) -> dict[str, float]:
    run_dir = tempfile.mkdtemp(dir=tmp)
    prefix = f"/bench-{uuid.uuid4().hex[:6]}/registry"  # a fresh keyspace per run
    proc, url = start_apiserver(os.path.join(run_dir, "api"),
                                ("--storage", "etcd", "--etcd-servers", ",".join(urls), "--etcd-prefix", prefix,
                                 *(("--no-watch-cache",) if args.no_watch_cache else ())))
    try:
        api = await api_bench(url, args.pods, args.concurrency, args.watchers, pid=proc.pid)
    finally:
        stop_apiserver(proc)
    raw = (await etcd_store_bench(urls, n=args.pods, concurrency=args.concurrency, watch_n=100))["raw"]
    return _figures(api, raw)


def _figures(api: dict, raw: dict) -> dict[str, float]:
    return {**api, "raw_puts_per_s": raw["creates_per_s"], "raw_gets_per_s": raw["gets_per_s"],
            "ratio_creates": api["creates_per_s"] / raw["creates_per_s"],
            "ratio_gets": api["gets_per_s"] / raw["gets_per_s"]}


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> str:
    names = list(results)
    med = {n: _median(runs) for n, runs in results.items()}
    width = 24
    etcd = f"; etcd: {args.members} member{'s' if args.members > 1 else ''}" if "etcd" in med else ""
    lines = [f"apiserver ({args.concurrency} concurrent clients, {args.pods} pods, {args.watchers} watchers; "
             f"median of {args.repeat} run{'s' if args.repeat > 1 else ''}{etcd})",
             f"  {'':<{width}}" + "".join(f"{n:>12}" for n in names)]

    def rows(title: str, spec) -> None:
        lines.append(title)
        for key, label, fmt, note in spec:
            cells = "".join(f"{fmt.format(med[n][key]):>12}" for n in names)
            lines.append(f"  {label:<{width}}{cells}   {note}".rstrip())

    rows("through the apiserver (HTTP)", API_ROWS)
    rows("raw storage backend (same run, same machine; etcd via EtcdStorage on aetcd)", RAW_ROWS)
    rows("apiserver / raw storage", RATIO_ROWS)
    if "etcd" in med and "sqlite" in med:
        lines.append("etcd / sqlite")
        for key, label, _fmt, _ in API_ROWS[:3]:
            lines.append(f"  {label:<{width}}{med['etcd'][key] / med['sqlite'][key]:12.2f}")
    if args.repeat > 1:
        lines.append("every run (creates/s, gets/s, lists/s, watch p99 ms):")
        for n, runs in results.items():
            for r in runs:
                lines.append(f"  {n:<8} {r['creates_per_s']:8.0f} {r['gets_per_s']:8.0f} "
                             f"{r['lists_1000_per_s']:8.1f} {r['watch_p99_ms']:8.2f}")
    return "\n".join(lines)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--storage", default="sqlite", choices=["sqlite", "etcd", "both"])
    ap.add_argument("--members", type=int, default=1, choices=(1, 3), help="etcd members to start")
    ap.add_argument("--no-watch-cache", action="store_true", help="etcd: one etcd watch per HTTP watch")
    ap.add_argument("--repeat", type=int, default=1, help="runs per backend; medians are printed")
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--watchers", type=int, default=100)
    args = ap.parse_args()
    backends = ["sqlite", "etcd"] if args.storage == "both" else [args.storage]
    results: dict[str, list[dict[str, float]]] = {b: [] for b in backends}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        urls: list[str] = []
        if "etcd" in backends:
            from tests.etcd_cluster import EtcdCluster, etcd_missing_reason

            missing = etcd_missing_reason()
            if missing:
                raise SystemExit(f"cannot run --storage etcd: {missing}")
            cluster = EtcdCluster.start(os.path.join(tmp, "etcd"), size=args.members)
            stack.callback(cluster.stop)  # by pid
            urls = cluster.client_urls
        for i in range(args.repeat):
            for b in backends:  # interleaved, so machine noise hits both alike
                t0 = time.perf_counter()
                figures = await (bench_sqlite(tmp, args) if b == "sqlite" else bench_etcd(tmp, urls, args))
                results[b].append(figures)
                print(f"run {i + 1}/{args.repeat} {b}: {figures['creates_per_s']:.0f} creates/s, "
                      f"{figures['gets_per_s']:.0f} gets/s ({time.perf_counter() - t0:.0f}s)",
                      file=sys.stderr, flush=True)
    print(report(results, args))


if __name__ == "__main__":
    asyncio.run(main())
