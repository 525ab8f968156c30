"""A kill -9 of the apiserver mid-burst loses no acknowledged write."""

from __future__ import annotations

import asyncio

from .wire import Wire

NS = "/api/v1/namespaces/default"


async def test_kill_9_mid_write_burst_keeps_every_acknowledged_object(apiserver):
    wire = Wire(apiserver.url)
    acknowledged: list[str] = []
    stop = asyncio.Event()

    async def writer(w: int):
        i = 0
        while not stop.is_set():
            name = f"w{w}-{i}"
            try:
                status, _, _ = await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": name}})
            except Exception:  # the server died under us: this write was never acknowledged
                return
            if status == 201:
                acknowledged.append(name)
            i += 1

    tasks = [asyncio.create_task(writer(w)) for w in range(8)]
    while len(acknowledged) < 200:
        await asyncio.sleep(0.01)
    apiserver.kill()
    stop.set()
    await asyncio.gather(*tasks)
    await wire.close()

    apiserver.start()
    wire = Wire(apiserver.url)
    _, body, _ = await wire.req("GET", f"{NS}/configmaps")
    stored = {i["metadata"]["name"] for i in body["items"]}
    await wire.close()
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged writes lost: {sorted(missing)[:5]}"
    assert len(acknowledged) >= 200
