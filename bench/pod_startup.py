"""Pod startup benchmark: N pods created at once on one node, create→Running.

Starts a real `pyb apiserver` and a real `pyb kubelet --runtime R` (their own
processes, temp dirs), watches pods, creates N pods concurrently through the
client library and prints the create→Running latency (from just before each
create call to the watch event showing phase Running, as Kubernetes' pod
startup SLI does for pods without image pulls) p50/p99/max, the kubelet's CPU
seconds over the burst (its own, and with its helper processes and what its
runtime did for the containers before they ran their command), and its RSS
(now and peak).

- ``--runtime process`` (default, 100 pods): each container is a host process.
  Target p99 <= 1 s.
- ``--runtime docker`` (default 50 pods): Podman's Docker API (`podman system
  service` on a socket in a temp dir, or ``--endpoint``); the engine's floor,
  `podman run -d` of the same image and command, is timed in the same run
  (a pod is two containers: infra + app). Needs root and Podman
  (scripts/install-podman). Target p99 <= 3 s.

Kubernetes' SLO: p99 <= 5 s. Everything started is stopped by pid at the end,
and every container removed.

    python bench/pod_startup.py [--runtime process|docker] [--pods N] [--concurrency N] [--endpoint URL]
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
from dataclasses import dataclass
from pathlib import Path

from pybernetes.client import Client

ROOT = Path(__file__).resolve().parent.parent
DOCKER_IMAGE = "busybox:latest"
_CLK = os.sysconf("SC_CLK_TCK")
TARGETS = {"process": 1000, "docker": 3000}  # p99, ms


def start(argv: list[str], what: str, *, log: Path) -> tuple[subprocess.Popen, str]:
    """A `pyb` component as its own process; returns it and what it listens on."""
    with open(log, "ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "pybernetes.cli.main", *argv], stdout=subprocess.PIPE,
                                stderr=err, cwd=ROOT)
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"{what} did not start: {line!r}\n{log.read_text()[-3000:]}")
    return proc, line.split("listening on", 1)[1].strip()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


# -- measuring ---------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads)."""
    f = _stat(pid)
    return (int(f[11]) + int(f[12])) / _CLK if f else 0.0


def tree_cpu_seconds(pid: int) -> float:
    """CPU of the process and all its live descendants, plus what their reaped
    children used (a container's process keeps the CPU its setup used before
    it exec'd its command)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (f := _stat(int(entry))) is not None:
            stats[int(entry)] = f
            children.setdefault(int(f[1]), []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            total += sum(int(x) for x in stats[p][11:15])
        todo.extend(children.get(p, ()))
    return total / _CLK


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


def ms(xs: list[float]) -> str:
    return f"p50 {pct(xs, 50) * 1000:.0f} ms, p99 {pct(xs, 99) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms"


@dataclass(frozen=True)
class Burst:
    latencies: list[float]
    created: float  # seconds until the last create call returned
    wall: float  # seconds until the last pod ran
    kubelet_cpu: float
    kubelet_tree_cpu: float


async def timed_burst(client, *, pods: list[dict], concurrency: int, kubelet_pid: int, timeout: float) -> Burst:
    """Create ``pods`` at once (``concurrency`` calls in flight) and time each
    from just before its create call to the watch event showing it Running."""
    sent: dict[str, float] = {}
    running: dict[str, float] = {}
    all_running = asyncio.Event()

    async def watch() -> None:
        async for ev in client.pods("default").watch():
            obj = ev.object
            name = obj["metadata"]["name"]
            if (obj.get("status") or {}).get("phase") == "Running" and name not in running:
                running[name] = time.perf_counter()
                if len(running) == len(pods):
                    all_running.set()

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)
    sem = asyncio.Semaphore(concurrency)
    cpu0, tree0 = cpu_seconds(kubelet_pid), tree_cpu_seconds(kubelet_pid)

    async def create(p: dict) -> None:
        async with sem:
            sent[p["metadata"]["name"]] = time.perf_counter()
            await client.pods("default").create(p)

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(create(p) for p in pods))
        created = time.perf_counter() - t0
        await asyncio.wait_for(all_running.wait(), timeout=timeout)
        wall = time.perf_counter() - t0
        cpu, tree = cpu_seconds(kubelet_pid) - cpu0, tree_cpu_seconds(kubelet_pid) - tree0
    finally:
        watcher.cancel()
    return Burst(latencies=[running[n] - sent[n] for n in sent], created=created, wall=wall, kubelet_cpu=cpu,
                 kubelet_tree_cpu=tree)


def pod(i: int, *, image: str) -> dict:
    c = {"name": "c", "image": image, "command": ["sleep", "3600"]}
    if image == DOCKER_IMAGE:
        c["imagePullPolicy"] = "IfNotPresent"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"bench-{i}", "namespace": "default"},
            "spec": {"nodeName": "bench-node", "terminationGracePeriodSeconds": 1, "containers": [c]}}


# -- the docker runtime's engine -------------------------------------------------------
def start_podman_service(tmp: Path) -> tuple[subprocess.Popen, str]:
    sock = tmp / "podman.sock"
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while not sock.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("podman system service did not start")
        time.sleep(0.1)
    return proc, f"unix://{sock}"


async def podman_runs(n: int, concurrency: int, label: str, *, prefix: str) -> list[float]:
    """Latency of `podman run -d` (create + start, detached) of the same image and command."""
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []

    async def one(i: int) -> None:
        async with sem:
            t = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                "podman", "run", "-d", "--label", label, "--name", f"{prefix}-{os.getpid()}-{i}", DOCKER_IMAGE,
                "sleep", "3600", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"podman run failed: {err.decode()[-500:]}")
            lat.append(time.perf_counter() - t)

    await asyncio.gather(*(one(i) for i in range(n)))
    return lat


def remove_labelled(label: str) -> None:
    """Remove the containers with ``label``: app containers before the infra
    containers they join (Podman refuses to remove a container others use)."""
    for extra in (["--filter", "label=io.kubernetes.docker.type=container"], []):
        ids = subprocess.run(["podman", "ps", "-aq", "--filter", f"label={label}", *extra], capture_output=True,
                             text=True).stdout.split()
        if ids:
            subprocess.run(["podman", "rm", "-f", "-t", "0", *ids], capture_output=True)


def kill_process_containers(root: Path) -> None:
    """Process-runtime containers outlive a stopped kubelet by design: stop what is left, by pid."""
    for state in root.glob("containers/*/*/state.json"):
        with contextlib.suppress(OSError, ValueError):
            s = json.loads(state.read_text())
            if s.get("exit_code") is None and s.get("shim_pid"):
                os.killpg(s["shim_pid"], signal.SIGKILL)


# -- the run ---------------------------------------------------------------------------
async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtime", choices=["process", "docker"], default="process")
    ap.add_argument("--pods", type=int, default=None, help="default: 100 (process), 50 (docker)")
    ap.add_argument("--concurrency", type=int, default=None, help="create calls in flight (default: all)")
    ap.add_argument("--endpoint", default=None, help="docker: Docker API endpoint (default: a podman service "
                                                      "started here)")
    ap.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the components' logs")
    args = ap.parse_args()
    n = args.pods or (100 if args.runtime == "process" else 50)
    concurrency = args.concurrency or n
    docker = args.runtime == "docker"
    tmp = Path(tempfile.mkdtemp(prefix=f"pyb-bench-startup-{args.runtime}-"))
    root = tmp / "kubelet"
    procs: list[subprocess.Popen] = []
    service = None
    client = None
    label = f"io.pybernetes.bench={os.getpid()}"
    try:
        flags = ["--runtime", args.runtime]
        if docker:
            endpoint = args.endpoint
            if endpoint is None:
                service, endpoint = start_podman_service(tmp)
            import docker as docker_sdk

            from pybernetes.kubelet.runtime.docker_images import ensure_local_images
            dc = docker_sdk.DockerClient(base_url=endpoint, version="1.41")
            ensure_local_images(dc)
            dc.close()
            flags += ["--docker-endpoint", endpoint]
        api, url = start(["apiserver", "--insecure-http", "--data-dir", str(tmp / "api"), "--port", "0"],
                         "apiserver", log=tmp / "apiserver.log")
        procs.append(api)
        kubeconfig = tmp / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "b",
            "clusters": [{"name": "b", "cluster": {"server": url}}], "users": [{"name": "u", "user": {}}],
            "contexts": [{"name": "b", "context": {"cluster": "b", "user": "u"}}]}))
        kubelet, _ = start(["kubelet", "--kubeconfig", str(kubeconfig), "--node-name", "bench-node", "--root-dir",
                            str(root), "--port", "0", "--token", "bench", "--max-pods", str(n + 10), *flags],
                           "kubelet", log=tmp / "kubelet.log")
        procs.append(kubelet)
        client = Client.from_kubeconfig(str(kubeconfig))
        image = DOCKER_IMAGE if docker else "busybox"
        burst = await timed_burst(client, pods=[pod(i, image=image) for i in range(n)], concurrency=concurrency,
                                  kubelet_pid=kubelet.pid, timeout=300 if docker else 120)
        rss, hwm = memory(kubelet.pid)
        engine = "docker runtime on Podman" if docker else "process runtime"
        print(f"pods: {n} on one node ({engine}), created in {burst.created:.2f}s, "
              f"all Running after {burst.wall:.2f}s", flush=True)
        print(f"create->Running: {ms(burst.latencies)}  (target p99 <= {TARGETS[args.runtime]} ms; "
              "Kubernetes SLO 5 s)", flush=True)
        print(f"kubelet: {burst.kubelet_cpu:.2f} CPU seconds for the burst ({burst.kubelet_tree_cpu:.2f} with its "
              f"helpers and container setup), RSS {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f} MiB)", flush=True)
        if docker:
            t1 = time.perf_counter()
            floor = await podman_runs(n, concurrency, label, prefix="pyb-bench-floor")
            floor_wall = time.perf_counter() - t1
            single = await podman_runs(1, 1, label, prefix="pyb-bench-single")
            print(f"podman run -d x{n} (concurrency {concurrency}, one container each): {ms(floor)}, "
                  f"all after {floor_wall:.2f}s; a single podman run -d: {single[0] * 1000:.0f} ms", flush=True)
            remove_labelled(label)
        t2 = time.perf_counter()
        await client.pods("default").delete_collection()
        while (await client.pods("default").list())["items"]:
            await asyncio.sleep(0.2)
        print(f"deleting all {n} (graceful, confirmed by the kubelet): {time.perf_counter() - t2:.2f}s")
    finally:
        if client is not None:
            await client.close()
        for proc in reversed(procs):
            stop(proc)
        if docker:
            remove_labelled(label)
            if root.exists():
                from pybernetes.kubelet.runtime.docker_config import LABEL_ROOT, root_label
                remove_labelled(f"{LABEL_ROOT}={root_label(str(root.resolve()))}")
        else:
            kill_process_containers(root)
        if service is not None:
            stop(service)
        if args.keep_logs:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
