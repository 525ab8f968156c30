"""Two controller managers, one lease: only the leader acts; the other takes over."""

from __future__ import annotations

import asyncio
import dataclasses

from .conftest import FAST, running_manager, wait_for
from .test_replication import converged, rc_body


async def test_two_managers_one_acts(client, namespace, hollow):
    cfg = dataclasses.replace(FAST, leader_elect=True, lease_duration=3.0, renew_deadline=2.0, retry_period=0.5)
    a_cfg = dataclasses.replace(cfg, identity="manager-a")
    b_cfg = dataclasses.replace(cfg, identity="manager-b")
    async with running_manager(client, a_cfg) as a:
        b_ctx = running_manager(client, b_cfg)
        b_task = asyncio.create_task(b_ctx.__aenter__())
        await asyncio.sleep(1.0)
        assert a.leading.is_set()
        lease = await client.resource("coordination.k8s.io", "v1", "leases", "kube-system").get(
            "kube-controller-manager")
        assert lease["spec"]["holderIdentity"] == "manager-a"
        await client.replication_controllers(namespace).create(rc_body("le", 4))
        await wait_for(lambda: converged(client, namespace, "le", 4), what="leader acts")
        assert not b_task.done(), "the second manager waits for the lease"
    # Leader gone (its lease is released or expires): b takes over and acts.
    b = await asyncio.wait_for(b_task, 30)
    try:
        assert b.leading.is_set()
        rc = await client.replication_controllers(namespace).get("le")
        rc["spec"]["replicas"] = 2
        await client.replication_controllers(namespace).update(rc)
        await wait_for(lambda: converged(client, namespace, "le", 2), what="new leader acts")
    finally:
        await b_ctx.__aexit__(None, None, None)
