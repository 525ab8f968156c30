"""The store's shortcuts answer exactly as the plain paths do: a
read-modify-write started from this store's last write (a guess) when another
writer moved the object behind its back, the namespace cache of the
NamespaceLifecycle check, and pooled UIDs."""

from __future__ import annotations

import uuid

import orjson
import pytest

from pybernetes.apiserver import errors
from pybernetes.apiserver.registry import RegistryConfig, build_stores
from pybernetes.apiserver.registry.pods import bind
from pybernetes.apiserver.store import DeleteOptions, encode
from pybernetes.apiserver.uids import new_uid
from pybernetes.storage.sqlite import SQLiteStorage


@pytest.fixture
async def stores(tmp_path):
    storage = SQLiteStorage(str(tmp_path / "db.sqlite"))
    stores = build_stores(storage, RegistryConfig())
    for name in ("default", "other"):
        await stores[("", "namespaces")].create(None, {"metadata": {"name": name}})
    yield stores
    await stores[("", "namespaces")].namespaces.close()
    await storage.close()


def _pod(name: str) -> dict:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def _write_behind(store, namespace: str, name: str, edit) -> None:
    """Another apiserver's write: straight to storage, unseen by ``store``."""
    key = store.resource.key(namespace, name)
    kv = await store.storage.get(key)
    obj = orjson.loads(kv.value)
    edit(obj)
    await store.storage.update(key, encode(obj), expected_revision=kv.mod_revision)


async def test_binding_after_a_write_elsewhere_sees_the_stored_pod(stores):
    pods = stores[("", "pods")]
    await pods.create("default", _pod("p"))
    await _write_behind(pods, "default", "p", lambda o: o["spec"].update(nodeName="n0"))
    with pytest.raises(errors.APIError) as e:
        await pods.guaranteed_update("default", "p", lambda pod: bind(pod, "n1"), validate=False)
    assert e.value.code == 409
    assert 'already assigned to node "n0"' in e.value.message


async def test_update_from_a_stale_guess_keeps_the_other_writers_change(stores):
    pods = stores[("", "pods")]
    await pods.create("default", _pod("p"))
    await _write_behind(pods, "default", "p", lambda o: o["metadata"].setdefault("labels", {}).update(a="1"))

    def label(pod: dict) -> dict:
        pod["metadata"]["labels"]["b"] = "2"  # a KeyError on the stale guess (no labels there)
        return pod
    out = await pods.guaranteed_update("default", "p", label)
    assert out["metadata"]["labels"] == {"a": "1", "b": "2"}
    stored = await pods.get("default", "p")
    assert stored["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert stored["metadata"]["resourceVersion"] == out["metadata"]["resourceVersion"]


async def test_no_op_on_a_stale_guess_answers_the_stored_object(stores):
    pods = stores[("", "pods")]
    created = await pods.create("default", _pod("p"))
    await _write_behind(pods, "default", "p", lambda o: o["metadata"].setdefault("labels", {}).update(a="1"))
    out = await pods.guaranteed_update("default", "p", lambda pod: pod)
    assert out["metadata"]["labels"] == {"a": "1"}
    assert int(out["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


async def test_guess_of_a_pod_deleted_elsewhere_is_not_found(stores):
    pods = stores[("", "pods")]
    await pods.create("default", _pod("p"))
    kv = await pods.storage.get(pods.resource.key("default", "p"))
    await pods.storage.delete(kv.key, expected_revision=kv.mod_revision)
    with pytest.raises(errors.APIError) as e:
        await pods.guaranteed_update("default", "p", lambda pod: bind(pod, "n1"), validate=False)
    assert e.value.code == 404


async def test_resource_version_precondition_against_a_stale_guess(stores):
    pods = stores[("", "pods")]
    created = await pods.create("default", _pod("p"))
    old_rv = created["metadata"]["resourceVersion"]
    await _write_behind(pods, "default", "p", lambda o: o["metadata"].setdefault("labels", {}).update(a="1"))

    def with_rv(pod: dict) -> dict:
        pod["metadata"]["resourceVersion"] = old_rv
        return pod
    with pytest.raises(errors.APIError) as e:
        await pods.guaranteed_update("default", "p", with_rv)
    assert e.value.code == 409


async def test_namespace_cache_follows_creates_and_deletions(stores):
    namespaces, pods = stores[("", "namespaces")], stores[("", "pods")]
    await pods.create("default", _pod("warm"))  # starts the cache
    await namespaces.create(None, {"metadata": {"name": "fresh"}})
    await pods.create("fresh", _pod("a"))  # created a moment ago: found
    await namespaces.delete(None, "fresh", DeleteOptions())  # Terminating (finalizer "kubernetes")
    with pytest.raises(errors.APIError) as e:
        await pods.create("fresh", _pod("b"))
    assert (e.value.code, e.value.reason) == (403, "Forbidden")
    assert "unable to create new content in namespace fresh because it is being terminated" in e.value.message
    with pytest.raises(errors.APIError) as e:
        await pods.create("missing", _pod("c"))
    assert (e.value.code, e.value.reason) == (404, "NotFound")


async def test_namespace_terminated_by_another_writer_is_seen(stores):
    pods = stores[("", "pods")]
    await pods.create("other", _pod("warm"))  # starts the cache
    await _write_behind(stores[("", "namespaces")], None, "other",
                        lambda o: o["status"].update(phase="Terminating"))
    with pytest.raises(errors.APIError) as e:
        await pods.create("other", _pod("x"))
    assert e.value.code == 403


def test_uids_are_random_version_4():
    uids = [new_uid() for _ in range(2000)]
    assert len(set(uids)) == len(uids)
    for text in uids:
        u = uuid.UUID(text)
        assert (u.version, u.variant, str(u)) == (4, uuid.RFC_4122, text)


async def test_binding_defaults_the_pod_as_read(stores):
    """Binding's write is made on the object as read, defaulted as Kubernetes
    decodes it from storage: a pod stored without defaults gets them, whether
    the update starts from this store's last write or from storage."""
    pods = stores[("", "pods")]
    await pods.create("default", _pod("p"))
    await _write_behind(pods, "default", "p", lambda o: o["spec"].pop("restartPolicy"))
    out = await pods.guaranteed_update("default", "p", lambda pod: bind(pod, "n1"), validate=False)
    assert (out["spec"]["nodeName"], out["spec"]["restartPolicy"]) == ("n1", "Always")
    stored = await pods.get("default", "p")
    assert stored["spec"]["restartPolicy"] == "Always"
    await pods.create("default", _pod("q"))  # a guess straight from create: defaulted already
    out = await pods.guaranteed_update("default", "q", lambda pod: bind(pod, "n2"), validate=False)
    assert (out["spec"]["nodeName"], out["spec"]["restartPolicy"]) == ("n2", "Always")


def _lease(name: str, holder: str, rv: str = "") -> dict:
    meta = {"name": name, **({"resourceVersion": rv} if rv else {})}
    return {"metadata": meta, "spec": {"holderIdentity": holder, "leaseDurationSeconds": 40}}


async def _lease_written_behind(stores) -> tuple[object, str, str]:
    """A lease this store created, then renewed by another writer: (store, created rv, current rv)."""
    leases = stores[("coordination.k8s.io", "leases")]
    created = await leases.create("default", _lease("l", "a"))
    await _write_behind(leases, "default", "l", lambda o: o["spec"].update(holderIdentity="b"))
    current = await leases.get("default", "l")
    return leases, created["metadata"]["resourceVersion"], current["metadata"]["resourceVersion"]


async def test_put_with_the_current_resource_version_succeeds_past_a_stale_guess(stores):
    leases, _, current = await _lease_written_behind(stores)
    out, created = await leases.update("default", "l", _lease("l", "c", current))
    assert not created and out["spec"]["holderIdentity"] == "c"
    assert int(out["metadata"]["resourceVersion"]) > int(current)


async def test_put_with_the_guessed_resource_version_is_a_conflict(stores):
    leases, old_rv, _ = await _lease_written_behind(stores)
    with pytest.raises(errors.APIError) as e:
        await leases.update("default", "l", _lease("l", "c", old_rv))
    assert e.value.code == 409
    assert (await leases.get("default", "l"))["spec"]["holderIdentity"] == "b"


async def test_put_equal_to_the_stale_guess_still_writes(stores):
    leases, _, current = await _lease_written_behind(stores)
    out, _ = await leases.update("default", "l", _lease("l", "a"))  # what this store last wrote
    assert out["spec"]["holderIdentity"] == "a"
    assert int(out["metadata"]["resourceVersion"]) > int(current)
    assert (await leases.get("default", "l"))["spec"]["holderIdentity"] == "a"


async def test_put_after_a_delete_elsewhere_creates(stores):
    leases = stores[("coordination.k8s.io", "leases")]
    await leases.create("default", _lease("l", "a"))
    kv = await leases.storage.get(leases.resource.key("default", "l"))
    await leases.storage.delete(kv.key, expected_revision=kv.mod_revision)
    out, created = await leases.update("default", "l", _lease("l", "c"))
    assert created and out["spec"]["holderIdentity"] == "c"
