"""Endpoints and EndpointSlices follow pods and their readiness."""

from __future__ import annotations

from .conftest import wait_for
from .test_replication import converged, rc_body


def _svc(name, selector, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "web"}], **spec}}


async def test_endpoints_follow_readiness(client, namespace, hollow, manager):
    body = rc_body("ep", 3)
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "web", "containerPort": 8080}]
    await client.replication_controllers(namespace).create(body)
    pods, _ = await wait_for(lambda: converged(client, namespace, "ep", 3), what="pods ready")
    await client.services(namespace).create(_svc("ep", {"app": "ep"}))
    ips = sorted(p["status"]["podIP"] for p in pods)

    async def endpoints(ready, not_ready):
        try:
            ep = await client.endpoints(namespace).get("ep")
        except Exception:
            return False
        subsets = ep.get("subsets") or []
        got_ready = sorted(a["ip"] for s in subsets for a in s.get("addresses") or ())
        got_nr = sorted(a["ip"] for s in subsets for a in s.get("notReadyAddresses") or ())
        return got_ready == sorted(ready) and got_nr == sorted(not_ready) and ep
    ep = await wait_for(lambda: endpoints(ips, []), what="3 ready addresses")
    assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert ep["subsets"][0]["addresses"][0]["targetRef"]["kind"] == "Pod"

    # One pod turns not ready (as a kubelet's probe would say).
    p = pods[0]
    hollow.stop_node(p["spec"]["nodeName"])  # keep the hollow kubelet from making it ready again
    fresh = await client.pods(namespace).get(p["metadata"]["name"])
    for c in fresh["status"]["conditions"]:
        if c["type"] == "Ready":
            c["status"] = "False"
    await client.pods(namespace).update_status(fresh)
    rest = [ip for ip in ips if ip != p["status"]["podIP"]]
    await wait_for(lambda: endpoints(rest, [p["status"]["podIP"]]), what="not-ready address")

    # EndpointSlices say the same thing.
    slices_api = client.resource("discovery.k8s.io", "v1", "endpointslices", namespace)

    async def slices():
        items = (await slices_api.list(label_selector="kubernetes.io/service-name=ep"))["items"]
        eps = [e for s in items for e in s.get("endpoints") or ()]
        ready = sorted(e["addresses"][0] for e in eps if e["conditions"]["ready"])
        return len(eps) == 3 and ready == sorted(rest) and items
    items = await wait_for(slices, what="endpointslices")
    assert items[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert items[0]["metadata"]["ownerReferences"][0]["kind"] == "Service"

    # The service goes: its Endpoints and slices go too.
    await client.services(namespace).delete("ep")

    async def all_gone():
        eps = (await client.endpoints(namespace).list())["items"]
        sl = (await slices_api.list())["items"]
        return not eps and not sl
    await wait_for(all_gone, what="endpoints and slices removed")


async def test_service_without_selector_is_left_alone(client, namespace, manager):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual"},
           "spec": {"ports": [{"port": 80}]}}
    await client.services(namespace).create(svc)
    ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
          "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]}
    await client.endpoints(namespace).create(ep)
    import asyncio
    await asyncio.sleep(1.0)
    got = await client.endpoints(namespace).get("manual")
    assert got["subsets"][0]["addresses"] == [{"ip": "192.0.2.1"}]
