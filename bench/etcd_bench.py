"""Raw etcd backend figures through pybernetes' own etcd client.

Creates/s, gets/s, a list of all keys and watch latency, measured with the
same helpers as the SQLite figures (``storage_bench``), against an etcd the
script starts (``--members 1`` or ``3``, loopback, temp dir, stopped by pid)
or an existing one (``--endpoints URL[,URL...]``).

    python bench/etcd_bench.py [--n 5000] [--concurrency 16] [--members 1]

``etcd_store_bench(endpoints, ...)`` is importable for bench/api.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))  # the repo root, for tests.etcd_cluster
from pybernetes.storage.etcd import EtcdStorage  # noqa: E402
from storage_bench import raw_storage_bench, watch_latency_bench  # noqa: E402

__all__ = ["etcd_store_bench"]


async def etcd_store_bench(
    endpoints: list[str], *, n: int, concurrency: int, watch_n: int = 500
) -> dict[str, dict[str, float]]:
    """``raw_storage_bench`` and ``watch_latency_bench`` on an :class:`EtcdStorage`."""
    store = EtcdStorage(endpoints, prefix=f"/etcd-bench-{uuid.uuid4().hex[:6]}")
    try:
        raw = await raw_storage_bench(store, n=n, concurrency=concurrency)
        lat = await watch_latency_bench(store, n=watch_n)
    finally:
        await store.close()
    return {"raw": raw, "watch": lat}


def _print(label: str, figures: dict[str, dict[str, float]]) -> None:
    raw, lat = figures["raw"], figures["watch"]
    print(
        f"{label} raw: {raw['creates_per_s']:,.0f} creates/s, {raw['gets_per_s']:,.0f} gets/s "
        f"(n={raw['n']:.0f}, concurrency={raw['concurrency']:.0f}); "
        f"list of {raw['n']:.0f} keys {raw['list_all_s'] * 1000:.0f} ms"
    )
    print(
        f"{label} watch: create→watcher p50 {lat['create_to_watch_ms_p50']:.2f} ms "
        f"p99 {lat['create_to_watch_ms_p99']:.2f} ms; "
        f"create→ack p50 {lat['create_to_ack_ms_p50']:.2f} ms "
        f"p99 {lat['create_to_ack_ms_p99']:.2f} ms"
    )


async def _main(args: argparse.Namespace) -> None:
    if args.endpoints:
        figures = await etcd_store_bench(
            args.endpoints.split(","), n=args.n, concurrency=args.concurrency
        )
        _print("etcd", figures)
        return
    from tests.etcd_cluster import EtcdCluster, etcd_missing_reason

    missing = etcd_missing_reason()
    if missing:
        raise SystemExit(f"cannot run: {missing}")
    with tempfile.TemporaryDirectory() as tmp:
        cluster = EtcdCluster.start(tmp, size=args.members)
        try:
            figures = await etcd_store_bench(
                cluster.client_urls, n=args.n, concurrency=args.concurrency
            )
        finally:
            cluster.stop()
    _print(f"etcd ({args.members} member{'s' if args.members > 1 else ''})", figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--members", type=int, default=1, choices=(1, 3))
    parser.add_argument("--endpoints", default="", help="use this etcd instead of starting one")
    asyncio.run(_main(parser.parse_args()))
