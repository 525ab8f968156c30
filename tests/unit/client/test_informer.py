"""Informer behaviour over the fake client (the real-apiserver cases live in integration)."""

from __future__ import annotations

import pytest

from pybernetes.client import FakeClient, Informer, index_by_field

from .helpers import eventually


def _pod(name, ns="default", node=None, labels=None):
    spec = {"containers": [{"name": "c", "image": "i"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": spec}


class Recorder:
    """Applies handler calls to a dict, the 'final state as seen by handlers'."""

    def __init__(self):
        self.state: dict[str, dict] = {}
        self.log: list[tuple[str, str]] = []
        self.duplicates: list[str] = []

    def add(self, obj):
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        if key in self.state:
            self.duplicates.append(key)
        self.state[key] = obj
        self.log.append(("add", key))

    def update(self, old, new):
        key = f"{new['metadata']['namespace']}/{new['metadata']['name']}"
        self.state[key] = new
        self.log.append(("update", key))

    def delete(self, obj):
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        self.state.pop(key, None)
        self.log.append(("delete", key))

    def register(self, inf):
        return inf.add_event_handler(on_add=self.add, on_update=self.update, on_delete=self.delete)

    def rvs(self):
        return {k: v["metadata"]["resourceVersion"] for k, v in self.state.items()}


def _server_rvs(fake):
    return {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
            for o in fake.objects("pods")}


@pytest.fixture
async def setup():
    fake = FakeClient(_pod("a", node="n1", labels={"app": "web"}), _pod("b", node="n2"), _pod("c", ns="other"))
    inf = Informer(fake.pods(), indexers={"node": index_by_field("spec", "nodeName")})
    rec = Recorder()
    reg = rec.register(inf)
    await inf.start()
    assert await inf.wait_for_sync(10)
    yield fake, inf, rec, reg
    await inf.stop()


async def test_sync_fills_cache_indexes_and_handlers(setup):
    fake, inf, rec, reg = setup
    assert reg.has_synced
    assert sorted(inf.keys()) == ["default/a", "default/b", "other/c"]
    assert rec.rvs() == _server_rvs(fake)
    assert [o["metadata"]["name"] for o in inf.by_index("node", "n1")] == ["a"]
    assert [o["metadata"]["name"] for o in inf.by_label("app", "web")] == ["a"]
    assert sorted(o["metadata"]["name"] for o in inf.list(namespace="default")) == ["a", "b"]
    assert [o["metadata"]["name"] for o in inf.list(label_selector="app=web")] == ["a"]
    assert inf.get("other/c")["kind"] == "Pod"


async def test_events_reach_handlers_in_order_and_indexes_follow(setup):
    fake, inf, rec, _ = setup
    pods = fake.pods("default")
    await pods.create(_pod("d"))
    await pods.bind("d", "n1")
    await pods.delete("a", grace_period_seconds=0)
    await eventually(lambda: rec.rvs() == _server_rvs(fake))
    assert rec.log[-3:] == [("add", "default/d"), ("update", "default/d"), ("delete", "default/a")]
    assert [o["metadata"]["name"] for o in inf.by_index("node", "n1")] == ["d"]
    assert inf.by_label("app", "web") == []


async def test_relist_after_dropped_connection_diffs_without_duplicates(setup):
    fake, inf, rec, _ = setup
    relists = inf.relists
    fake.drop_watches()
    # Changes the dead watch never delivers: the relist must find them.
    await fake.pods("default").create(_pod("new"))
    await fake.pods("default").delete("b", grace_period_seconds=0)
    p = await fake.pods("other").get("c")
    p["metadata"]["labels"] = {"x": "y"}
    await fake.pods("other").update(p)
    await eventually(lambda: inf.relists > relists and rec.rvs() == _server_rvs(fake))
    assert rec.duplicates == []
    assert sorted(inf.keys()) == sorted(_server_rvs(fake))


async def test_relist_after_expiry(setup):
    fake, inf, rec, _ = setup
    relists = inf.relists
    fake.compact()
    fake.expire_watches()
    await fake.pods("default").create(_pod("e"))
    await eventually(lambda: inf.relists > relists and rec.rvs() == _server_rvs(fake))
    assert rec.duplicates == []


async def test_late_handler_gets_the_cache_then_events(setup):
    fake, inf, _, _ = setup
    late = Recorder()
    reg = late.register(inf)
    assert await reg.wait_for_sync(10)
    assert late.rvs() == _server_rvs(fake)
    await fake.pods("default").create(_pod("f"))
    await eventually(lambda: late.rvs() == _server_rvs(fake))


async def test_failing_handler_does_not_stop_others(setup):
    fake, inf, rec, _ = setup

    def boom(obj):
        raise RuntimeError("handler bug")
    inf.add_event_handler(on_add=boom)
    await fake.pods("default").create(_pod("g"))
    await eventually(lambda: rec.rvs() == _server_rvs(fake))


async def test_async_handlers_and_resync():
    fake = FakeClient(_pod("a"))
    inf = Informer(fake.pods(), resync_period=0.05)
    updates = []

    async def on_update(old, new):
        updates.append((old is new) or old == new)
    inf.add_event_handler(on_update=on_update)
    async with inf:
        await inf.wait_for_sync(10)
        await eventually(lambda: len(updates) >= 2)
    assert all(updates)  # resync re-delivers the same object


async def test_selector_informer_sees_objects_leave():
    fake = FakeClient(_pod("a", labels={"app": "web"}), _pod("b"))
    inf = Informer(fake.pods(), label_selector="app=web")
    rec = Recorder()
    rec.register(inf)
    async with inf:
        await inf.wait_for_sync(10)
        assert inf.keys() == ["default/a"]
        await fake.pods("default").patch("a", {"metadata": {"labels": {"app": "db"}}}, patch_type="merge")
        await eventually(lambda: rec.state == {})
        assert len(inf) == 0


async def test_informer_without_builtin_indexes_still_lists_by_namespace():
    fake = FakeClient(_pod("a", labels={"app": "web"}), _pod("c", ns="other"))
    inf = Informer(fake.pods(), builtin_indexes=False, indexers={"node": index_by_field("spec", "nodeName")})
    await inf.start()
    try:
        assert await inf.wait_for_sync(10)
        await fake.pods("other").create(_pod("d", ns="other"))
        await fake.pods("other").bind("d", "n9")
        await eventually(lambda: len(inf) == 3 and inf.by_index("node", "n9"))
        assert sorted(o["metadata"]["name"] for o in inf.list(namespace="other")) == ["c", "d"]
        assert [o["metadata"]["name"] for o in inf.list(label_selector="app=web")] == ["a"]
        with pytest.raises(KeyError, match="no index 'label'"):
            inf.by_label("app", "web")
    finally:
        await inf.stop()
