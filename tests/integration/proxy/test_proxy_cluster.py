"""End to end on a real little cluster: an apiserver, three `pyb kubelet`
processes (process runtime, node IPs 127.0.0.2-4), `pyb scheduler`, the
controller manager (replication, endpoints, endpointslices) and the proxy,
all on this host. A replication controller runs 3 pods, each an HTTP server
answering its own name on its pod IP; a Service selects them."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys

import pytest

from pybernetes.controllers.manager import ControllerManager, ControllerManagerConfig
from pybernetes.proxy import ServiceProxy
from tests.conftest import ROOT
from tests.integration.kubelet.conftest import KubeletProcess

from .backends import free_port, http_get, service_port
from .conftest import proxy_config, wait_for

NODE_IPS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")

# Serves its pod name; on SIGTERM keeps serving for a second before exiting,
# as a well-behaved app does while the endpoint removal propagates.
SERVER = r"""
import http.server, os, signal, sys, threading, time
name = os.environ["POD_NAME"].encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", str(len(name))); self.end_headers()
        self.wfile.write(name)
    def log_message(self, *a): pass
# status.podIP is still empty at a pod's first start under this kubelet: fall back to
# the node's IP (process runtime: pod IP = node IP), never to 0.0.0.0.
ip = os.environ.get("POD_IP") or "127.0.0.%d" % (int(os.environ["NODE_NAME"].rsplit("-", 1)[1]) + 2)
srv = http.server.ThreadingHTTPServer((ip, int(sys.argv[1])), H)
signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=lambda: (time.sleep(1), os._exit(0))).start())
srv.serve_forever()
"""

# A client pod: finds the service through the kubelet's environment variables.
CLIENT = r"""
import os, urllib.request
url = "http://%s:%s/" % (os.environ["WEB_SERVICE_HOST"], os.environ["WEB_SERVICE_PORT"])
body = urllib.request.urlopen(url, timeout=10).read().decode()
raise SystemExit(0 if body.startswith("web-") else 1)
"""


def _rc(port: int, replicas: int) -> dict:
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
           {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    container = {"name": "web", "image": "python", "command": ["python3", "-c", SERVER, str(port)], "env": env,
                 # hostPort: one per node, so the scheduler spreads the pods over the three node IPs
                 "ports": [{"containerPort": port, "hostPort": port, "name": "http"}],
                 "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1}}
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"app": "web"},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [container], "terminationGracePeriodSeconds": 5}}}}


@pytest.fixture
def node_processes(proxy_apiserver, tmp_path):
    """Three kubelets and a scheduler, as processes; stopped by pid, containers killed."""
    kubelets = [KubeletProcess(kubeconfig=proxy_apiserver.kubeconfig, node_name=f"pnode-{i}",
                               root_dir=tmp_path / f"kubelet-{i}", extra=("--node-ip", ip)).start()
                for i, ip in enumerate(NODE_IPS)]
    with open(tmp_path / "scheduler.log", "ab") as log:
        scheduler = subprocess.Popen([sys.executable, "-m", "pybernetes.cli.main", "scheduler", "--kubeconfig",
                                      str(proxy_apiserver.kubeconfig), "--leader-elect=false"],
                                     stdout=subprocess.DEVNULL, stderr=log, cwd=ROOT)
    try:
        yield kubelets
    finally:
        scheduler.terminate()
        scheduler.wait(10)
        for k in kubelets:
            k.stop()
        for k in kubelets:
            k.kill_containers()
            k.unmount_volumes()


@pytest.fixture
async def cluster(node_processes, client):
    """The nodes plus the controller manager (replication, endpoints, slices) in this process."""
    manager = ControllerManager(client, ControllerManagerConfig(leader_elect=False))
    task = asyncio.create_task(manager.run())
    try:
        yield node_processes
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def test_service_over_rc_pods_spreads_scales_down_and_serves_pods(client, namespace, proxy_apiserver,
                                                                        cluster):
    port = free_port(["0.0.0.0", *NODE_IPS])
    svc = await client.services(namespace).create({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"},
                 "ports": [{"port": service_port(), "targetPort": "http"}]}})
    ip, sport, node_port = (svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"],
                            svc["spec"]["ports"][0]["nodePort"])
    proxy = ServiceProxy(client, proxy_config(proxy_apiserver, namespace))
    await proxy.start()
    try:
        await client.replication_controllers(namespace).create(_rc(port, 3))

        async def names(n: int) -> set[str]:
            return {await http_get(ip, sport) for _ in range(n)}
        # Spread: every pod answers through the cluster IP; the node port answers too.
        await wait_for(lambda: len(proxy.listeners[("TCP", ip, sport)].target.balancer.endpoints) == 3,
                       timeout=90, what="3 ready endpoints")
        three = await wait_for(lambda: names(9), what="answers")
        assert len(three) == 3 and all(n.startswith("web-") for n in three)
        assert (await http_get("127.0.0.1", node_port)).startswith("web-")

        # A pod finds the service through its environment and reaches it via the proxy.
        await client.pods(namespace).create({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
            "spec": {"restartPolicy": "Never", "nodeName": "pnode-0",
                     "containers": [{"name": "c", "image": "python", "command": ["python3", "-c", CLIENT]}]}})

        # Scale down to 1 while clients keep opening new connections: no errors.
        seen: list[str] = []
        errors: list[Exception] = []
        stop = asyncio.Event()

        async def load() -> None:
            while not stop.is_set():
                try:
                    seen.append(await http_get(ip, sport))
                except Exception as e:  # noqa: BLE001 - asserted below
                    errors.append(e)
                await asyncio.sleep(0.01)
        loaders = [asyncio.create_task(load()) for _ in range(3)]
        rc = await client.replication_controllers(namespace).get("web")
        rc["spec"]["replicas"] = 1
        await client.replication_controllers(namespace).update(rc)
        await wait_for(lambda: len(proxy.listeners[("TCP", ip, sport)].target.balancer.endpoints) == 1,
                       timeout=60, what="one endpoint left")

        async def pods_left() -> bool:
            pods = (await client.pods(namespace).list(label_selector="app=web"))["items"]
            return len(pods) == 1
        await wait_for(pods_left, timeout=60, what="scaled-down pods gone")
        mark = len(seen)
        await wait_for(lambda: len(seen) > mark + 20, what="traffic after scale-down")
        stop.set()
        await asyncio.gather(*loaders)
        assert errors == []
        assert len(set(seen[mark:])) == 1

        async def client_done() -> str:
            return (await client.pods(namespace).get("client"))["status"].get("phase") in ("Succeeded", "Failed")
        await wait_for(client_done, timeout=60, what="client pod finished")
        assert (await client.pods(namespace).get("client"))["status"]["phase"] == "Succeeded"
    finally:
        with contextlib.suppress(Exception):
            await client.replication_controllers(namespace).delete("web")
        await proxy.stop()
