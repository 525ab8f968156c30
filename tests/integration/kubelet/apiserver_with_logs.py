"""`pyb apiserver` with the kubelet log proxy plugged in (what app.py will do
once wired): ``python -m tests.integration.kubelet.apiserver_with_logs
--data-dir D --kubelet-token T`` prints "apiserver listening on URL"."""

from __future__ import annotations

import argparse
import asyncio
import signal

from pybernetes.apiserver.app import HANDLERS_KEY
from pybernetes.apiserver.kubelet_proxy import KubeletLogProxy
from pybernetes.apiserver.server import APIServer, ServeOptions


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--kubelet-token", required=True)
    args = p.parse_args()
    server = APIServer(ServeOptions(data_dir=args.data_dir, address="127.0.0.1", port=args.port))
    await server.start()
    handlers = server.runner.app[HANDLERS_KEY]
    nodes = handlers.stores[("", "nodes")]
    proxy = KubeletLogProxy(get_node=lambda name: nodes.get(None, name), token=args.kubelet_token)
    handlers.log_proxy = proxy
    print(f"apiserver listening on {server.url}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await proxy.close()
    await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
