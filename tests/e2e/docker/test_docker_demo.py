"""The seed's demo for real: busybox `httpd -f -p 80` published on hostPort
8181, answering `curl 127.0.0.1:8181` from inside the container; and two
containers of one pod talking over localhost (the infra container's network
namespace)."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from tests.integration.kubelet.test_kubelet_pods import cstatus, get, phase_is
from tests.ports import demo_port, free_port

from .conftest import wait_for
from .test_docker_pods import pod, sh

pytestmark = pytest.mark.timeout(180)






def _curl(url: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-s", "-m", "3", "-w", "\n%{http_code}", url], capture_output=True, text=True)


async def test_httpd_on_host_port_8181_answers_curl(client, kubelet):
    port = demo_port(8181)  # the demo's port unless something here holds it
    await client.config_maps("default").create({"metadata": {"name": "www"},
                                                "data": {"index.html": "hello from a pybernetes pod\n"}})
    web = sh("web", "exec httpd -f -p 80 -h /www", ports=[{"containerPort": 80, "hostPort": port}],
             volumeMounts=[{"name": "www", "mountPath": "/www"}])
    await client.pods("default").create(pod("web", [web], volumes=[{"name": "www", "configMap": {"name": "www"}}]))
    p = await wait_for(lambda: phase_is(client, "web", "Running"), timeout=60, what="Running")

    async def answers():
        out = await asyncio.to_thread(_curl, f"http://127.0.0.1:{port}/")
        return out.stdout.endswith("\n200") and out.stdout

    body = await wait_for(answers, timeout=20, what=f"curl 127.0.0.1:{port}")
    assert body == "hello from a pybernetes pod\n\n200"
    # The same server on the pod's own IP, port 80 (the pod IP is the infra container's).
    out = await asyncio.to_thread(_curl, f"http://{p['status']['podIP']}:80/")
    assert out.stdout.endswith("\n200")
    # hostIP narrows the published address.
    port2 = free_port()
    local = sh("web", "exec httpd -f -p 80 -h /www",
               ports=[{"containerPort": 80, "hostPort": port2, "hostIP": "127.0.0.1"}],
               volumeMounts=[{"name": "www", "mountPath": "/www"}])
    await client.pods("default").create(pod("web-local", [local],
                                            volumes=[{"name": "www", "configMap": {"name": "www"}}]))
    await wait_for(lambda: phase_is(client, "web-local", "Running"), timeout=60, what="Running")

    async def answers_local():
        out = await asyncio.to_thread(_curl, f"http://127.0.0.1:{port2}/")
        return out.stdout.endswith("\n200")

    await wait_for(answers_local, timeout=20, what=f"curl 127.0.0.1:{port2}")


async def test_two_containers_of_a_pod_talk_over_localhost(client, kubelet):
    server = sh("server", "mkdir -p /w; echo pong > /w/ping; exec httpd -f -p 8080 -h /w")
    caller = sh("caller", "until wget -q -O - http://127.0.0.1:8080/ping; do sleep 0.2; done; "
                          "hostname; exec sleep 1000")
    await client.pods("default").create(pod("pair", [server, caller]))
    await wait_for(lambda: phase_is(client, "pair", "Running"), timeout=60, what="Running")

    async def called():
        out = await client.pods("default").log("pair", container="caller")
        return out.startswith("pong\n") and out

    out = await wait_for(called, timeout=30, what="caller reached server on localhost")
    assert out == "pong\npair\n"  # and the pod's hostname is its name
    p = await get(client, "pair")
    assert cstatus(p, "server")["restartCount"] == 0 and cstatus(p, "caller")["restartCount"] == 0


async def test_host_network_pod_uses_the_nodes_address(client, kubelet):
    port = free_port()
    web = sh("web", f"mkdir -p /w; echo host > /w/index.html; exec httpd -f -p 127.0.0.1:{port} -h /w")
    await client.pods("default").create(pod("hostnet", [web], hostNetwork=True))
    p = await wait_for(lambda: phase_is(client, "hostnet", "Running"), timeout=60, what="Running")
    assert p["status"]["podIP"] == p["status"]["hostIP"]

    async def answers():
        out = await asyncio.to_thread(_curl, f"http://127.0.0.1:{port}/")
        return out.stdout == "host\n\n200"

    await wait_for(answers, timeout=20, what="the pod's server on the host's loopback")
