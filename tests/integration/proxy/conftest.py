"""Fixtures: one apiserver per module with its own service range (so cluster
IPs never collide with another cluster on this host), a client, a fresh
namespace and a running :class:`ServiceProxy` per test, and helpers to write
services and endpoint slices."""

from __future__ import annotations

import random
import uuid

import pytest

from pybernetes.client import Client, errors
from pybernetes.proxy import ProxyConfig, ServiceProxy
from tests import polling
from tests.conftest import APIServerProcess


def _random_cidr() -> str:
    return f"10.{random.randint(200, 249)}.{random.randint(0, 255)}.0/24"


@pytest.fixture(scope="module")
def proxy_apiserver(tmp_path_factory):
    cidr = _random_cidr()
    server = APIServerProcess(tmp_path_factory.mktemp("proxy-apiserver"),
                              ("--service-cluster-ip-range", cidr, "--service-node-port-range", "31000-31999"))
    server.service_cidr = cidr
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def client(proxy_apiserver):
    c = Client.from_kubeconfig(str(proxy_apiserver.kubeconfig))
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def namespace(client):
    name = f"p-{uuid.uuid4().hex[:8]}"
    await client.namespaces().create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def proxy_config(apiserver, namespace: str, **kw) -> ProxyConfig:
    return ProxyConfig(service_cluster_ip_range=apiserver.service_cidr, nodeport_addresses=("127.0.0.1",),
                       namespace=namespace, **kw)


@pytest.fixture
async def proxy(client, namespace, proxy_apiserver):
    p = ServiceProxy(client, proxy_config(proxy_apiserver, namespace))
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


wait_for = polling.waiter(timeout=20.0, interval=0.05, retry_errors=True)


async def create_service(client, ns: str, name: str, *, ports=None, type_: str = "ClusterIP",
                         affinity: dict | None = None, selector: dict | None = None) -> dict:
    spec: dict = {"type": type_, "ports": ports or [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    if selector:
        spec["selector"] = selector
    if affinity is not None:
        spec["sessionAffinity"] = "ClientIP"
        if affinity:
            spec["sessionAffinityConfig"] = {"clientIP": affinity}
    return await client.services(ns).create({"apiVersion": "v1", "kind": "Service",
                                             "metadata": {"name": name}, "spec": spec})


def slice_body(service: str, endpoints, *, port: int, name: str | None = None, port_name: str = "",
               protocol: str = "TCP", ready: bool = True) -> dict:
    """An EndpointSlice for ``service`` with (ip, ready) or ip entries, all on ``port``."""
    eps = []
    for ep in endpoints:
        ip, ok = (ep, ready) if isinstance(ep, str) else ep
        eps.append({"addresses": [ip], "conditions": {"ready": ok, "serving": ok, "terminating": False}})
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{service}-manual",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "endpoints": eps,
            "ports": [{"name": port_name, "port": port, "protocol": protocol}]}


async def put_slice(client, ns: str, body: dict) -> dict:
    """Create or replace an EndpointSlice."""
    api = client.endpoint_slices(ns)
    try:
        cur = await api.get(body["metadata"]["name"])
    except errors.NotFound:
        return await api.create(body)
    body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
    return await api.update(body)
