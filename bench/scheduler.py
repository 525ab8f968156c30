"""Scheduler benchmark, shaped like scheduler_perf's SchedulingBasic.

N hollow nodes (Node objects registered through the API, Ready, kept alive by
a simulated kubelet renewing their kube-node-lease Leases), 1,000 initial
pods, then M measured pods. Prints pods/s over the measured pods (first create
to last bound) and the p50/p99 of create -> bound (time the bench's own watch
saw ``spec.nodeName``).

The apiserver and the scheduler each run as their own `pyb` process (as in a
cluster); the bench process creates nodes and pods and watches.

    python bench/scheduler.py                       # quick: N=500, 1000 + 2000 pods
    python bench/scheduler.py --nodes 5000 --pods 10000
    python bench/scheduler.py --profile sched.prof   # cProfile the scheduler process
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

from pybernetes.client import AlreadyExists, Client
from pybernetes.gc_tuning import tune_gc

NS = "bench"
LEASE_NS = "kube-node-lease"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_body(name: str) -> dict:
    ts = now_iso()
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {"capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                       "allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "hollow kubelet is posting ready status",
                                       "lastHeartbeatTime": ts, "lastTransitionTime": ts}]}}


def pod_body(name: str) -> dict:
    res = {"cpu": "100m", "memory": "500Mi"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                     "ports": [{"containerPort": 80}],
                                     "resources": {"limits": dict(res), "requests": dict(res)}}]}}


def lease_body(node: str) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": node, "namespace": LEASE_NS},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": micro_now()}}


async def bounded(n: int, concurrency: int, op) -> None:
    it = iter(range(n))

    async def worker():
        for i in it:
            await op(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


class HollowKubelets:
    """Registers nodes Ready and renews one Lease per node every ``period`` seconds (spread evenly)."""

    def __init__(self, client: Client, names: list[str], period: float) -> None:
        self.client, self.names, self.period = client, names, period
        self.renewals = 0

    async def register(self, concurrency: int) -> None:
        for ns in (NS, LEASE_NS):
            try:
                await self.client.namespaces().create({"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": ns}})
            except AlreadyExists:
                pass

        async def one(i: int) -> None:
            name = self.names[i]
            created = await self.client.nodes().create(node_body(name))
            if not (created.get("status") or {}).get("conditions"):
                created["status"] = node_body(name)["status"]
                await self.client.nodes().update_status(created)
            await self.client.leases(LEASE_NS).create(lease_body(name))

        await bounded(len(self.names), concurrency, one)

    async def heartbeat(self, workers: int = 8) -> None:
        """Renew every lease once per period: ``workers`` pacers, each over its share of the nodes."""
        leases = self.client.leases(LEASE_NS)

        async def pacer(names: list[str]) -> None:
            interval = self.period / max(len(names), 1)
            next_at = time.monotonic()
            for i in range(10**12):
                name = names[i % len(names)]
                try:
                    await leases.update(lease_body(name))  # no resourceVersion: unconditional renew
                    self.renewals += 1
                except Exception as e:  # noqa: BLE001 - a missed beat is only a missed beat
                    print(f"heartbeat {name}: {e}", file=sys.stderr)
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -1.0:
                    next_at = time.monotonic()  # fell behind: no catch-up burst

        shares = [self.names[k::workers] for k in range(workers) if self.names[k::workers]]
        await asyncio.gather(*(pacer(share) for share in shares))


class BoundWatcher:
    """Watches the bench namespace; records when each pod was first seen with spec.nodeName."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.bound_at: dict[str, float] = {}
        self.bound_order: list[str] = []
        self.nodes_used: dict[str, int] = {}
        self.changed = asyncio.Event()

    async def run(self, resource_version: str) -> None:
        rv = resource_version
        while True:
            async for ev in self.client.pods(NS).watch(resource_version=rv, timeout_seconds=3600):
                obj = ev.object
                rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                node = (obj.get("spec") or {}).get("nodeName")
                name = obj["metadata"]["name"]
                if node and name not in self.bound_at:
                    self.bound_at[name] = time.perf_counter()
                    self.bound_order.append(name)
                    self.nodes_used[node] = self.nodes_used.get(node, 0) + 1
                    self.changed.set()

    async def wait_for(self, names: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        missing = {n for n in names if n not in self.bound_at}
        seen = len(self.bound_order)
        while True:
            # only the pods bound since the last look (a scan of every name per wake-up was 2% of the bench)
            missing.difference_update(self.bound_order[seen:])
            seen = len(self.bound_order)
            if not missing:
                return True
            if time.monotonic() > deadline:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
                pass


def start_apiserver(data_dir: str, profile: str | None = None) -> tuple[subprocess.Popen, str]:
    log = open(os.path.join(data_dir, "apiserver.log"), "wb")  # noqa: SIM115 - owned by the child
    prefix = [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else [])]
    proc = subprocess.Popen([*prefix, "-m", "pybernetes.cli.main", "apiserver", "--insecure-http", "--data-dir", data_dir,
                             "--port", "0"], stdout=subprocess.PIPE, stderr=log)
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        raise RuntimeError(f"apiserver did not start: {line!r}")
    return proc, line.split("listening on", 1)[1].strip()


def start_scheduler(kubeconfig: str, data_dir: str, profile: str | None,
                    percentage: int, extra: list[str]) -> subprocess.Popen:
    log = open(os.path.join(data_dir, "scheduler.log"), "wb")  # noqa: SIM115 - owned by the child
    prefix = [sys.executable]
    if profile:
        prefix += ["-m", "cProfile", "-o", profile]
    cmd = [*prefix, "-m", "pybernetes.cli.main", "scheduler", "--kubeconfig", kubeconfig,
           "--leader-elect=false", "--percentage-of-nodes-to-score", str(percentage), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process (Linux /proc), 0 if unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(int(len(values) * q), len(values) - 1)]


async def bench(url: str, kubeconfig: str, data_dir: str, args, api_pid: int) -> dict:
    client = Client.from_url(url)
    names = [f"hollow-node-{i}" for i in range(args.nodes)]
    kubelets = HollowKubelets(client, names, args.heartbeat_period)
    t0 = time.perf_counter()
    await kubelets.register(args.concurrency)
    print(f"registered {args.nodes} nodes in {time.perf_counter() - t0:.1f}s", flush=True)
    hb = asyncio.create_task(kubelets.heartbeat())
    sched = start_scheduler(kubeconfig, data_dir, args.profile, args.percentage_of_nodes_to_score,
                            args.scheduler_arg)
    watcher = BoundWatcher(client)
    rv = (await client.pods(NS).list(limit=1))["metadata"]["resourceVersion"]
    wt = asyncio.create_task(watcher.run(rv))
    try:
        # warm-up: the initial pods
        initial = [f"init-{i}" for i in range(args.initial_pods)]
        t0 = time.perf_counter()
        await bounded(len(initial), args.concurrency, lambda i: client.pods(NS).create(pod_body(initial[i])))
        if not await watcher.wait_for(initial, args.timeout):
            raise RuntimeError(f"initial pods not bound within {args.timeout}s; see {data_dir}/scheduler.log")
        print(f"{len(initial)} initial pods bound in {time.perf_counter() - t0:.1f}s", flush=True)

        # measured
        measured = [f"pod-{i}" for i in range(args.pods)]
        created_at: dict[str, float] = {}

        async def create(i: int) -> None:
            name = measured[i]
            created_at[name] = time.perf_counter()
            await client.pods(NS).create(pod_body(name))

        pids = {"apiserver": api_pid, "scheduler": sched.pid, "bench": os.getpid()}
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        renewals0 = kubelets.renewals
        if args.backlog:
            # the scheduler is paused (SIGSTOP) while the pods are created, then resumed: pods/s is
            # then the scheduler's own rate with the apiserver serving little but its bindings
            sched.send_signal(signal.SIGSTOP)
            await bounded(len(measured), args.concurrency, create)
            cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
            created_at = dict.fromkeys(measured, time.perf_counter())
            t_start = time.perf_counter()
            sched.send_signal(signal.SIGCONT)
            t_created = float("nan")
        else:
            t_start = time.perf_counter()
            await bounded(len(measured), args.concurrency, create)
            t_created = time.perf_counter()
        ok = await watcher.wait_for(measured, args.timeout)
        bound = [n for n in measured if n in watcher.bound_at]
        t_end = max(watcher.bound_at[n] for n in bound)
        lat = [watcher.bound_at[n] - created_at[n] for n in bound]
        cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
        events = (await client.events(NS).list(field_selector="reason=Scheduled"))["items"]
        return {
            "scheduled_events": len(events),
            "nodes": args.nodes, "measured_pods": len(measured), "bound": len(bound), "complete": ok,
            "pods_per_s": len(bound) / (t_end - t_start),
            "creates_per_s": len(measured) / (t_created - t_start) if t_created == t_created else 0.0,
            "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * pct(lat, 0.99),
            "nodes_used": len(watcher.nodes_used),
            "max_pods_per_node": max(watcher.nodes_used.values()),
            "lease_renewals": kubelets.renewals,
            "renewals_per_s": (kubelets.renewals - renewals0) / (t_end - t_start),
            "renewals_target_per_s": args.nodes / args.heartbeat_period,
            "cpu": {k: v / (t_end - t_start) for k, v in cpu.items()},  # cores used while measuring
            "cpu_ms_per_pod": {k: 1000 * v / len(bound) for k, v in cpu.items()},  # load-independent cost
        }
    finally:
        # SIGINT lets cProfile write its file
        stop(sched, signal.SIGINT if args.profile else signal.SIGTERM)
        for t in (hb, wt):
            t.cancel()
        await asyncio.gather(hb, wt, return_exceptions=True)
        await client.close()


def algorithm_only(args) -> None:
    """Decisions/s of the filter+score+assume path alone (no API), with a cProfile top list."""
    import cProfile
    import pstats

    from pybernetes.scheduler.algorithm import Algorithm
    from pybernetes.scheduler.cache import SchedulerCache
    from pybernetes.scheduler.pod_info import PodInfo
    from pybernetes.scheduler.profile import DEFAULT_PROFILE, Handle, build_plugins

    cache = SchedulerCache(vector=not args.no_numpy)
    for i in range(args.nodes):
        n = node_body(f"hollow-node-{i}")
        n["status"] = node_body("x")["status"]
        cache.add_node(n)
    alg = Algorithm(cache, build_plugins(DEFAULT_PROFILE, Handle(cache)),
                    percentage=args.percentage_of_nodes_to_score)
    pods = [pod_body(f"pod-{i}") for i in range(args.initial_pods + args.pods)]

    def run(batch):
        for p in batch:
            pi = PodInfo(p)
            cache.assume_pod(pi, alg.schedule(pi).node)

    run(pods[:args.initial_pods])
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.runcall(run, pods[args.initial_pods:])
    dt = time.perf_counter() - t0
    print(f"algorithm only, N={args.nodes}: {args.pods / dt:.0f} decisions/s "
          f"({1e6 * dt / args.pods:.0f} us each, under cProfile)")
    pstats.Stats(prof).sort_stats("tottime").print_stats(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--initial-pods", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=2000, help="measured pods (M)")
    ap.add_argument("--concurrency", type=int, default=32, help="creates in flight")
    ap.add_argument("--heartbeat-period", type=float, default=30.0,
                    help="seconds between renewals of one node's lease (kubelet: 10; must stay under the 40 s lease)")
    ap.add_argument("--percentage-of-nodes-to-score", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--profile", default=None, help="write a cProfile of the scheduler process here")
    ap.add_argument("--profile-apiserver", default=None, help="write a cProfile of the apiserver process here")
    ap.add_argument("--scheduler-arg", action="append", default=[],
                    help="extra `pyb scheduler` flag, e.g. --scheduler-arg=--events=false")
    ap.add_argument("--backlog", action="store_true",
                    help="create the measured pods while the scheduler is paused, then time it draining them")
    ap.add_argument("--keep-logs", default=None, help="copy the scheduler and apiserver logs to this directory")
    ap.add_argument("--algorithm-only", action="store_true", help="time decisions in-process, no API")
    ap.add_argument("--no-numpy", action="store_true", help="with --algorithm-only: per-node plugin hooks only")
    args = ap.parse_args()
    tune_gc()  # the bench is a long-running client too: tuned like the components it drives
    if args.algorithm_only:
        algorithm_only(args)
        return
    with tempfile.TemporaryDirectory(prefix="pyb-sched-bench-") as d:
        api, url = start_apiserver(d, args.profile_apiserver)
        kubeconfig = os.path.join(d, "kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write("apiVersion: v1\nkind: Config\n"
                    f"clusters:\n- name: local\n  cluster:\n    server: {url}\n"
                    "users:\n- name: admin\n  user: {}\n"
                    "contexts:\n- name: local\n  context:\n    cluster: local\n    user: admin\n"
                    "current-context: local\n")
        try:
            r = asyncio.run(bench(url, kubeconfig, d, args, api.pid))
        finally:
            stop(api)
            if args.keep_logs:
                import shutil

                os.makedirs(args.keep_logs, exist_ok=True)
                for f in ("scheduler.log", "apiserver.log"):
                    if os.path.exists(os.path.join(d, f)):
                        shutil.copy(os.path.join(d, f), args.keep_logs)
        mode = " (backlog: latency = time since resume)" if args.backlog else ""
        print(f"SchedulingBasic{mode} N={r['nodes']} M={r['measured_pods']}: {r['pods_per_s']:.0f} pods/s "
              f"(creates {r['creates_per_s']:.0f}/s), create->bound p50 {r['p50_ms']:.0f} ms, "
              f"p99 {r['p99_ms']:.0f} ms; {r['bound']}/{r['measured_pods']} bound on {r['nodes_used']} nodes "
              f"(max {r['max_pods_per_node']}/node); lease renewals {r['renewals_per_s']:.0f}/s "
              f"(target {r['renewals_target_per_s']:.0f}/s); "
              f"{r['scheduled_events']} Scheduled events")
        print("cores busy while measuring: " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items()))
        print("CPU ms per measured pod: " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_ms_per_pod"].items()))


if __name__ == "__main__":
    main()
