"""The shared client behaviour suite runs once per client: the fake and the real one."""

from __future__ import annotations

import uuid

import pytest

from pybernetes.client import Client, FakeClient


@pytest.fixture(params=["fake", "real"])
async def client(request):
    if request.param == "fake":
        c = FakeClient()
    else:
        server = request.getfixturevalue("shared_apiserver")
        c = Client.from_kubeconfig(server.kubeconfig)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def ns(client):
    """A fresh namespace per test (the shared apiserver is shared)."""
    name = "t-" + uuid.uuid4().hex[:10]
    await client.namespaces().create({"metadata": {"name": name}})
    return name
