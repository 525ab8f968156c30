"""Controller manager benchmark: an RC of 1,000 replicas on 50 hollow nodes.

The apiserver, the scheduler and the controller manager each run as their own
`pyb` process; this process runs the hollow nodes (Node objects kept Ready, a
stand-in kubelet marking bound pods Running+Ready and confirming deletions —
tests/integration/controllers/hollow.py). Prints:

- scale-up: RC created → status.readyReplicas == N (create, schedule, "start");
- delete:   RC deleted (Background) → no pod of it left (GC + kubelet confirmations).

    python bench/controllers.py                 # 1000 replicas, 50 nodes
    python bench/controllers.py --replicas 200 --nodes 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import APIServerProcess  # noqa: E402
from tests.integration.controllers.hollow import HollowCluster  # noqa: E402

from pybernetes.client import Client  # noqa: E402

NS = "bench"


def start(cmd: list[str], marker: str, log: Path) -> subprocess.Popen:
    with open(log, "ab") as f:
        proc = subprocess.Popen([sys.executable, "-m", "pybernetes.cli.main", *cmd], stdout=subprocess.PIPE,
                                stderr=f, cwd=ROOT)
    line = proc.stdout.readline().decode()
    if marker not in line:
        proc.kill()
        raise RuntimeError(f"{cmd[0]} did not start: {line!r}; see {log}")
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


async def bench(args, kubeconfig: Path) -> None:
    client = Client.from_kubeconfig(str(kubeconfig))
    nodes = [f"hollow-{i:03d}" for i in range(args.nodes)]
    await client.namespaces().create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    async with HollowCluster(client, nodes=nodes, heartbeat=5.0, bind=False, workers=32):
        rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "big"},
              "spec": {"replicas": args.replicas, "selector": {"app": "big"},
                       "template": {"metadata": {"labels": {"app": "big"}},
                                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
        t0 = time.perf_counter()
        await client.replication_controllers(NS).create(rc)
        while True:
            st = (await client.replication_controllers(NS).get("big")).get("status") or {}
            if st.get("readyReplicas", 0) == args.replicas:
                break
            await asyncio.sleep(0.2)
        up = time.perf_counter() - t0
        print(f"scale-up: {args.replicas} replicas ready on {args.nodes} hollow nodes in {up:.1f} s "
              f"({args.replicas / up:.0f} pods/s)")
        t0 = time.perf_counter()
        await client.replication_controllers(NS).delete("big", propagation_policy="Background")
        while True:
            items = (await client.pods(NS).list(label_selector="app=big"))["items"]
            if not items:
                break
            await asyncio.sleep(0.5)
        down = time.perf_counter() - t0
        print(f"delete:   RC deleted -> 0 pods in {down:.1f} s ({args.replicas / down:.0f} pods/s)")
    await client.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        api = APIServerProcess(d / "api").start()
        procs = []
        try:
            procs.append(start(["scheduler", "--kubeconfig", str(api.kubeconfig), "--leader-elect=false"],
                               "scheduler started", d / "scheduler.log"))
            procs.append(start(["controller-manager", "--kubeconfig", str(api.kubeconfig), "--no-leader-elect"],
                               "controller-manager started", d / "cm.log"))
            asyncio.run(bench(args, api.kubeconfig))
        finally:
            for p in procs:
                stop(p)
            api.stop()


if __name__ == "__main__":
    main()
