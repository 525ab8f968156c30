"""A kubelet on the `docker` runtime, for the e2e suite: the same flags as
`pyb kubelet` plus ``--docker-endpoint`` and ``--pod-infra-image`` (where it
lacks them); prints "kubelet listening on URL" like it. Used where `pyb
kubelet --runtime docker` does not exist, and for what it does not wire yet
(the runtime reading pull secrets through the kubelet's ``get_object``).

The Kubelet is built as `pyb kubelet` builds it, then given a
:class:`DockerRuntime` (pod specs read from its pod workers) and no
kubelet-side hostPort relay (the infra container publishes hostPorts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from pybernetes.client import Client
from pybernetes.kubelet.kubelet import Kubelet
from pybernetes.kubelet.run import add_kubelet_args, config_from_args
from pybernetes.kubelet.runtime.docker import DockerRuntime
from pybernetes.kubelet.runtime.docker_images import PAUSE_IMAGE


class NoHostPortRelay:
    async def ensure(self, uid: str, pod: dict) -> list[str]:
        return []

    async def stop(self, uid: str) -> None:
        pass

    async def close(self) -> None:
        pass


def docker_kubelet(client, config, *, endpoint: str | None, infra_image: str) -> Kubelet:
    kubelet = Kubelet(client, config)

    def pod_source(uid: str):
        worker = kubelet.workers.get(uid)
        return worker.last_pod if worker is not None else kubelet.static_pods.get(uid)

    kubelet.runtime = DockerRuntime(kubelet.root, on_exit=kubelet._on_container_exit, endpoint=endpoint,
                                    node_ip=kubelet.node_ip, pod_infra_image=infra_image, pod_source=pod_source,
                                    log_max_size=config.log_max_size, log_max_files=config.log_max_files,
                                    get_object=kubelet.get_object)
    kubelet.host_ports = NoHostPortRelay()
    return kubelet


async def main() -> None:
    p = argparse.ArgumentParser()
    add_kubelet_args(p)
    known = {o for a in p._actions for o in a.option_strings}
    for flag, default in (("--docker-endpoint", None), ("--pod-infra-image", PAUSE_IMAGE), ("--log-level", "INFO")):
        if flag not in known:  # `pyb kubelet` has grown some of them
            p.add_argument(flag, default=default)
    args = p.parse_args()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_from_args(args)
    client = Client.from_kubeconfig(args.kubeconfig)
    kubelet = docker_kubelet(client, config, endpoint=args.docker_endpoint, infra_image=args.pod_infra_image)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        # A signal during start (an apiserver that never answers) ends it too.
        starting = asyncio.ensure_future(kubelet.start())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            print(f"kubelet listening on https://{config.address}:{kubelet.port}", flush=True)
            await stopping
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
    finally:
        await kubelet.stop()
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
