"""Pod startup benchmark: 100 pods created at once on one node (process runtime).

Starts a real `pyb apiserver` and a real `pyb kubelet` (own processes, temp
dirs), watches pods, creates N pods concurrently through the client library
and prints the create→Running latency (from just before each create call to
the watch event showing phase Running, as Kubernetes' pod startup SLI does
for pods without image pulls) p50/p99/max, plus the kubelet's CPU seconds
and memory (RSS now and peak) over the run. Kubernetes' SLO: p99 <= 5 s;
this runtime's target: p99 <= 1 s.

    python bench/pod_startup.py [--pods 100] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pybernetes.client import Client

_CLK = os.sysconf("SC_CLK_TCK")


def start(argv: list[str], what: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "pybernetes.cli.main", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"{what} did not start: {line!r}")
    return proc, line.split("listening on", 1)[1].strip()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB."""
    vals = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            k, v = line.split(":")
            vals[k] = int(v.split()[0])
    return vals["VmRSS"], vals["VmHWM"]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def pod(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"bench-{i}", "namespace": "default"},
            "spec": {"nodeName": "bench-node", "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=100)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="pyb-bench-startup-")
    api, url = start(["apiserver", "--data-dir", f"{tmp}/api", "--port", "0"], "apiserver")
    kubeconfig = Path(tmp) / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "b",
        "clusters": [{"name": "b", "cluster": {"server": url}}], "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "b", "context": {"cluster": "b", "user": "u"}}]}))
    root = Path(tmp) / "kubelet"
    kubelet, _ = start(["kubelet", "--kubeconfig", str(kubeconfig), "--node-name", "bench-node", "--root-dir",
                        str(root), "--port", "0", "--token", "bench", "--max-pods", str(args.pods + 10)], "kubelet")
    client = Client.from_kubeconfig(str(kubeconfig))
    try:
        sent: dict[str, float] = {}
        running: dict[str, float] = {}
        all_running = asyncio.Event()

        async def watch() -> None:
            async for ev in client.pods("default").watch():
                obj = ev.object
                name = obj["metadata"]["name"]
                if (obj.get("status") or {}).get("phase") == "Running" and name not in running:
                    running[name] = time.perf_counter()
                    if len(running) == args.pods:
                        all_running.set()

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.5)
        cpu0, t0 = cpu_seconds(kubelet.pid), time.perf_counter()
        sem = asyncio.Semaphore(args.concurrency)

        async def create(i: int) -> None:
            async with sem:
                sent[f"bench-{i}"] = time.perf_counter()
                await client.pods("default").create(pod(i))

        await asyncio.gather(*(create(i) for i in range(args.pods)))
        created = time.perf_counter() - t0
        await asyncio.wait_for(all_running.wait(), timeout=120)
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(kubelet.pid) - cpu0
        rss, hwm = memory(kubelet.pid)
        lat = [running[n] - sent[n] for n in sent]
        watcher.cancel()
        print(f"pods: {args.pods} on one node (process runtime), created in {created:.2f}s, all Running after {wall:.2f}s")
        print(f"create->Running: p50 {pct(lat, 50) * 1000:.0f} ms, p99 {pct(lat, 99) * 1000:.0f} ms, "
              f"max {max(lat) * 1000:.0f} ms  (target p99 <= 1000 ms; Kubernetes SLO 5 s)")
        print(f"kubelet: {cpu:.2f} CPU seconds for the burst, RSS {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f} MiB)")
        t1 = time.perf_counter()
        await client.pods("default").delete_collection()
        while (await client.pods("default").list())["items"]:
            await asyncio.sleep(0.2)
        print(f"deleting all {args.pods} (graceful, confirmed by the kubelet): {time.perf_counter() - t1:.2f}s")
    finally:
        await client.close()
        for proc in (kubelet, api):
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
            if proc.poll() is None:
                proc.kill()
        # Containers outlive a stopped kubelet by design: stop what is left, by pid.
        for state in root.glob("containers/*/*/state.json"):
            with contextlib.suppress(OSError, ValueError):
                s = json.loads(state.read_text())
                if s.get("exit_code") is None and s.get("shim_pid"):
                    os.killpg(s["shim_pid"], signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
