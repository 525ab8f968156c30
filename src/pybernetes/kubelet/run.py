"""`pyb kubelet`: flags → KubeletConfig, run until SIGTERM/SIGINT.

Stopping the kubelet leaves its containers running; the next kubelet over
the same ``--root-dir`` adopts them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

from .config import KubeletConfig

__all__ = ["add_kubelet_args", "config_from_args", "run_kubelet", "parse_taint"]


def add_kubelet_args(p) -> None:
    p.add_argument("--kubeconfig", default=None, help="kubeconfig for the apiserver ($KUBECONFIG if unset)")
    p.add_argument("--node-name", default=socket.gethostname().lower())
    p.add_argument("--root-dir", default=os.path.expanduser("~/.pybernetes/kubelet"))
    p.add_argument("--runtime", default="process", choices=["process", "docker"])
    p.add_argument("--docker-endpoint", default=None, help="Docker API endpoint ($DOCKER_HOST, else default socket)")
    p.add_argument("--pod-infra-image", default="pybernetes/pause:latest",
                   help="the docker runtime's infra container image (scripts/build-busybox-image builds it)")
    p.add_argument("--address", default="127.0.0.1", help="address of the HTTPS (logs) server")
    p.add_argument("--port", type=int, default=10250, help="HTTPS port; 0 picks a free one")
    p.add_argument("--token", default=None, help="bearer token the HTTPS server accepts (from the apiserver)")
    p.add_argument("--token-file", default=None, help="file holding that token")
    p.add_argument("--node-ip", default=None)
    p.add_argument("--max-pods", type=int, default=110)
    p.add_argument("--node-labels", default="", help="k=v,k2=v2")
    p.add_argument("--register-with-taints", default="", help="key=value:Effect,key2:Effect")
    p.add_argument("--pod-manifest-path", default=None, help="directory of static pod manifests")
    p.add_argument("--sync-frequency", type=float, default=60.0)
    p.add_argument("--heartbeat-interval", type=float, default=10.0)


def parse_taint(s: str) -> dict:
    kv, _, effect = s.rpartition(":")
    if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute") or not kv:
        raise ValueError(f"invalid taint {s!r}: want key[=value]:Effect")
    key, _, value = kv.partition("=")
    taint = {"key": key, "effect": effect}
    if value:
        taint["value"] = value
    return taint


def config_from_args(args) -> KubeletConfig:
    token = args.token
    if args.token_file:
        with open(args.token_file) as f:
            token = f.read().strip()
    labels = dict(kv.split("=", 1) for kv in args.node_labels.split(",") if kv)
    taints = tuple(parse_taint(t) for t in args.register_with_taints.split(",") if t)
    return KubeletConfig(node_name=args.node_name, root_dir=args.root_dir, runtime=args.runtime,
                         max_pods=args.max_pods, node_labels=labels, register_with_taints=taints,
                         pod_manifest_path=args.pod_manifest_path, address=args.address, port=args.port,
                         token=token, node_ip=args.node_ip, sync_frequency=args.sync_frequency,
                         heartbeat_interval=args.heartbeat_interval, docker_endpoint=args.docker_endpoint,
                         pod_infra_image=args.pod_infra_image)


async def run_kubelet(config: KubeletConfig, kubeconfig: str | None) -> None:
    from ..client import Client
    from .kubelet import Kubelet

    client = Client.from_kubeconfig(kubeconfig)
    kubelet = Kubelet(client, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await kubelet.start()
        print(f"kubelet listening on https://{config.address}:{kubelet.port}", flush=True)
        await stop.wait()
    finally:
        await kubelet.stop()
        await client.close()
    sys.stdout.flush()
