"""Selectors, pagination, watch semantics, compaction → 410."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import APIServerProcess

from .wire import Wire, pod

NS = "/api/v1/namespaces/default"


@pytest.fixture
async def wire(apiserver):
    w = Wire(apiserver.url)
    yield w
    await w.close()


async def _make_pods(wire, n, **labels):
    for i in range(n):
        p = pod(f"p{i:03d}", **({"nodeName": "n1"} if i % 2 else {}))
        p["metadata"]["labels"] = {"idx": str(i), "parity": "odd" if i % 2 else "even", **labels}
        status, body, _ = await wire.req("POST", f"{NS}/pods", p)
        assert status == 201, body


async def test_label_selectors(wire):
    await _make_pods(wire, 6)

    async def names(sel):
        status, body, _ = await wire.req("GET", f"{NS}/pods", params={"labelSelector": sel})
        assert status == 200, body
        return [i["metadata"]["name"] for i in body["items"]]

    assert await names("parity=odd") == ["p001", "p003", "p005"]
    assert await names("parity==even,idx!=0") == ["p002", "p004"]
    assert await names("idx in (1,2),parity notin (odd)") == ["p002"]
    assert await names("parity") == [f"p{i:03d}" for i in range(6)]
    assert await names("!parity") == []
    status, body, _ = await wire.req("GET", f"{NS}/pods", params={"labelSelector": "a in (b"})
    assert status == 400 and body["reason"] == "BadRequest"


async def test_field_selectors(wire):
    await _make_pods(wire, 4)

    async def names(sel, path=f"{NS}/pods"):
        status, body, _ = await wire.req("GET", path, params={"fieldSelector": sel})
        assert status == 200, body
        return [i["metadata"]["name"] for i in body["items"]]

    assert await names("spec.nodeName=n1") == ["p001", "p003"]
    assert await names("spec.nodeName=") == ["p000", "p002"]
    assert await names("metadata.name=p002") == ["p002"]
    assert await names("status.phase=Pending,metadata.name!=p000") == ["p001", "p002", "p003"]
    assert await names("metadata.namespace=default", "/api/v1/pods") == [f"p{i:03d}" for i in range(4)]
    status, body, _ = await wire.req("GET", f"{NS}/pods", params={"fieldSelector": "spec.bogus=1"})
    assert status == 400 and body["message"] == "field label not supported: spec.bogus"


async def test_all_namespaces_list(wire):
    await wire.req("POST", "/api/v1/namespaces", {"metadata": {"name": "other"}})
    await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": "a"}})
    await wire.req("POST", "/api/v1/namespaces/other/configmaps", {"metadata": {"name": "b"}})
    _, body, _ = await wire.req("GET", "/api/v1/configmaps")
    assert {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]} == \
        {("default", "a"), ("other", "b")}


async def test_pagination_is_consistent(wire):
    await _make_pods(wire, 7)
    status, page1, _ = await wire.req("GET", f"{NS}/pods", params={"limit": "3"})
    assert [i["metadata"]["name"] for i in page1["items"]] == ["p000", "p001", "p002"]
    token = page1["metadata"]["continue"]
    # A write between pages does not show up: pages are read at the first page's revision.
    await wire.req("POST", f"{NS}/pods", pod("p0015"))
    seen = [i["metadata"]["name"] for i in page1["items"]]
    while token:
        status, page, _ = await wire.req("GET", f"{NS}/pods", params={"limit": "3", "continue": token})
        assert status == 200 and page["metadata"]["resourceVersion"] == page1["metadata"]["resourceVersion"]
        seen += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert seen == [f"p{i:03d}" for i in range(7)]
    # With a selector, limit counts matches.
    _, odd, _ = await wire.req("GET", f"{NS}/pods", params={"limit": "2", "labelSelector": "parity=odd"})
    assert [i["metadata"]["name"] for i in odd["items"]] == ["p001", "p003"] and odd["metadata"]["continue"]
    status, body, _ = await wire.req("GET", f"{NS}/pods", params={"continue": "garbage!"})
    assert status == 400


async def test_watch_initial_state_then_changes(wire):
    await _make_pods(wire, 2)

    async def mutate():
        await asyncio.sleep(0.3)
        await wire.req("POST", f"{NS}/pods", pod("late"))
        await wire.req("DELETE", f"{NS}/pods/p000")

    task = asyncio.create_task(mutate())
    events = await wire.watch(f"{NS}/pods", {}, until=lambda ev: len(ev) >= 4)
    await task
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "p000"), ("ADDED", "p001"), ("ADDED", "late"), ("DELETED", "p000")]
    # The deleted object's resourceVersion is the deletion's revision.
    assert int(events[3]["object"]["metadata"]["resourceVersion"]) > int(events[2]["object"]["metadata"]["resourceVersion"])


async def test_watch_resume_misses_no_event(wire):
    _, lst, _ = await wire.req("GET", f"{NS}/configmaps")
    rv = lst["metadata"]["resourceVersion"]
    created = []
    for i in range(30):
        _, cm, _ = await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": f"c{i}"}})
        created.append(cm["metadata"]["resourceVersion"])
    # Resume from the 10th event's resourceVersion: exactly the later 20 arrive, in order.
    events = await wire.watch(f"{NS}/configmaps", {"resourceVersion": created[9]},
                              until=lambda ev: len(ev) >= 20)
    assert [e["object"]["metadata"]["name"] for e in events] == [f"c{i}" for i in range(10, 30)]
    assert all(e["type"] == "ADDED" for e in events)
    events = await wire.watch(f"{NS}/configmaps", {"resourceVersion": rv}, until=lambda ev: len(ev) >= 30)
    assert len(events) == 30


async def test_watch_timeout_and_bookmark_and_single_object(wire):
    await _make_pods(wire, 3)
    _, lst, _ = await wire.req("GET", f"{NS}/pods")
    rv = lst["metadata"]["resourceVersion"]
    events = await wire.watch(f"{NS}/pods", {"resourceVersion": rv, "timeoutSeconds": "1"})
    assert events == []  # the stream ended by itself after the timeout

    async def touch():
        await asyncio.sleep(0.3)
        for name in ("p000", "p001"):
            _, p, _ = await wire.req("GET", f"{NS}/pods/{name}")
            p["metadata"]["labels"]["touched"] = "1"
            await wire.req("PUT", f"{NS}/pods/{name}", p)

    task = asyncio.create_task(touch())
    events = await wire.watch(f"{NS}/pods", {"resourceVersion": rv, "fieldSelector": "metadata.name=p001"},
                              until=lambda ev: len(ev) >= 1)
    await task
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("MODIFIED", "p001")]


async def test_watch_selector_transitions(wire):
    await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": "m", "labels": {"sel": "no"}}})
    _, lst, _ = await wire.req("GET", f"{NS}/configmaps")
    rv = lst["metadata"]["resourceVersion"]

    async def flip():
        await asyncio.sleep(0.3)
        for value in ("yes", "no"):
            _, cm, _ = await wire.req("GET", f"{NS}/configmaps/m")
            cm["metadata"]["labels"]["sel"] = value
            await wire.req("PUT", f"{NS}/configmaps/m", cm)

    task = asyncio.create_task(flip())
    events = await wire.watch(f"{NS}/configmaps", {"resourceVersion": rv, "labelSelector": "sel=yes"},
                              until=lambda ev: len(ev) >= 2)
    await task
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


@pytest.fixture
async def compacting(tmp_path):
    server = APIServerProcess(tmp_path / "c", ("--compaction-interval", "0.3",
                                               "--compaction-keep-revisions", "1")).start()
    w = Wire(server.url)
    yield w
    await w.close()
    server.stop()


async def test_compacted_revision_is_410(compacting):
    wire = compacting
    _, first, _ = await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": "old"}})
    old_rv = first["metadata"]["resourceVersion"]
    for i in range(5):
        await wire.req("PUT", f"{NS}/configmaps/old", {"metadata": {"name": "old"}, "data": {"i": str(i)}})
    for i in range(4):
        await wire.req("POST", f"{NS}/configmaps", {"metadata": {"name": f"x{i}"}})
    _, page, _ = await wire.req("GET", f"{NS}/configmaps", params={"limit": "1"})
    token = page["metadata"]["continue"]
    for i in range(5):
        await wire.req("PUT", f"{NS}/configmaps/old", {"metadata": {"name": "old"}, "data": {"j": str(i)}})
    for _ in range(100):  # wait for the periodic compactor to pass the old revisions
        events = await wire.watch(f"{NS}/configmaps", {"resourceVersion": old_rv, "timeoutSeconds": "1"},
                                  until=lambda ev: True)
        if events and events[0]["type"] == "ERROR":
            break
        await asyncio.sleep(0.2)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    assert events[0]["object"]["message"].startswith(f"too old resource version: {old_rv} (")
    for _ in range(100):  # the token's revision is newer than old_rv: a later compaction passes it
        status, body, _ = await wire.req("GET", f"{NS}/configmaps", params={"limit": "1", "continue": token})
        if status != 200:
            break
        await asyncio.sleep(0.2)
    assert status == 410 and body["reason"] == "Expired"


async def test_watch_bookmark_marks_end_of_initial_events(wire):
    await _make_pods(wire, 2)
    events = await wire.watch(f"{NS}/pods", {"sendInitialEvents": "true", "allowWatchBookmarks": "true",
                                             "resourceVersionMatch": "NotOlderThan"},
                              until=lambda ev: ev[-1]["type"] == "BOOKMARK")
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    mark = events[-1]["object"]["metadata"]
    assert mark["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(mark["resourceVersion"]) >= int(events[1]["object"]["metadata"]["resourceVersion"])
