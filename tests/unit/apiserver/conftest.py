"""A throwaway HTTP server serving only discovery + OpenAPI, for driving real kubectl.

It stands in for the real apiserver app (written elsewhere) so these pure
modules can be checked against stock kubectl: discovery, /openapi/v3, and a
recording POST handler that echoes the object back with 201.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from pybernetes.api.resources import by_plural
from pybernetes.apiserver import discovery, openapi, tables

KUBECTLS = {
    "1.32": shutil.which("kubectl.1.32") or "/usr/lib/google-cloud-sdk/bin/kubectl.1.32",
    "1.27": shutil.which("kubectl.1.27") or "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
}


def _json(doc, *, content_type: str = "application/json", status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status, content_type=None,
                        headers={"Content-Type": content_type})


@dataclass
class FakeServer:
    url: str
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    objects: list[dict] = field(default_factory=list)
    accepts: list[tuple[str, str]] = field(default_factory=list)
    aggregated: bool = True  # False: serve only legacy discovery
    serve_v2: bool = True  # False: /openapi/v2 answers 404
    watch_events: list[tuple[str, dict]] = field(default_factory=list)
    queries: list[dict] = field(default_factory=list)
    patches: list[tuple[str, str, object]] = field(default_factory=list)  # (content type, path, body)
    watch_headers: bool = True  # column definitions on every watch event's Table


def _make_app(state: FakeServer) -> web.Application:
    async def record(request: web.Request) -> None:
        state.accepts.append((request.path, request.headers.get("Accept", "")))

    async def root(request: web.Request, root_name: str) -> web.Response:
        await record(request)
        ct = discovery.negotiate_discovery(request.headers.get("Accept"))
        if ct and state.aggregated:
            return _json(discovery.aggregated_discovery(root_name, ct), content_type=ct)
        if root_name == "api":
            return _json(discovery.api_versions("127.0.0.1:6443"))
        return _json(discovery.api_group_list())

    async def api(request):
        return await root(request, "api")

    async def apis(request):
        return await root(request, "apis")

    async def core_version(request):
        await record(request)
        doc = discovery.api_resource_list("", request.match_info["version"])
        return _json(doc) if doc else web.Response(status=404)

    async def group(request):
        await record(request)
        doc = discovery.api_group(request.match_info["group"])
        return _json(doc) if doc else web.Response(status=404)

    async def group_version(request):
        await record(request)
        doc = discovery.api_resource_list(request.match_info["group"], request.match_info["version"])
        return _json(doc) if doc else web.Response(status=404)

    async def version(request):
        return _json({"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "",
                      "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z",
                      "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"})

    async def openapi_index(request):
        await record(request)
        doc = openapi.openapi_v3_index_document()
        return web.Response(body=doc.body, headers={"Content-Type": "application/json", "ETag": doc.etag})

    async def openapi_gv(request):
        await record(request)
        doc = openapi.openapi_v3_serialized(request.match_info["path"])
        if doc is None:
            return web.Response(status=404)
        return web.Response(body=doc.body, headers={"Content-Type": "application/json", "ETag": doc.etag})

    async def openapi_v2(request):
        await record(request)
        if not state.serve_v2 or "protobuf" not in request.headers.get("Accept", ""):
            return web.Response(status=404)
        doc = openapi.openapi_v2_protobuf()
        return web.Response(body=doc.body, headers={"Content-Type": doc.content_type, "ETag": doc.etag})

    async def create(request):
        body = await request.json()
        state.requests.append((request.method, request.path_qs, body))
        body.setdefault("metadata", {}).setdefault("namespace", request.match_info.get("ns"))
        body["metadata"].setdefault("creationTimestamp", "2024-01-01T00:00:00Z")
        state.objects.append(body)
        return _json(body, status=201)

    def find(request) -> dict | None:
        res = by_plural("", request.match_info["plural"])
        for o in state.objects:
            m = o["metadata"]
            if (o.get("kind") == res.kind and m.get("name") == request.match_info["name"]
                    and m.get("namespace") == request.match_info["ns"]):
                return o
        return None

    async def get_object(request):
        obj = find(request)
        if obj is None:
            res = by_plural("", request.match_info["plural"])
            name = request.match_info["name"]
            return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": f'{res.plural} "{name}" not found', "reason": "NotFound",
                          "details": {"name": name, "kind": res.plural}, "code": 404}, status=404)
        return _json(obj)

    async def patch_object(request):
        state.patches.append((request.headers.get("Content-Type"), request.path_qs, await request.json()))
        obj = find(request)
        return _json(obj) if obj else web.Response(status=404)

    async def list_objects(request):
        await record(request)
        res = by_plural("", request.match_info["plural"])
        state.queries.append(dict(request.query))
        ns = request.match_info.get("ns")
        items = [o for o in state.objects if o.get("kind") == res.kind
                 and (ns is None or o["metadata"].get("namespace") == ns)]
        if request.query.get("watch") in ("1", "true", "True"):
            # Replay the queued events (each object as a one-row Table), then end the stream.
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            await resp.prepare(request)
            want_table = tables.negotiate_table(request.headers.get("Accept"))
            for etype, obj in state.watch_events:
                out = tables.to_table_row_event(
                    res, obj, include_object=request.query.get("includeObject", ""),
                    include_headers=state.watch_headers) if want_table else obj
                await resp.write(orjson.dumps({"type": etype, "object": out}) + b"\n")
            await resp.write_eof()
            return resp
        if tables.negotiate_table(request.headers.get("Accept")):
            doc = tables.to_table(res, items, include_object=request.query.get("includeObject", ""),
                                  list_meta={"resourceVersion": "1"})
            return _json(doc)
        return _json({"kind": res.list_kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                      "items": items})

    app = web.Application()
    app.router.add_get("/api", api)
    app.router.add_get("/apis", apis)
    app.router.add_get("/version", version)
    app.router.add_get("/api/{version}", core_version)
    app.router.add_get("/apis/{group}", group)
    app.router.add_get("/apis/{group}/{version}", group_version)
    app.router.add_get("/openapi/v2", openapi_v2)
    app.router.add_get("/openapi/v3", openapi_index)
    app.router.add_get("/openapi/v3/{path:.+}", openapi_gv)
    app.router.add_post("/api/v1/namespaces/{ns}/{plural}", create)
    app.router.add_get("/api/v1/namespaces/{ns}/{plural}", list_objects)
    app.router.add_get("/api/v1/{plural}", list_objects)
    app.router.add_get("/api/v1/namespaces/{ns}/{plural}/{name}", get_object)
    app.router.add_patch("/api/v1/namespaces/{ns}/{plural}/{name}", patch_object)
    return app


@pytest.fixture
async def fake_server():
    state = FakeServer(url="")
    runner = web.AppRunner(_make_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
def kubectl(fake_server, tmp_path: Path):
    """Run a kubectl version ("1.32"/"1.27") against the fake server; returns (rc, out, err)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {fake_server.url}\n"
        "users:\n- name: u\n  user:\n    token: test\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: default\n"
        "current-context: c\n"
    )

    installed = {v: os.path.exists(b) for v, b in KUBECTLS.items()}

    async def run(*args: str, version: str = "1.32", stdin: bytes | None = None):
        binary = KUBECTLS[version]
        if not installed[version]:
            pytest.skip(f"kubectl {version} not installed")
        proc = await asyncio.create_subprocess_exec(
            binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / f"cache-{version}"),
            *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
        return proc.returncode, out.decode(), err.decode()

    return run
