"""What only the fake does: recording actions, reactors, watch fault injection."""

from __future__ import annotations

import pytest

from pybernetes.client import FakeClient, SyncClient, errors


def _pod(name: str, ns: str = "default", **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}


async def test_actions_are_recorded_as_tuples():
    c = FakeClient(_pod("seeded"))
    assert c.actions == []  # seeding is not an action
    await c.pods("default").create(_pod("a"))
    await c.pods("default").get("a")
    await c.pods("default").bind("a", "n1")
    p = await c.pods("default").get("a")
    await c.pods("default").update_status(p)
    await c.pods().list()
    await c.pods("default").delete("a", grace_period_seconds=0)
    assert c.actions == [
        ("create", "pods", "default", "a"),
        ("get", "pods", "default", "a"),
        ("create", "pods/binding", "default", "a"),
        ("get", "pods", "default", "a"),
        ("update", "pods/status", "default", "a"),
        ("list", "pods", None, None),
        ("delete", "pods", "default", "a"),
    ]
    assert c.actions_of("create", "pods") == [("create", "pods", "default", "a")]


async def test_reactor_injects_failures():
    c = FakeClient()

    def refuse(action):
        raise errors.Forbidden(errors.status_for(403, "no", "Forbidden"))
    c.prepend_reactor("create", "pods", refuse)
    with pytest.raises(errors.Forbidden):
        await c.pods("default").create(_pod("a"))
    await c.config_maps("default").create({"metadata": {"name": "ok"}})


async def test_compaction_expires_old_resource_versions():
    c = FakeClient()
    rv = c.resource_version
    await c.config_maps("default").create({"metadata": {"name": "a"}})
    c.compact()
    with pytest.raises(errors.Expired):
        async for _ in c.config_maps("default").watch(resource_version=rv):
            pass


async def test_open_watches_can_be_expired_or_dropped():
    c = FakeClient()
    w = c.config_maps().watch(resource_version=c.resource_version)
    await c.config_maps("default").create({"metadata": {"name": "a"}})
    assert (await w.__anext__()).type == "ADDED"
    c.expire_watches()
    with pytest.raises(errors.Expired):
        await w.__anext__()
    w2 = c.config_maps().watch(resource_version=c.resource_version)
    await c.config_maps("default").create({"metadata": {"name": "b"}})
    await w2.__anext__()
    c.drop_watches()
    with pytest.raises(errors.ConnectionFailed):
        await w2.__anext__()
    assert c.open_watches == 0


async def test_close_ends_a_blocked_watch():
    import asyncio
    c = FakeClient()
    w = c.config_maps().watch(resource_version=c.resource_version)

    async def consume():
        return [ev async for ev in w]
    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    await w.close()
    assert await task == []


async def test_pod_log():
    c = FakeClient(_pod("a"))
    c.set_pod_log("default", "a", "one\ntwo\nthree\n")
    assert await c.pods("default").log("a") == "one\ntwo\nthree\n"
    assert await c.pods("default").log("a", tail_lines=1) == "three\n"
    assert [line async for line in c.pods("default").log("a", follow=True)] == ["one\n", "two\n", "three\n"]
    with pytest.raises(errors.NotFound):
        await c.pods("default").log("missing")


async def test_generation_tracks_spec_changes_for_rcs():
    c = FakeClient()
    rcs = c.replication_controllers("default")
    rc = await rcs.create({"metadata": {"name": "r"}, "spec": {"replicas": 1}})
    assert rc["metadata"]["generation"] == 1
    rc["spec"]["replicas"] = 2
    rc = await rcs.update(rc)
    assert rc["metadata"]["generation"] == 2
    rc["status"] = {"replicas": 2}
    rc = await rcs.update_status(rc)
    assert rc["metadata"]["generation"] == 2 and rc["status"] == {"replicas": 2}


async def test_unchanged_update_does_not_write():
    c = FakeClient()
    cm = await c.config_maps("default").create({"metadata": {"name": "a"}, "data": {"k": "v"}})
    again = await c.config_maps("default").update(cm)
    assert again["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]


async def test_unsupported_field_selector_is_bad_request():
    with pytest.raises(errors.BadRequest):
        await FakeClient().pods().list(field_selector="spec.bogus=1")


def test_sync_facade_over_the_fake():
    with SyncClient(FakeClient()) as c:
        c.config_maps("default").create({"metadata": {"name": "a"}, "data": {"k": "v"}})
        assert [o["metadata"]["name"] for o in c.config_maps("default").list()["items"]] == ["a"]
        with pytest.raises(errors.NotFound):
            c.config_maps("default").get("b")
        events = list(c.config_maps("default").watch(timeout_seconds=1))
        assert [(e.type, e.object["metadata"]["name"]) for e in events] == [("ADDED", "a")]
