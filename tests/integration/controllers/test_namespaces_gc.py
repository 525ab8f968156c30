"""Namespace lifecycle, default service accounts and cascading deletion."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from pybernetes.client import errors

from .conftest import exists, wait_for
from .test_replication import active_pods, converged, rc_body


async def test_default_service_account_per_namespace(client, manager):
    name = f"sa-{uuid.uuid4().hex[:6]}"
    await client.namespaces().create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    sas = client.service_accounts(name)
    await wait_for(lambda: exists(sas, "default"), what="default SA")
    await sas.delete("default")
    await wait_for(lambda: exists(sas, "default"), what="default SA re-created")
    for system in ("default", "kube-system", "kube-public", "kube-node-lease"):
        await wait_for(lambda s=system: exists(client.service_accounts(s), "default"), what=system)


async def test_namespace_deletion_removes_everything(client, hollow, manager):
    ns = f"doomed-{uuid.uuid4().hex[:6]}"
    await client.namespaces().create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    await client.replication_controllers(ns).create(rc_body("app", 3))
    await client.services(ns).create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app"},
                                      "spec": {"selector": {"app": "app"}, "ports": [{"port": 80}]}})
    await client.config_maps(ns).create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
                                         "data": {"a": "b"}})
    await client.secrets(ns).create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                                     "stringData": {"a": "b"}})
    await wait_for(lambda: converged(client, ns, "app", 3), what="pods running")
    await wait_for(lambda: exists(client.endpoints(ns), "app"), what="endpoints")
    await client.namespaces().delete(ns)
    # Terminating: new content refused.
    with pytest.raises(errors.Forbidden):
        await client.config_maps(ns).create({"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "late"}})
    apis = (client.pods(ns), client.replication_controllers(ns), client.services(ns),
            client.config_maps(ns), client.secrets(ns), client.endpoints(ns), client.service_accounts(ns))

    async def emptied():
        for api in apis:
            if (await api.list())["items"]:
                return False
        return True
    await wait_for(emptied, timeout=40, what="namespace emptied")
    await wait_for(lambda: _ns_gone(client, ns), timeout=10, what="namespace removed")


async def _ns_gone(client, name):
    return not await exists(client.namespaces(), name)


async def _rc_with_pods(client, ns, name, n=3):
    await client.replication_controllers(ns).create(rc_body(name, n))
    pods, rc = await wait_for(lambda: converged(client, ns, name, n), what=f"{name} running")
    return [p["metadata"]["name"] for p in pods], rc


async def test_cascade_background(client, namespace, hollow, manager):
    pods, _ = await _rc_with_pods(client, namespace, "bg")
    await client.replication_controllers(namespace).delete("bg", propagation_policy="Background")
    assert not await exists(client.replication_controllers(namespace), "bg")
    await wait_for(lambda: _all_gone(client.pods(namespace), pods), what="dependents deleted")


async def test_cascade_foreground(client, namespace, hollow, manager):
    pods, _ = await _rc_with_pods(client, namespace, "fg")
    rcs = client.replication_controllers(namespace)
    await rcs.delete("fg", propagation_policy="Foreground")
    rc = await rcs.get("fg")  # the owner waits for its dependents
    assert "foregroundDeletion" in rc["metadata"]["finalizers"] and rc["metadata"]["deletionTimestamp"]
    await wait_for(lambda: _all_gone(client.pods(namespace), pods), what="dependents deleted")
    await wait_for(lambda: _all_gone(rcs, ["fg"]), what="owner deleted after its dependents")


async def test_cascade_orphan(client, namespace, hollow, manager):
    pods, rc = await _rc_with_pods(client, namespace, "orph")
    rcs = client.replication_controllers(namespace)
    await rcs.delete("orph", propagation_policy="Orphan")
    await wait_for(lambda: _all_gone(rcs, ["orph"]), what="owner deleted")
    for name in pods:
        p = await client.pods(namespace).get(name)
        assert not p["metadata"].get("ownerReferences")
        assert not p["metadata"].get("deletionTimestamp")
    await asyncio.sleep(1.0)
    assert len(await active_pods(client, namespace, "orph")) == 3


async def test_kubectl_delete_rc_cascades_unless_orphan(client, namespace, hollow, manager, apiserver, kubectl_env):
    pods, _ = await _rc_with_pods(client, namespace, "kc")
    await _kubectl(apiserver, kubectl_env, "-n", namespace, "delete", "rc", "kc", "--cascade=orphan")
    await asyncio.sleep(1.0)
    assert len(await active_pods(client, namespace, "kc")) == 3
    pods2, _ = await _rc_with_pods(client, namespace, "kc")  # adopts the three orphans
    assert set(pods2) == set(pods)
    await _kubectl(apiserver, kubectl_env, "-n", namespace, "delete", "rc", "kc")
    await wait_for(lambda: _all_gone(client.pods(namespace), pods), what="pods deleted with the RC")


async def _kubectl(apiserver, env, *args):
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(apiserver.kubeconfig), "--request-timeout=30s", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def _all_gone(api, names):
    for n in names:
        if await exists(api, n):
            return False
    return True
