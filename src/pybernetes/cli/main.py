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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyb", description="pybernetes: a small Kubernetes in Python")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("apiserver", help="run the API server alone")
    _apiserver_args(p)
    p.set_defaults(func=_cmd_apiserver)
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
