"""Client behaviour shared by the real client (against `pyb apiserver`) and the fake."""

from __future__ import annotations

import uuid

import pytest

from pybernetes.client import FakeClient, errors

from .samples import pod, sample

ACCESSORS = {
    "pods": lambda c, ns: c.pods(ns),
    "replicationcontrollers": lambda c, ns: c.replication_controllers(ns),
    "services": lambda c, ns: c.services(ns),
    "endpoints": lambda c, ns: c.endpoints(ns),
    "events": lambda c, ns: c.events(ns),
    "configmaps": lambda c, ns: c.config_maps(ns),
    "secrets": lambda c, ns: c.secrets(ns),
    "serviceaccounts": lambda c, ns: c.service_accounts(ns),
    "leases": lambda c, ns: c.leases(ns),
    "endpointslices": lambda c, ns: c.endpoint_slices(ns),
    "nodes": lambda c, ns: c.nodes(),
    "namespaces": lambda c, ns: c.namespaces(),
}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("plural", sorted(ACCESSORS))
async def test_typed_crud_every_kind(client, ns, plural):
    api = ACCESSORS[plural](client, ns)
    name = _unique("obj")
    created = await api.create(sample(plural, name, ns))
    meta = created["metadata"]
    assert meta["name"] == name and meta["uid"] and meta["resourceVersion"]
    assert created["kind"] == sample(plural, name)["kind"]
    if api.info.namespaced:
        assert meta["namespace"] == ns
    got = await api.get(name)
    assert got["metadata"]["uid"] == meta["uid"]

    listed = await api.list()
    assert name in [o["metadata"]["name"] for o in listed["items"]]
    assert int(listed["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])

    got["metadata"].setdefault("labels", {})["tier"] = "one"
    updated = await api.update(got)
    assert updated["metadata"]["labels"]["tier"] == "one"
    assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])

    patched = await api.patch(name, {"metadata": {"annotations": {"a": "b"}}}, patch_type="merge")
    assert patched["metadata"]["annotations"] == {"a": "b"}
    assert patched["metadata"]["labels"]["tier"] == "one"

    with pytest.raises(errors.AlreadyExists) as exc:
        await api.create(sample(plural, name, ns))
    assert exc.value.code == 409 and exc.value.status["details"]["name"] == name

    await api.delete(name)
    if plural == "namespaces":  # terminating until the namespace controller finishes it
        return
    with pytest.raises(errors.NotFound) as nf:
        await api.get(name)
    assert nf.value.status["reason"] == "NotFound"
    assert nf.value.message == f'{api.info.plural}{"." + api.info.group if api.info.group else ""} "{name}" not found'


async def test_update_with_stale_resource_version_conflicts(client, ns):
    cms = client.config_maps(ns)
    first = await cms.create(sample("configmaps", "cm"))
    second = await cms.update({**first, "data": {"k": "v2"}})
    stale = {**first, "data": {"k": "v3"}}
    with pytest.raises(errors.Conflict) as exc:
        await cms.update(stale)
    assert "the object has been modified" in exc.value.message
    # Without a resourceVersion the update is unconditional.
    stale["metadata"] = {k: v for k, v in stale["metadata"].items() if k != "resourceVersion"}
    third = await cms.update(stale)
    assert third["data"] == {"k": "v3"}
    assert int(third["metadata"]["resourceVersion"]) > int(second["metadata"]["resourceVersion"])


async def test_put_creates_a_missing_object(client, ns):
    made = await client.config_maps(ns).update(sample("configmaps", "fresh"))
    assert made["metadata"]["uid"]
    assert (await client.config_maps(ns).get("fresh"))["data"] == {"k": "v"}


async def test_missing_objects_are_not_found(client, ns):
    for call in (client.pods(ns).get("nope"), client.pods(ns).delete("nope"),
                 client.pods(ns).patch("nope", {"metadata": {"labels": {"a": "b"}}})):
        with pytest.raises(errors.NotFound):
            await call


async def test_update_status_changes_only_status(client, ns):
    pods = client.pods(ns)
    p = await pods.create(pod("p"))
    p["status"] = {**p.get("status", {}), "phase": "Running", "podIP": "10.0.0.9"}
    p["spec"]["containers"][0]["image"] = "ignored"
    after = await pods.update_status(p)
    assert after["status"]["phase"] == "Running"
    assert after["spec"]["containers"][0]["image"] == "busybox"
    # And the main resource keeps status as it was.
    after["status"]["phase"] = "Failed"
    after["metadata"]["labels"] = {"kept": "yes"}
    again = await pods.update(after)
    assert again["status"]["phase"] == "Running" and again["metadata"]["labels"] == {"kept": "yes"}


async def test_patch_types(client, ns):
    pods = client.pods(ns)
    await pods.create({**pod("p"), "spec": {"containers": [{"name": "a", "image": "one"},
                                                           {"name": "b", "image": "two"}]}})
    # Strategic merge: containers merge by name.
    p = await pods.patch("p", {"spec": {"containers": [{"name": "b", "image": "three"}]}})
    assert [(c["name"], c["image"]) for c in p["spec"]["containers"]] == [("a", "one"), ("b", "three")]
    # JSON patch, and a failing test op is 422 Invalid.
    p = await pods.patch("p", [{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}], patch_type="json")
    assert p["metadata"]["labels"] == {"x": "y"}
    with pytest.raises(errors.Invalid):
        await pods.patch("p", [{"op": "test", "path": "/metadata/labels/x", "value": "z"}], patch_type="json")
    # A resourceVersion in a patch is a precondition (Kubernetes' patcher).
    with pytest.raises(errors.Conflict):
        await pods.patch("p", {"metadata": {"resourceVersion": "1", "labels": {"q": "r"}}}, patch_type="merge")


async def test_server_side_apply(client, ns):
    cms = client.config_maps(ns)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}}
    first = await cms.patch("applied", body, patch_type="apply", field_manager="tester")
    assert first["data"] == {"a": "1"}
    second = await cms.patch("applied", {**body, "data": {"a": "2"}}, patch_type="apply", field_manager="tester")
    assert second["data"] == {"a": "2"}


async def test_delete_preconditions_and_finalizers(client, ns):
    cms = client.config_maps(ns)
    cm = await cms.create({**sample("configmaps", "held"), "metadata": {"name": "held", "finalizers": ["test/hold"]}})
    with pytest.raises(errors.Conflict) as exc:
        await cms.delete("held", preconditions={"uid": "not-the-uid"})
    assert "Precondition failed" in exc.value.message
    marked = await cms.delete("held", preconditions={"uid": cm["metadata"]["uid"]})
    assert marked["metadata"]["deletionTimestamp"]
    still = await cms.get("held")
    still["metadata"]["finalizers"] = []
    await cms.update(still)
    with pytest.raises(errors.NotFound):
        await cms.get("held")


async def test_pods_on_a_node_delete_gracefully(client, ns):
    pods = client.pods(ns)
    await pods.create(pod("bound", node="n1"))
    marked = await pods.delete("bound", grace_period_seconds=30)
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["deletionGracePeriodSeconds"] == 30
    await pods.delete("bound", grace_period_seconds=0)
    with pytest.raises(errors.NotFound):
        await pods.get("bound")


async def test_delete_collection_by_label(client, ns):
    cms = client.config_maps(ns)
    for i in range(4):
        await cms.create({**sample("configmaps", f"c{i}"),
                          "metadata": {"name": f"c{i}", "labels": {"even": str(i % 2 == 0).lower()}}})
    await cms.delete_collection(label_selector="even=true")
    left = sorted(o["metadata"]["name"] for o in (await cms.list())["items"])
    assert left == ["c1", "c3"]


async def test_list_selectors_and_pages(client, ns):
    pods = client.pods(ns)
    for i in range(7):
        await pods.create(pod(f"p{i}", labels={"app": "web" if i < 5 else "db"}))
    web = await pods.list(label_selector="app=web")
    assert len(web["items"]) == 5
    one = await pods.list(field_selector="metadata.name=p6")
    assert [o["metadata"]["name"] for o in one["items"]] == ["p6"]
    page = await pods.list(limit=3)
    assert len(page["items"]) == 3 and page["metadata"]["continue"]
    names = [o["metadata"]["name"] for o in page["items"]]
    while page["metadata"].get("continue"):
        page = await pods.list(limit=3, continue_=page["metadata"]["continue"])
        names += [o["metadata"]["name"] for o in page["items"]]
    assert sorted(names) == [f"p{i}" for i in range(7)]
    everything = await pods.list_all(page_size=2)
    assert len(everything["items"]) == 7 and "continue" not in everything["metadata"]
    # All namespaces.
    assert len([o for o in (await client.pods().list(label_selector="app=db"))["items"]
                if o["metadata"]["namespace"] == ns]) == 2


async def test_watch_sees_changes_in_order_and_resumes(client, ns):
    cms = client.config_maps(ns)
    start = (await cms.list())["metadata"]["resourceVersion"]
    a = await cms.create(sample("configmaps", "a"))
    b = await cms.update({**a, "data": {"k": "2"}})
    await cms.delete("a")
    seen = []
    async with cms.watch(resource_version=start, timeout_seconds=5) as w:
        async for ev in w:
            seen.append((ev.type, ev.object["metadata"]["name"], ev.resource_version))
            if len(seen) == 3:
                break
    assert [s[0] for s in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert seen[1][2] == b["metadata"]["resourceVersion"]
    # Resume from the MODIFIED event: only the deletion remains.
    async with cms.watch(resource_version=seen[1][2], timeout_seconds=5) as w:
        ev = await w.__anext__()
    assert (ev.type, ev.object["metadata"]["name"]) == ("DELETED", "a")


async def test_watch_without_version_starts_with_current_state(client, ns):
    cms = client.config_maps(ns)
    await cms.create(sample("configmaps", "x"))
    await cms.create(sample("configmaps", "y"))
    got = []
    async with cms.watch(timeout_seconds=5) as w:
        async for ev in w:
            got.append((ev.type, ev.object["metadata"]["name"]))
            if len(got) == 2:
                await cms.create(sample("configmaps", "z"))
            if len(got) == 3:
                break
    assert got == [("ADDED", "x"), ("ADDED", "y"), ("ADDED", "z")]


async def test_watch_ends_cleanly_on_timeout(client, ns):
    events = [ev async for ev in client.config_maps(ns).watch(
        resource_version=(await client.config_maps(ns).list())["metadata"]["resourceVersion"], timeout_seconds=1)]
    assert events == []


async def test_watch_with_label_selector_sees_moves_in_and_out(client, ns):
    cms = client.config_maps(ns)
    start = (await cms.list())["metadata"]["resourceVersion"]
    await cms.create(sample("configmaps", "m"))
    await cms.patch("m", {"metadata": {"labels": {"sel": "yes"}}}, patch_type="merge")
    await cms.patch("m", {"metadata": {"labels": {"sel": "no"}}}, patch_type="merge")
    types = []
    async with cms.watch(resource_version=start, label_selector="sel=yes", timeout_seconds=5) as w:
        async for ev in w:
            types.append(ev.type)
            if len(types) == 2:
                break
    assert types == ["ADDED", "DELETED"]


async def test_bind_sets_node_once(client, ns):
    pods = client.pods(ns)
    await pods.create(pod("b"))
    await pods.bind("b", "node-1")
    got = await pods.get("b")
    assert got["spec"]["nodeName"] == "node-1"
    with pytest.raises(errors.Conflict) as exc:
        await pods.bind("b", "node-2")
    assert 'already assigned to node "node-1"' in exc.value.message
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in got["status"].get("conditions") or ())


async def test_generate_name(client, ns):
    made = await client.config_maps(ns).create({"metadata": {"generateName": "gen-"}, "data": {}})
    assert made["metadata"]["name"].startswith("gen-") and len(made["metadata"]["name"]) > 4


async def test_version_and_discovery(client):
    v = await client.version()
    assert v["gitVersion"].startswith("v1.")
    lists = await client.server_resources()
    core = next(lst for lst in lists if lst["groupVersion"] == "v1")
    assert {"pods", "nodes", "pods/binding"} <= {r["name"] for r in core["resources"]}
    assert any(lst["groupVersion"] == "coordination.k8s.io/v1" for lst in lists)


async def test_namespaced_verbs_need_a_namespace(client):
    with pytest.raises(ValueError):
        await client.pods().get("x")


def test_fake_is_the_same_surface():
    """Every public method of the real resource client exists on the fake's."""
    fake = FakeClient()
    assert type(fake.pods("x")).__name__ == "PodClient"
