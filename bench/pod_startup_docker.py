"""Pod startup benchmark on the `docker` runtime (Podman's Docker API):
50 pods created at once on one node, create→Running p50/p99, beside
`podman run -d` of the same image and command timed in the same run (the
engine's own floor for a container; a pod is two: infra + app).

Starts `podman system service` on a socket in a temp dir (or uses
``--endpoint``), a real `pyb apiserver` and a kubelet on the docker runtime
(`pyb kubelet --runtime docker`, or tests/e2e/docker/kubelet_docker.py
where the kubelet does not offer it yet), all as their own processes, stopped by pid at the end, with every
container they made removed. Run as root with Podman installed
(scripts/install-podman). Target: p99 <= 3 s; Kubernetes' SLO: 5 s.

    python bench/pod_startup_docker.py [--pods 50] [--concurrency 50] [--endpoint unix:///...]
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

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "busybox:latest"


def start(argv: list[str], what: str, *, module: str = "pybernetes.cli.main",
          log: Path | None = None) -> tuple[subprocess.Popen, str]:
    err = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen([sys.executable, "-m", module, *argv], stdout=subprocess.PIPE, stderr=err, cwd=ROOT)
    if log:
        err.close()
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"{what} did not start: {line!r}" + (f"\n{log.read_text()[-3000:]}" if log else ""))
    return proc, line.split("listening on", 1)[1].strip()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def pod(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"bench-{i}", "namespace": "default"},
            "spec": {"nodeName": "bench-node", "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "3600"]}]}}


def kubelet_has_docker_runtime() -> bool:
    """Whether `pyb kubelet` itself offers ``--runtime docker``."""
    from pybernetes.kubelet.run import add_kubelet_args

    p = argparse.ArgumentParser()
    add_kubelet_args(p)
    action = next((a for a in p._actions if "--runtime" in a.option_strings), None)
    return bool(action and action.choices and "docker" in action.choices)


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
                "podman", "run", "-d", "--label", label, "--name", f"{prefix}-{os.getpid()}-{i}", IMAGE,
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


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--endpoint", default=None, help="Docker API endpoint (default: a podman service started here)")
    ap.add_argument("--keep-logs", action="store_true")
    ap.add_argument("--kubelet-log-level", default="INFO", help="(the suite's launcher only)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pyb-bench-docker-"))
    service = None
    endpoint = args.endpoint
    if endpoint is None:
        service, endpoint = start_podman_service(tmp)
    procs: list[subprocess.Popen] = []
    root = tmp / "kubelet"
    client = None
    try:
        import docker

        from pybernetes.kubelet.runtime.docker_images import ensure_local_images
        dc = docker.DockerClient(base_url=endpoint, version="1.41")
        ensure_local_images(dc)
        dc.close()
        api, url = start(["apiserver", "--insecure-http", "--data-dir", str(tmp / "api"), "--port", "0"], "apiserver")
        procs.append(api)
        kubeconfig = tmp / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "b",
            "clusters": [{"name": "b", "cluster": {"server": url}}], "users": [{"name": "u", "user": {}}],
            "contexts": [{"name": "b", "context": {"cluster": "b", "user": "u"}}]}))
        flags = ["--kubeconfig", str(kubeconfig), "--node-name", "bench-node", "--root-dir", str(root), "--port", "0",
                 "--token", "bench", "--max-pods", str(args.pods + 10), "--docker-endpoint", endpoint]
        if kubelet_has_docker_runtime():
            kubelet, _ = start(["kubelet", "--runtime", "docker", *flags], "kubelet", log=tmp / "kubelet.log")
        else:
            kubelet, _ = start([*flags, "--log-level", args.kubelet_log_level], "kubelet",
                               module="tests.e2e.docker.kubelet_docker", log=tmp / "kubelet.log")
        procs.append(kubelet)
        client = Client.from_kubeconfig(str(kubeconfig))
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
        sem = asyncio.Semaphore(args.concurrency)
        t0 = time.perf_counter()

        async def create(i: int) -> None:
            async with sem:
                sent[f"bench-{i}"] = time.perf_counter()
                await client.pods("default").create(pod(i))

        await asyncio.gather(*(create(i) for i in range(args.pods)))
        created = time.perf_counter() - t0
        await asyncio.wait_for(all_running.wait(), timeout=300)
        wall = time.perf_counter() - t0
        watcher.cancel()
        lat = [running[n] - sent[n] for n in sent]
        print(f"pods: {args.pods} on one node (docker runtime on Podman), created in {created:.2f}s, "
              f"all Running after {wall:.2f}s", flush=True)
        print(f"create->Running: p50 {pct(lat, 50) * 1000:.0f} ms, p99 {pct(lat, 99) * 1000:.0f} ms, "
              f"max {max(lat) * 1000:.0f} ms  (target p99 <= 3000 ms; Kubernetes SLO 5 s)", flush=True)
        label = f"io.pybernetes.bench={os.getpid()}"
        t1 = time.perf_counter()
        floor = await podman_runs(args.pods, args.concurrency, label, prefix="pyb-bench-floor")
        floor_wall = time.perf_counter() - t1
        single = await podman_runs(1, 1, label, prefix="pyb-bench-single")
        print(f"podman run -d x{args.pods} (concurrency {args.concurrency}, one container each): "
              f"p50 {pct(floor, 50) * 1000:.0f} ms, p99 {pct(floor, 99) * 1000:.0f} ms, all after {floor_wall:.2f}s; "
              f"a single podman run -d: {single[0] * 1000:.0f} ms", flush=True)
        remove_labelled(label)
        t2 = time.perf_counter()
        await client.pods("default").delete_collection()
        while (await client.pods("default").list())["items"]:
            await asyncio.sleep(0.2)
        print(f"deleting all {args.pods} (graceful, confirmed by the kubelet): {time.perf_counter() - t2:.2f}s")
    finally:
        if client is not None:
            await client.close()
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
            if proc.poll() is None:
                proc.kill()
        remove_labelled(f"io.pybernetes.bench={os.getpid()}")
        if root.exists():
            from pybernetes.kubelet.runtime.docker_config import LABEL_ROOT, root_label
            remove_labelled(f"{LABEL_ROOT}={root_label(str(root.resolve()))}")
        if service is not None:
            service.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.wait(15)
        if args.keep_logs:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
