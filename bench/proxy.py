"""Service proxy benchmark: the same loads direct to an endpoint and through
`pyb proxy` (a NodePort on 127.0.0.1), in one run, so the ratio is the figure.

Processes: an apiserver, `pyb proxy`, one backend (this file with
``--backend``), and this process as the client. Prints, for direct and via
the proxy:

- bulk MB/s: ``--streams`` connections each downloading ``--bulk-mb`` MiB;
- new connections/s: ``--workers`` clients each looping connect → 1 request →
  response → close, for ``--seconds``;
- request latency p50/p99 on one kept-alive connection (ping-pong), and for a
  new connection per request; the proxy's added latency is the difference.

    python bench/proxy.py
    python bench/proxy.py --bulk-mb 512 --streams 2 --workers 64 --seconds 10
    python bench/proxy.py --tcp-data-path asyncio   # the fallback data path

The proxy's TCP data path (splice in the kernel, or asyncio transports) is
printed with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHUNK = b"\0" * (256 * 1024)


# -- backend (runs in its own process) ----------------------------------------------
async def _backend_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            if line.startswith(b"B "):  # bulk: send n bytes, then close
                left = int(line[2:])
                while left > 0:
                    n = min(left, len(CHUNK))
                    writer.write(CHUNK[:n] if n < len(CHUNK) else CHUNK)
                    left -= n
                    await writer.drain()
                break
            if line == b"P\n":  # ping-pong on a kept connection
                writer.write(b"p\n")
            elif line == b"C\n":  # one answer, then close
                writer.write(b"ok\n")
                break
    except ConnectionError:
        pass
    finally:
        writer.close()


async def run_backend(port: int) -> None:
    server = await asyncio.start_server(_backend_conn, "127.0.0.1", port, backlog=4096)
    print(f"backend listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


# -- client loads ------------------------------------------------------------------------
class _Sink(asyncio.Protocol):
    def __init__(self, done: asyncio.Future):
        self.n = 0
        self.done = done

    def data_received(self, data: bytes) -> None:
        self.n += len(data)

    def eof_received(self):
        return False

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(self.n)


async def bulk(port: int, *, streams: int, mb: int) -> float:
    loop = asyncio.get_running_loop()

    async def one() -> int:
        done = loop.create_future()
        t, _ = await loop.create_connection(lambda: _Sink(done), "127.0.0.1", port)
        t.write(b"B %d\n" % (mb << 20))
        return await done

    t0 = time.perf_counter()
    got = await asyncio.gather(*(one() for _ in range(streams)))
    elapsed = time.perf_counter() - t0
    assert all(g == mb << 20 for g in got), got
    return sum(got) / elapsed / 1e6


async def connection_rate(port: int, *, workers: int, seconds: float) -> tuple[float, int]:
    count = errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count, errors
        while time.perf_counter() < deadline:
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                w.write(b"C\n")
                if await r.read() != b"ok\n":
                    errors += 1
                else:
                    count += 1
                w.close()
            except OSError:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return count / (time.perf_counter() - t0), errors


async def ping_latency(port: int, *, n: int) -> list[float]:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        w.write(b"P\n")
        await r.readline()
        out.append(time.perf_counter() - t0)
    w.close()
    return out


async def connect_latency(port: int, *, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"C\n")
        await r.read()
        out.append(time.perf_counter() - t0)
        w.close()
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1e3  # ms


# -- orchestration ---------------------------------------------------------------------------
def _start(cmd: list[str], marker: str, log: Path) -> tuple[subprocess.Popen, str]:
    """Start a process and wait for its first stdout line (which must hold ``marker``)."""
    with open(log, "ab") as f:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=f, cwd=ROOT)
    line = proc.stdout.readline().decode()
    if marker not in line:
        proc.kill()
        raise RuntimeError(f"{cmd} did not start: {line!r}; see {log}")
    return proc, line.strip()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _setup(kubeconfig: Path, backend_port: int) -> int:
    from pybernetes.client import Client

    client = Client.from_kubeconfig(str(kubeconfig))
    try:
        ns = "bench"
        await client.namespaces().create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        svc = await client.services(ns).create({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "bench"},
            "spec": {"type": "NodePort", "ports": [{"port": 8000 + random.randint(0, 999),
                                                    "targetPort": backend_port}]}})
        await client.endpoint_slices(ns).create({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "bench-1", "labels": {"kubernetes.io/service-name": "bench"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
            "ports": [{"name": "", "port": backend_port, "protocol": "TCP"}]})
        return svc["spec"]["ports"][0]["nodePort"]
    finally:
        await client.close()


async def _wait_answering(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"C\n")
            if await r.read() == b"ok\n":
                w.close()
                return
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("the proxy never answered")


async def measure(args, direct: int, proxied: int) -> None:
    """Each load runs direct and via the proxy back to back, ``--repeat``
    times; the figure is the median of the per-pair values (machines shared
    with other work drift by tens of percent between runs)."""
    await _wait_answering(proxied)
    await bulk(direct, streams=1, mb=16)  # warm-up both paths
    await bulk(proxied, streams=1, mb=16)
    runs: dict[str, dict[str, list[float]]] = {"direct": {}, "proxy": {}}

    def add(name: str, key: str, value: float) -> None:
        runs[name].setdefault(key, []).append(value)

    for _ in range(args.repeat):
        for name, port in (("direct", direct), ("proxy", proxied)):
            add(name, "MB/s", await bulk(port, streams=args.streams, mb=args.bulk_mb))
        for name, port in (("direct", direct), ("proxy", proxied)):
            rate, errs = await connection_rate(port, workers=args.workers, seconds=args.seconds)
            add(name, "conn/s", rate)
            add(name, "conn errors", errs)
    for name, port in (("direct", direct), ("proxy", proxied)):
        lat = await ping_latency(port, n=args.pings)
        add(name, "ping p50 ms", pct(lat, 50))
        add(name, "ping p99 ms", pct(lat, 99))
        lat = await connect_latency(port, n=args.connects)
        add(name, "conn+req p50 ms", pct(lat, 50))
        add(name, "conn+req p99 ms", pct(lat, 99))
    d = {k: statistics.median(v) for k, v in runs["direct"].items()}
    p = {k: statistics.median(v) for k, v in runs["proxy"].items()}
    d["conn errors"], p["conn errors"] = sum(runs["direct"]["conn errors"]), sum(runs["proxy"]["conn errors"])
    ratios = {k: statistics.median(pv / dv for pv, dv in zip(runs["proxy"][k], runs["direct"][k], strict=True))
              for k in ("MB/s", "conn/s")}
    print(f"{'':18}{'direct':>12}{'via proxy':>12}{'ratio':>9}")
    for k in d:
        ratio = f"{ratios.get(k, p[k] / d[k] if d[k] else 0):.2f}" if "errors" not in k else ""
        print(f"{k:18}{d[k]:12.2f}{p[k]:12.2f}{ratio:>9}")
    print(f"added latency: kept-alive request p50 +{p['ping p50 ms'] - d['ping p50 ms']:.3f} ms, "
          f"p99 +{p['ping p99 ms'] - d['ping p99 ms']:.3f} ms; new connection + request p50 "
          f"+{p['conn+req p50 ms'] - d['conn+req p50 ms']:.3f} ms, "
          f"p99 +{p['conn+req p99 ms'] - d['conn+req p99 ms']:.3f} ms")
    print(f"targets: bulk MB/s ratio {ratios['MB/s']:.2f} (>= 0.5), "
          f"new connections/s ratio {ratios['conn/s']:.2f} (>= 0.3)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--bulk-mb", type=int, default=256, help="MiB per bulk stream")
    ap.add_argument("--streams", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="direct/proxy pairs per load (median)")
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--pings", type=int, default=5000)
    ap.add_argument("--connects", type=int, default=1000)
    ap.add_argument("--tcp-data-path", choices=("auto", "splice", "asyncio"), default="auto",
                    help="the proxy's --tcp-data-path")
    args = ap.parse_args()
    if args.backend is not None:
        asyncio.run(run_backend(args.backend))
        return

    from tests.conftest import APIServerProcess

    cidr = f"10.{random.randint(200, 249)}.{random.randint(0, 255)}.0/24"
    with tempfile.TemporaryDirectory(prefix="pyb-proxy-bench-") as tmp:
        d = Path(tmp)
        api = APIServerProcess(d / "api", ("--service-cluster-ip-range", cidr)).start()
        procs: list[subprocess.Popen] = []
        try:
            backend, line = _start([sys.executable, __file__, "--backend", "0"], "backend listening",
                                   d / "backend.log")
            procs.append(backend)
            backend_port = int(line.rsplit(" ", 1)[1])
            node_port = asyncio.run(_setup(api.kubeconfig, backend_port))
            proxy, line = _start([sys.executable, "-m", "pybernetes.cli.main", "proxy", "--kubeconfig",
                                  str(api.kubeconfig), "--service-cluster-ip-range", cidr,
                                  "--tcp-data-path", args.tcp_data_path],
                                 "proxy started", d / "proxy.log")
            procs.append(proxy)
            path = line.partition("TCP data path: ")[2].rstrip(")") or "asyncio (not reported)"
            print(f"backend 127.0.0.1:{backend_port}, proxy NodePort 127.0.0.1:{node_port}, "
                  f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, proxy TCP data path: {path}")
            asyncio.run(measure(args, backend_port, node_port))
        finally:
            for p in reversed(procs):
                _stop(p)
            api.stop()


if __name__ == "__main__":
    main()
