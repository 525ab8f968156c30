"""The raw backend benchmark helper runs and reports its figures (no timing asserted)."""

from __future__ import annotations

from bench.storage_bench import raw_storage_bench, watch_latency_bench

from pybernetes.storage import open_storage


async def test_raw_storage_bench_reports_figures(tmp_path):
    store = open_storage("sqlite", data_dir=str(tmp_path))
    try:
        raw = await raw_storage_bench(store, n=200, concurrency=8)
        lat = await watch_latency_bench(store, n=20)
    finally:
        await store.close()
    assert raw["n"] == 200 and raw["creates_per_s"] > 0 and raw["gets_per_s"] > 0
    assert lat["create_to_watch_ms_p50"] > 0
