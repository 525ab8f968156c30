"""A whole controller in a page: informer + work queue + reconcile, on the fake client."""

from __future__ import annotations

import asyncio

from pybernetes.client import Controller, FakeClient, InformerFactory, errors, split_key

from .helpers import eventually


class Labeler(Controller):
    """Ensures every ConfigMap carries ``seen=true``; a fake conflict forces one retry."""

    name = "labeler"

    def __init__(self, client, factory: InformerFactory):
        super().__init__(workers=2)
        self.client = client
        self.cms = factory.for_resource("", "v1", "configmaps")
        self.cms.add_event_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new))

    def enqueue(self, obj):
        self.queue.add(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}")

    async def reconcile(self, key):
        cm = self.cms.get(key)
        if cm is None or (cm["metadata"].get("labels") or {}).get("seen") == "true":
            return None
        ns, name = split_key(key)
        await self.client.config_maps(ns).patch(name, {"metadata": {"labels": {"seen": "true"}}},
                                                patch_type="merge")
        return None


async def test_controller_converges_and_retries_failures():
    client = FakeClient(*[{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "ns"}}
                          for i in range(5)])
    failures = {"left": 1}

    def flaky_patch(action):
        if action[3] == "c3" and failures["left"]:
            failures["left"] -= 1
            raise errors.Conflict(errors.status_for(409, "conflict", "Conflict"))
    client.prepend_reactor("patch", "configmaps", flaky_patch)
    factory = InformerFactory(client)
    ctl = Labeler(client, factory)
    await factory.start()
    run = asyncio.create_task(ctl.run(wait_for=factory.informers))
    await client.config_maps("ns").create({"metadata": {"name": "late"}})

    def all_seen():
        return all((o["metadata"].get("labels") or {}).get("seen") == "true" for o in client.objects("configmaps"))
    await eventually(all_seen)
    await ctl.queue.drain()
    ctl.stop()
    await run
    await factory.stop()
    patches = client.actions_of("patch", "configmaps")
    # One patch per object, plus the one that failed and was retried.
    assert sorted(a[3] for a in patches) == ["c0", "c1", "c2", "c3", "c3", "c4", "late"]
    assert factory.for_resource("", "v1", "configmaps") is ctl.cms  # shared
