"""`pyb proxy`: flags (kube-proxy's names where they exist) and the process entry point."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from .config import ProxyConfig

__all__ = ["add_proxy_args", "config_from_args", "run_proxy_command"]


def add_proxy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None, help="kubeconfig for the apiserver ($KUBECONFIG if unset)")
    p.add_argument("--service-cluster-ip-range", default="10.0.0.0/24",
                   help="the apiserver's service range: the proxy adds (and cleans up) lo addresses only inside it")
    p.add_argument("--nodeport-addresses", default="127.0.0.1",
                   help="comma-separated IPs NodePorts listen on; 0.0.0.0 for every address")
    p.add_argument("--manage-loopback", default=None, action=argparse.BooleanOptionalAction,
                   help="add service IPs to lo (default: when root)")
    p.add_argument("--bind-cluster-ips", default=True, action=argparse.BooleanOptionalAction,
                   help="listen on cluster IPs (--no-bind-cluster-ips: NodePorts only)")
    p.add_argument("--udp-timeout", type=float, default=0.25, help="seconds an idle UDP session lives")
    p.add_argument("--namespace", default=None, help="only this namespace's services (default: all)")
    p.add_argument("--tcp-data-path", choices=("auto", "splice", "asyncio"), default="auto",
                   help="how established TCP connections move bytes: splice (in the kernel, Linux), "
                        "asyncio (transports); auto = splice where available")


def config_from_args(args: argparse.Namespace) -> ProxyConfig:
    return ProxyConfig(
        service_cluster_ip_range=args.service_cluster_ip_range,
        nodeport_addresses=tuple(a.strip() for a in args.nodeport_addresses.split(",") if a.strip()),
        manage_loopback=args.manage_loopback, bind_cluster_ips=args.bind_cluster_ips,
        udp_idle_timeout=args.udp_timeout, namespace=args.namespace,
        tcp_data_path=None if args.tcp_data_path == "auto" else args.tcp_data_path)


async def _run(args: argparse.Namespace) -> None:
    from ..client import Client
    from .service_proxy import ServiceProxy

    client = Client.from_kubeconfig(args.kubeconfig)
    proxy = ServiceProxy(client, config_from_args(args))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await proxy.start()
        print(f"proxy started (TCP data path: {proxy.tcp_data_path})", flush=True)
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await proxy.stop()
        await client.close()


def run_proxy_command(args: argparse.Namespace) -> int:
    asyncio.run(_run(args))
    return 0
