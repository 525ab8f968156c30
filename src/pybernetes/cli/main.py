"""`pyb`: the pybernetes command (components and client verbs)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

__all__ = ["main"]


def _apiserver_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=os.path.expanduser("~/.pybernetes"))
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6443, help="0 picks a free port (printed on start)")
    p.add_argument("--storage", default="sqlite", choices=["sqlite", "etcd"])
    p.add_argument("--service-cluster-ip-range", default="10.0.0.0/24")
    p.add_argument("--service-node-port-range", default="30000-32767")
    p.add_argument("--compaction-interval", type=float, default=300.0, help="seconds")
    p.add_argument("--compaction-keep-revisions", type=int, default=1000,
                   help="revisions of history kept for watches to resume from")


def _cmd_apiserver(args: argparse.Namespace) -> int:
    from ..apiserver.app import APIServerConfig
    from ..apiserver.registry import RegistryConfig
    from ..apiserver.server import ServeOptions, run_apiserver

    lo, _, hi = args.service_node_port_range.partition("-")
    config = APIServerConfig(registry=RegistryConfig(
        service_cluster_ip_range=args.service_cluster_ip_range,
        service_node_port_range=(int(lo), int(hi or lo))))
    opts = ServeOptions(data_dir=args.data_dir, address=args.address, port=args.port,
                        storage=args.storage, compaction_interval=args.compaction_interval,
                        compaction_keep=args.compaction_keep_revisions, config=config)
    asyncio.run(run_apiserver(opts))
    return 0


def _cmd_controller_manager(args: argparse.Namespace) -> int:
    from ..client import Client
    from ..controllers.manager import (
        ALL_CONTROLLERS,
        ControllerManager,
        ControllerManagerConfig,
        LeadershipLost,
    )
    from ..controllers.node_lifecycle import NodeLifecycleConfig
    from ..controllers.pod_gc import PodGCConfig

    wanted = ALL_CONTROLLERS if args.controllers in ("*", "") else tuple(
        c.strip() for c in args.controllers.split(",") if c.strip())
    config = ControllerManagerConfig(
        controllers=wanted, leader_elect=args.leader_elect,
        lease_duration=args.leader_elect_lease_duration, renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
        node=NodeLifecycleConfig(grace_period=args.node_monitor_grace_period,
                                 pod_eviction_timeout=args.pod_eviction_timeout,
                                 monitor_period=args.node_monitor_period),
        pod_gc=PodGCConfig(terminated_pod_gc_threshold=args.terminated_pod_gc_threshold,
                           period=args.pod_gc_period),
        workers=args.concurrent_syncs)

    async def run() -> int:
        client = Client.from_kubeconfig(args.kubeconfig)
        try:
            print(f"controller-manager started ({config.identity})", flush=True)
            await ControllerManager(client, config).run()
        except LeadershipLost as e:
            logging.getLogger("pyb").error("leaderelection lost: %s", e)
            return 1
        finally:
            await client.close()
        return 0
    return asyncio.run(run())


def _controller_manager_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--controllers", default="*", help="comma-separated controllers, * for all")
    p.add_argument("--leader-elect", default=True, action=argparse.BooleanOptionalAction)
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=float, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=float, default=2.0)
    p.add_argument("--node-monitor-grace-period", type=float, default=40.0, help="seconds")
    p.add_argument("--node-monitor-period", type=float, default=5.0, help="seconds")
    p.add_argument("--pod-eviction-timeout", type=float, default=300.0, help="seconds")
    p.add_argument("--terminated-pod-gc-threshold", type=int, default=12500)
    p.add_argument("--pod-gc-period", type=float, default=20.0, help="seconds")
    p.add_argument("--concurrent-syncs", type=int, default=5, help="workers per controller")


def _cmd_scheduler(args: argparse.Namespace) -> int:
    from ..scheduler.command import run_scheduler_command

    return run_scheduler_command(args)


def _cmd_kubelet(args: argparse.Namespace) -> int:
    from ..kubelet.run import config_from_args, run_kubelet

    asyncio.run(run_kubelet(config_from_args(args), args.kubeconfig))
    return 0


def _cmd_proxy(args: argparse.Namespace) -> int:
    from ..proxy.command import run_proxy_command

    return run_proxy_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyb", description="pybernetes: a small Kubernetes in Python")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("apiserver", help="run the API server alone")
    _apiserver_args(p)
    p.set_defaults(func=_cmd_apiserver)
    p = sub.add_parser("controller-manager", help="run the controller manager alone")
    _controller_manager_args(p)
    p.set_defaults(func=_cmd_controller_manager)
    p = sub.add_parser("scheduler", help="run the scheduler alone")
    from ..scheduler.command import add_scheduler_args
    add_scheduler_args(p)
    p.set_defaults(func=_cmd_scheduler)
    p = sub.add_parser("kubelet", help="run a kubelet (node agent)")
    from ..kubelet.run import add_kubelet_args
    add_kubelet_args(p)
    p.set_defaults(func=_cmd_kubelet)
    p = sub.add_parser("proxy", help="run the service proxy (clusterIP and nodePort listeners)")
    from ..proxy.command import add_proxy_args
    add_proxy_args(p)
    p.set_defaults(func=_cmd_proxy)
    p = sub.add_parser("up", help="start a local cluster")
    _apiserver_args(p)
    p.set_defaults(func=_cmd_apiserver)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
