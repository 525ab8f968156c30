"""With Podman (the docker runtime): a container reaches another pod through
the service's cluster IP. The container's traffic leaves its network
namespace through the podman bridge to the host, where the cluster IP is a
loopback address the proxy listens on; the proxy dials the server pod's IP on
the bridge. Skips where Podman cannot run (see tests/e2e/docker/conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from pybernetes.controllers.manager import ControllerManager, ControllerManagerConfig
from pybernetes.proxy import ServiceProxy
from tests.e2e.docker.conftest import DockerKubeletProcess, podman_endpoint, remove_containers_of  # noqa: F401

from .backends import service_port
from .conftest import proxy_config, wait_for

pytestmark = pytest.mark.timeout(180)

BUSYBOX = "busybox:latest"


@pytest.fixture
def podman_kubelet(proxy_apiserver, podman_endpoint, tmp_path):  # noqa: F811 - the imported fixture
    k = DockerKubeletProcess(endpoint=podman_endpoint, kubeconfig=proxy_apiserver.kubeconfig, node_name="podnode",
                             root_dir=tmp_path / "kubelet").start()
    try:
        yield k
    finally:
        k.stop()
        remove_containers_of(k.root_dir, podman_endpoint)
        k.unmount_volumes()


def _pod(name: str, script: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": "podnode", "containers": [
                {"name": "c", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", script]}],
                **spec}}


async def test_container_reaches_pod_through_cluster_ip(client, namespace, proxy_apiserver, podman_kubelet):
    svc = await client.services(namespace).create({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "srv"}, "ports": [{"port": service_port(), "targetPort": 8080}]}})
    proxy = ServiceProxy(client, proxy_config(proxy_apiserver, namespace))
    manager = ControllerManager(client, ControllerManagerConfig(leader_elect=False))
    task = asyncio.create_task(manager.run())
    await proxy.start()
    try:
        await client.pods(namespace).create(_pod(
            "srv", "mkdir -p /www && echo hello-from-srv > /www/index.html && exec httpd -f -p 8080 -h /www"))
        # The client finds the service in its environment and asks through the cluster IP.
        await client.pods(namespace).create(_pod(
            "cli", 'for i in $(seq 60); do printf "GET / HTTP/1.0\\r\\n\\r\\n" | '
                   'nc -w 3 "$WEB_SERVICE_HOST" "$WEB_SERVICE_PORT" | grep -q hello-from-srv && exit 0; '
                   'sleep 1; done; exit 1', restartPolicy="Never"))

        async def finished() -> str | None:
            phase = (await client.pods(namespace).get("cli"))["status"].get("phase")
            return phase if phase in ("Succeeded", "Failed") else None
        assert await wait_for(finished, timeout=120, what="client pod finished") == "Succeeded"
        listener = proxy.listeners[("TCP", svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"])]
        [(ip, port)] = listener.target.balancer.endpoints
        assert port == 8080 and not ip.startswith("127.")  # the server pod's own IP on the podman bridge
    finally:
        await proxy.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
