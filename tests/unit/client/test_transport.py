"""The HTTP transport against tiny aiohttp servers: stream edge cases the real
apiserver does not produce on demand (huge lines, drops, 429s, log follow)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pybernetes.client import Client, errors


@pytest.fixture
async def serve():
    servers = []

    async def start(routes: list[tuple[str, str, object]]) -> Client:
        app = web.Application()
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        client = Client.from_url(str(server.make_url("")).rstrip("/"))
        servers.append(client)
        return client
    yield start
    for s in reversed(servers):
        await s.close()


def _event(typ: str, obj: dict) -> bytes:
    return orjson.dumps({"type": typ, "object": obj}) + b"\n"


def _cm(name: str, rv: int, size: int = 0) -> dict:
    return {"kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)},
            "data": {"big": "x" * size}}


async def _stream(request: web.Request, chunks: list[bytes], *, abort: bool = False) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for c in chunks:
        # Split each line across writes: the client must reassemble.
        for i in range(0, len(c), 65536):
            await resp.write(c[i:i + 65536])
    if abort:
        request.transport.close()  # no final chunk: a dropped connection
        return resp
    await resp.write_eof()
    return resp


async def test_watch_reassembles_huge_lines_and_ends_cleanly(serve):
    async def watch(request):
        assert request.query["watch"] == "true" and request.query["resourceVersion"] == "5"
        return await _stream(request, [_event("ADDED", _cm("a", 6, 300_000)), _event("DELETED", _cm("a", 7))])
    client = await serve([("GET", "/api/v1/namespaces/default/configmaps", watch)])
    events = [ev async for ev in client.config_maps("default").watch(resource_version="5")]
    assert [(e.type, e.resource_version) for e in events] == [("ADDED", "6"), ("DELETED", "7")]
    assert len(events[0].object["data"]["big"]) == 300_000


async def test_watch_error_event_410_raises_expired(serve):
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": "too old resource version: 1 (5)", "reason": "Expired", "code": 410}

    async def watch(request):
        return await _stream(request, [_event("ADDED", _cm("a", 6)), _event("ERROR", status)])
    client = await serve([("GET", "/api/v1/namespaces/default/configmaps", watch)])
    w = client.config_maps("default").watch(resource_version="1")
    assert (await w.__anext__()).type == "ADDED"
    with pytest.raises(errors.Expired) as exc:
        await w.__anext__()
    assert exc.value.message == "too old resource version: 1 (5)"


async def test_watch_http_410_raises_expired(serve):
    async def watch(request):
        return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "message": "gone", "reason": "Gone", "code": 410}, status=410)
    client = await serve([("GET", "/api/v1/namespaces/default/configmaps", watch)])
    with pytest.raises(errors.Expired):
        async for _ in client.config_maps("default").watch(resource_version="1"):
            pass


async def test_dropped_stream_raises_connection_failed(serve):
    async def watch(request):
        return await _stream(request, [_event("ADDED", _cm("a", 6))], abort=True)
    client = await serve([("GET", "/api/v1/namespaces/default/configmaps", watch)])
    w = client.config_maps("default").watch()
    assert (await w.__anext__()).type == "ADDED"
    with pytest.raises(errors.ConnectionFailed):
        await w.__anext__()


async def test_close_from_another_task_ends_the_watch(serve):
    async def watch(request):
        resp = web.StreamResponse()
        await resp.prepare(request)
        await asyncio.sleep(3600)
        return resp
    client = await serve([("GET", "/api/v1/configmaps", watch)])
    w = client.config_maps().watch()
    consumer = asyncio.create_task(_collect(w))
    await asyncio.sleep(0.05)
    await w.close()
    assert await asyncio.wait_for(consumer, 10) == []


async def _collect(w):
    return [ev async for ev in w]


async def test_429_is_retried_after_retry_after(serve):
    calls = []

    async def get(request):
        calls.append(1)
        if len(calls) < 3:
            return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": "slow down", "reason": "TooManyRequests", "code": 429,
                                      "details": {"retryAfterSeconds": 0}},
                                     status=429, headers={"Retry-After": "0"})
        return web.json_response(_cm("a", 3))
    client = await serve([("GET", "/api/v1/namespaces/default/configmaps/a", get)])
    assert (await client.config_maps("default").get("a"))["metadata"]["name"] == "a"
    assert len(calls) == 3


async def test_non_status_error_bodies_still_map(serve):
    async def get(request):
        return web.Response(status=404, text="404 page not found")
    client = await serve([("GET", "/api/v1/namespaces/default/configmaps/a", get)])
    with pytest.raises(errors.NotFound) as exc:
        await client.config_maps("default").get("a")
    assert exc.value.message == "404 page not found"


async def test_unreachable_server_is_connection_failed():
    async with Client.from_url("http://127.0.0.1:9") as client:
        with pytest.raises(errors.ConnectionFailed):
            await client.version()


async def test_log_and_follow(serve):
    async def log(request):
        if request.query.get("follow") == "true":
            assert request.query["container"] == "main" and request.query["tailLines"] == "2"
            return await _stream(request, [b"one\n", b"tw", b"o\n", b"three"])
        return web.Response(text="all of it\n")
    client = await serve([("GET", "/api/v1/namespaces/default/pods/p/log", log)])
    assert await client.pods("default").log("p") == "all of it\n"
    lines = [line async for line in client.pods("default").log("p", container="main", follow=True, tail_lines=2)]
    assert lines == ["one\n", "two\n", "three"]


async def test_requests_send_kubernetes_query_and_bodies(serve):
    seen = {}

    async def delete(request):
        seen["query"] = dict(request.query)
        seen["body"] = await request.json()
        return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})

    async def patch(request):
        seen["ct"] = request.headers["Content-Type"]
        seen["patch_query"] = dict(request.query)
        return web.json_response(_cm("a", 9))
    client = await serve([("DELETE", "/api/v1/namespaces/default/pods/p", delete),
                          ("PATCH", "/api/v1/namespaces/default/configmaps/a", patch)])
    await client.pods("default").delete("p", grace_period_seconds=0, propagation_policy="Foreground",
                                        preconditions={"uid": "u1"})
    assert seen["body"] == {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                            "propagationPolicy": "Foreground", "preconditions": {"uid": "u1"}}
    await client.config_maps("default").patch("a", {"data": {}}, patch_type="apply", field_manager="me",
                                               force=True)
    assert seen["ct"] == "application/apply-patch+yaml"
    assert seen["patch_query"] == {"fieldManager": "me", "force": "true"}


async def test_requests_carry_query_body_and_content_type_as_sent(serve):
    """Paths and queries are encoded once by the transport: the server reads back exactly what
    was asked (selectors with spaces, commas, parentheses, '=' and '!'), and bodies keep their
    Content-Type (JSON for writes, the patch type for PATCH)."""
    seen = []

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((request.method, request.path, dict(request.query), request.content_type, body))
        return web.json_response({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {}, "items": []})

    client = await serve([("*", "/{tail:.*}", echo)])
    cms = client.config_maps("default")
    await cms.list(label_selector="app in (a, b),tier!=db", field_selector="metadata.name=x")
    await cms.create({"metadata": {"name": "c"}}, field_manager="me:1/2")
    await cms.patch("c", {"data": {"k": "v"}}, patch_type="merge")
    await client.resource("", "v1", "configmaps", "default").get("name with space")
    lst, create, patch, get = seen
    assert lst[:3] == ("GET", "/api/v1/namespaces/default/configmaps",
                       {"labelSelector": "app in (a, b),tier!=db", "fieldSelector": "metadata.name=x"})
    assert create[:4] == ("POST", "/api/v1/namespaces/default/configmaps", {"fieldManager": "me:1/2"},
                          "application/json")
    assert orjson.loads(create[4]) == {"metadata": {"name": "c"}}
    assert patch[0] == "PATCH" and patch[3] == "application/merge-patch+json"
    assert get[:3] == ("GET", "/api/v1/namespaces/default/configmaps/name with space", {})
