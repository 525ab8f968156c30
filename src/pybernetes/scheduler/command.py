"""`pyb scheduler`: flags (kube-scheduler's names) and the process entry point."""

from __future__ import annotations

import argparse
import asyncio
import logging

__all__ = ["add_scheduler_args", "run_scheduler_command", "config_from_args"]

log = logging.getLogger("pybernetes.scheduler")


def _bool(v: str) -> bool:
    s = str(v).lower()
    if s in ("1", "t", "true", "yes", "on"):
        return True
    if s in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {v!r}")


def _percentage(v: str) -> int:
    n = int(v)
    if not 0 <= n <= 100:
        raise argparse.ArgumentTypeError("percentage-of-nodes-to-score must be in the range [0, 100]")
    return n


def add_scheduler_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--scheduler-name", default="default-scheduler",
                   help="schedule pods whose spec.schedulerName is this")
    p.add_argument("--percentage-of-nodes-to-score", type=_percentage, default=0,
                   help="percent of nodes to find feasible before scoring; 0 = adaptive (50%% - 1%% per 125 nodes, min 5%%)")
    # --leader-elect, --leader-elect=false, --leader-elect false
    p.add_argument("--leader-elect", type=_bool, nargs="?", const=True, default=True)
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=float, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=float, default=2.0)
    p.add_argument("--leader-elect-resource-namespace", default="kube-system")
    p.add_argument("--leader-elect-resource-name", default="kube-scheduler")
    p.add_argument("--pod-initial-backoff-seconds", type=float, default=1.0)
    p.add_argument("--pod-max-backoff-seconds", type=float, default=10.0)
    p.add_argument("--events", type=_bool, nargs="?", const=True, default=True,
                   help="write Scheduled/FailedScheduling Events (best effort, one at a time)")
    p.add_argument("--bind-concurrency", type=int, default=64, help="bindings in flight at once")


def config_from_args(args: argparse.Namespace):
    from .scheduler import SchedulerConfig

    return SchedulerConfig(
        scheduler_name=args.scheduler_name, percentage_of_nodes_to_score=args.percentage_of_nodes_to_score,
        leader_elect=args.leader_elect, lease_namespace=args.leader_elect_resource_namespace,
        lease_name=args.leader_elect_resource_name, lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline, retry_period=args.leader_elect_retry_period,
        initial_backoff=args.pod_initial_backoff_seconds, max_backoff=args.pod_max_backoff_seconds,
        bind_concurrency=args.bind_concurrency, events=args.events)


def run_scheduler_command(args: argparse.Namespace) -> int:
    from ..client import Client
    from .scheduler import LeadershipLost, Scheduler

    config = config_from_args(args)

    async def run() -> int:
        client = Client.from_kubeconfig(args.kubeconfig)
        try:
            print(f"scheduler started ({config.identity})", flush=True)
            await Scheduler(client, config).run()
        except LeadershipLost as e:
            log.error("leaderelection lost: %s", e)
            return 1
        finally:
            await client.close()
        return 0

    return asyncio.run(run())
