"""`pyb`: the pybernetes command (components and client verbs)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time

from ..gc_tuning import tune_gc
from .kubecfg import add_kubecfg_commands
from .up import add_down_args, add_up_args, cmd_down, cmd_up

__all__ = ["main", "build_parser"]


def _apiserver_args(p: argparse.ArgumentParser) -> None:
    from .storage_flags import add_storage_args

    p.add_argument("--data-dir", default=os.path.expanduser("~/.pybernetes"))
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6443, help="0 picks a free port (printed on start)")
    add_storage_args(p)
    p.add_argument("--service-cluster-ip-range", default="10.0.0.0/24")
    p.add_argument("--service-node-port-range", default="30000-32767")
    p.add_argument("--compaction-interval", type=float, default=300.0, help="seconds")
    p.add_argument("--compaction-keep-revisions", type=int, default=1000,
                   help="revisions of history kept for watches to resume from")
    sec = p.add_argument_group("security (default: HTTPS with a CA and tokens generated in --data-dir)")
    sec.add_argument("--tls-cert-file", default=None, help="serving certificate (PEM)")
    sec.add_argument("--tls-private-key-file", default=None, help="its private key (PEM)")
    sec.add_argument("--token-auth-file", default=None,
                     help="bearer tokens, CSV lines token,user,uid[,\"group1,group2\"]")
    sec.add_argument("--kubelet-client-token-file", default=None,
                     help="token the apiserver presents to kubelets (pods/log)")
    sec.add_argument("--kubelet-certificate-authority", default=None, help="CA that signed kubelet certificates")
    sec.add_argument("--insecure-http", action="store_true",
                     help="serve plain HTTP, unauthenticated unless --token-auth-file (tests only)")


def _cmd_apiserver(args: argparse.Namespace) -> int:
    from ..apiserver.app import APIServerConfig
    from ..apiserver.auth import load_token_file
    from ..apiserver.registry import RegistryConfig
    from ..apiserver.server import ServeOptions, StorageUnreachable, run_apiserver
    from ..pki import CertPair, server_ssl_context
    from .cluster_dir import ClusterDir
    from .storage_flags import etcd_options

    lo, _, hi = args.service_node_port_range.partition("-")
    etcd = etcd_options(args, command="pyb apiserver")
    d = ClusterDir.at(args.data_dir)
    ssl_context = authenticator = None
    kubelet_token = kubelet_ca = None
    generated = False
    if args.tls_cert_file or args.tls_private_key_file:
        if not (args.tls_cert_file and args.tls_private_key_file):
            raise SystemExit("pyb apiserver: --tls-cert-file and --tls-private-key-file go together")
        if args.insecure_http:
            raise SystemExit("pyb apiserver: --insecure-http contradicts --tls-cert-file")
        ssl_context = server_ssl_context(CertPair(args.tls_cert_file, args.tls_private_key_file))
    elif not args.insecure_http:
        # Secure by default: the data dir's CA, serving certificate and tokens.
        d.prepare(extra_hosts=(args.address,))
        ssl_context = server_ssl_context(CertPair(d.pki_dir / "apiserver.crt", d.pki_dir / "apiserver.key"))
        generated = True
    if args.token_auth_file:
        authenticator = load_token_file(args.token_auth_file)
    elif not args.insecure_http:
        if not generated:
            d.prepare(extra_hosts=(args.address,))
        authenticator = d.authenticator()
    else:
        print("pyb apiserver: WARNING: plain HTTP without authentication (--insecure-http): for tests only",
              file=sys.stderr, flush=True)
    if args.kubelet_client_token_file:
        with open(args.kubelet_client_token_file) as f:
            kubelet_token = f.read().strip()
    elif generated:
        kubelet_token = d.kubelet_client_token()
    kubelet_ca = args.kubelet_certificate_authority or (str(d.ca.cert) if generated else None)
    config = APIServerConfig(
        registry=RegistryConfig(service_cluster_ip_range=args.service_cluster_ip_range,
                                service_node_port_range=(int(lo), int(hi or lo))),
        authenticator=authenticator)
    opts = ServeOptions(data_dir=args.data_dir, address=args.address, port=args.port,
                        storage=args.storage, compaction_interval=args.compaction_interval,
                        compaction_keep=args.compaction_keep_revisions, config=config,
                        ssl_context=ssl_context, kubelet_token=kubelet_token, kubelet_ca_file=kubelet_ca,
                        etcd=etcd)

    def started(server) -> None:
        if generated:  # kubeconfigs for the admin and each component, now that the port is known
            d.write_kubeconfigs(server=server.url)
            print(f"admin kubeconfig: {d.kubeconfig}", file=sys.stderr, flush=True)
    try:
        asyncio.run(run_apiserver(opts, on_started=started))
    except StorageUnreachable as e:
        print(f"pyb apiserver: {e}", file=sys.stderr, flush=True)
        return 1
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
    p = sub.add_parser("up", help="start a local cluster (all components, one process)")
    add_up_args(p)
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop the cluster `pyb up --detach` started")
    add_down_args(p)
    p.set_defaults(func=cmd_down)
    from .migrate import add_migrate_args, cmd_migrate
    p = sub.add_parser("migrate", help="copy a cluster's objects from one storage to another (sqlite -> etcd)")
    add_migrate_args(p)
    p.set_defaults(func=cmd_migrate)
    add_kubecfg_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    started_at = time.monotonic()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `pyb run IMAGE N NAME [flags] -- COMMAND ...`: everything after `--` is the command.
    command_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, command_args = argv[:i], argv[i + 1:]
    args = build_parser().parse_args(argv)
    args.command_args = command_args
    args.started_at = started_at
    if command_args and args.command != "run":
        build_parser().error("only `pyb run` takes a command after --")
    tune_gc()
    level = logging.DEBUG if args.verbose else (logging.INFO if args.command not in _QUIET else logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


# Commands whose own output is the interface: component logs only with -v.
_QUIET = frozenset({"up", "down", "migrate", "list", "get", "create", "update", "delete", "run", "resize", "stop", "rm",
                    "rollingupdate", "logs"})


if __name__ == "__main__":
    sys.exit(main())
