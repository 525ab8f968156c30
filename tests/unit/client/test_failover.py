"""Client failover between apiserver URLs, against real aiohttp servers on 127.0.0.1.

A "stopped" server is one that was started and closed: its port refuses
connections. A "dropping" server reads the request and closes the connection
without answering (the request may have landed).
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pybernetes.client import Client, KubeConfig, errors, load_kubeconfig
from pybernetes.client.kubeconfig import APISERVERS_ENV


class Server:
    """One tiny apiserver stand-in recording the requests it saw."""

    def __init__(self, name: str):
        self.name = name
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.mode = "ok"  # ok | drop | error | hang
        self.watch_events: list[dict] = []
        self.watch_abort = False
        self.server: TestServer | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path, dict(request.query)))
        await request.read()
        if self.mode == "drop":
            request.transport.close()
            raise asyncio.CancelledError  # nothing more to say on a closed connection
        if self.mode == "hang":
            await asyncio.sleep(30)
        if self.mode == "error":
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "message": "boom", "reason": "InternalError", "code": 500}, status=500)
        if request.query.get("watch") == "true":
            return await self.stream(request)
        cm = {"kind": "ConfigMap", "apiVersion": "v1",
              "metadata": {"name": self.name, "namespace": "default", "resourceVersion": "1"}}
        return web.json_response(cm, status=201 if request.method == "POST" else 200)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for ev in self.watch_events:
            await resp.write(orjson.dumps(ev) + b"\n")
        if self.watch_abort:
            await asyncio.sleep(0.05)
            request.transport.close()  # no final chunk: the connection dropped
            return resp
        await resp.write_eof()
        return resp

    async def start(self, port: int = 0) -> Server:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1", port=port)
        await self.server.start_server()
        self.url = str(self.server.make_url("")).rstrip("/")
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None

    def paths(self, method: str | None = None) -> list[str]:
        return [p for m, p, _ in self.seen if method is None or m == method]


@pytest.fixture
async def servers():
    made: list[Server] = []
    clients: list[Client] = []

    async def make(*names: str) -> list[Server]:
        for n in names:
            made.append(await Server(n).start())
        return made

    make.clients = clients  # type: ignore[attr-defined]
    yield make
    for c in clients:
        await c.close()
    for s in made:
        await s.stop()


def _client(servers_fixture, *urls: str, **kw) -> Client:
    c = Client(servers=list(urls), **kw)
    servers_fixture.clients.append(c)
    return c


def _cm_event(typ: str, rv: int) -> dict:
    return {"type": typ, "object": {"kind": "ConfigMap", "apiVersion": "v1",
                                    "metadata": {"name": f"cm{rv}", "namespace": "default",
                                                 "resourceVersion": str(rv)}}}


async def test_stopped_first_server_fails_over_and_stays(servers):
    a, b = await servers("a", "b")
    await a.stop()  # its port now refuses connections
    client = _client(servers, a.url, b.url)
    got = await client.config_maps("default").get("x")
    assert got["metadata"]["name"] == "b"
    assert client.backend.server == b.url
    await client.config_maps("default").get("y")
    assert b.paths("GET") == ["/api/v1/namespaces/default/configmaps/x",
                              "/api/v1/namespaces/default/configmaps/y"]


async def test_post_moves_on_when_the_connection_never_opened(servers):
    a, b = await servers("a", "b")
    await a.stop()
    client = _client(servers, a.url, b.url)
    created = await client.config_maps("default").create({"metadata": {"name": "c"}})
    assert created["metadata"]["name"] == "b"
    assert b.paths("POST") == ["/api/v1/namespaces/default/configmaps"]


async def test_dropped_post_is_not_resent_but_the_next_call_moves_on(servers):
    a, b = await servers("a", "b")
    a.mode = "drop"
    client = _client(servers, a.url, b.url)
    with pytest.raises(errors.ConnectionFailed):
        await client.config_maps("default").create({"metadata": {"name": "c"}})
    assert a.paths("POST") == ["/api/v1/namespaces/default/configmaps"]
    assert b.paths("POST") == [], "a POST that may have landed is never sent twice"
    assert client.backend.server == b.url
    await client.config_maps("default").create({"metadata": {"name": "d"}})
    assert b.paths("POST") == ["/api/v1/namespaces/default/configmaps"]


async def test_dropped_get_and_put_are_resent_to_the_next_server(servers):
    a, b = await servers("a", "b")
    a.mode = "drop"
    client = _client(servers, a.url, b.url)
    assert (await client.config_maps("default").get("x"))["metadata"]["name"] == "b"
    client.backend._current = 0  # back to the dropping server for the PUT
    await client.config_maps("default").update({"metadata": {"name": "x", "namespace": "default"}})
    # (aiohttp itself may resend an idempotent request once on the same server.)
    assert {m for m, _, _ in a.seen} == {"GET", "PUT"}
    assert b.paths("GET") == b.paths("PUT") == ["/api/v1/namespaces/default/configmaps/x"]


async def test_a_get_that_times_out_is_resent_to_the_next_server(servers):
    a, b = await servers("a", "b")
    a.mode = "hang"
    client = _client(servers, a.url, b.url, request_timeout=0.5)
    assert (await client.config_maps("default").get("x"))["metadata"]["name"] == "b"
    assert client.backend.server == b.url
    client.backend._current = 0
    with pytest.raises(errors.ConnectionFailed, match="timed out"):
        await client.config_maps("default").create({"metadata": {"name": "c"}})
    assert b.paths("POST") == []


async def test_http_errors_do_not_fail_over(servers):
    a, b = await servers("a", "b")
    a.mode = "error"
    client = _client(servers, a.url, b.url)
    with pytest.raises(errors.InternalError):
        await client.config_maps("default").get("x")
    assert client.backend.server == a.url
    assert b.seen == []


async def test_every_server_down_is_connection_failed(servers):
    a, b = await servers("a", "b")
    await a.stop()
    await b.stop()
    client = _client(servers, a.url, b.url)
    with pytest.raises(errors.ConnectionFailed):
        await client.config_maps("default").get("x")


async def test_one_url_behaves_as_before(servers):
    (a,) = await servers("a")
    await a.stop()
    client = _client(servers, a.url)
    with pytest.raises(errors.ConnectionFailed):
        await client.config_maps("default").get("x")
    assert client.backend.servers == (a.url,)


async def test_watch_resumes_on_the_next_server_from_its_last_resource_version(servers):
    a, b = await servers("a", "b")
    a.watch_events = [_cm_event("ADDED", 11), _cm_event("MODIFIED", 12), {"type": "BOOKMARK", "object": {
        "kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": "15"}}}]
    a.watch_abort = True
    b.watch_events = [_cm_event("DELETED", 16), _cm_event("ADDED", 17)]
    client = _client(servers, a.url, b.url)
    seen = []
    async with client.config_maps("default").watch(resource_version="10", timeout_seconds=60,
                                                   allow_watch_bookmarks=True) as w:
        async for ev in w:
            seen.append((ev.type, ev.resource_version))
    assert seen == [("ADDED", "11"), ("MODIFIED", "12"), ("BOOKMARK", "15"), ("DELETED", "16"), ("ADDED", "17")]
    (_, _, query), = [s for s in b.seen]
    assert query["resourceVersion"] == "15", "resumed from the last delivered resourceVersion"
    assert query["watch"] == "true"
    assert 1 <= int(query["timeoutSeconds"]) <= 60
    assert w.resumes == 1


async def test_watch_opens_on_the_next_server_when_the_first_is_down(servers):
    a, b = await servers("a", "b")
    await a.stop()
    b.watch_events = [_cm_event("ADDED", 3)]
    client = _client(servers, a.url, b.url)
    async with client.config_maps("default").watch(resource_version="2") as w:
        assert [ev.resource_version async for ev in w] == ["3"]


async def test_watch_from_now_is_not_resumed(servers):
    """Without a starting resourceVersion the stream begins with a synthetic list
    that cannot be resumed exactly: the caller must relist."""
    a, b = await servers("a", "b")
    a.watch_events = [_cm_event("ADDED", 11)]
    a.watch_abort = True
    client = _client(servers, a.url, b.url)
    seen = []
    with pytest.raises(errors.ConnectionFailed):
        async for ev in client.config_maps("default").watch():
            seen.append(ev.resource_version)
    assert seen == ["11"]
    assert b.seen == []
    assert client.backend.server == a.url or client.backend.server == b.url  # either is fine: nothing was resent


async def test_watch_gives_up_when_every_server_is_gone(servers):
    a, b = await servers("a", "b")
    a.watch_events = [_cm_event("ADDED", 11)]
    a.watch_abort = True
    await b.stop()
    client = _client(servers, a.url, b.url)
    a_url = a.url

    async def consume() -> list[str]:
        seen = []
        async for ev in client.config_maps("default").watch(resource_version="10"):
            seen.append(ev.resource_version)
            await a.stop()  # the first server goes away for good after one event
        return seen

    with pytest.raises(errors.ConnectionFailed):
        await asyncio.wait_for(consume(), 30)
    assert a_url in client.backend.servers


def test_kubeconfig_env_adds_failover_urls(tmp_path, monkeypatch):
    cfg = tmp_path / "config"
    cfg.write_text("apiVersion: v1\nkind: Config\n"
                   "clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1/\n"
                   "users:\n- name: u\n  user: {token: t}\n"
                   "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n")
    monkeypatch.delenv(APISERVERS_ENV, raising=False)
    assert load_kubeconfig(cfg).servers == ("http://127.0.0.1:1",)
    monkeypatch.setenv(APISERVERS_ENV, " http://127.0.0.1:2/, http://127.0.0.1:1,,http://127.0.0.1:3")
    conf = load_kubeconfig(cfg)
    assert conf.server == "http://127.0.0.1:1"
    assert conf.servers == ("http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3")
    assert Client(conf).backend.headers["Authorization"] == "Bearer t"
    monkeypatch.setenv(APISERVERS_ENV, "https://127.0.0.1:2")
    with pytest.raises(errors.ConfigError, match="must use http"):
        load_kubeconfig(cfg)


def test_kubeconfig_extension_lists_failover_urls(tmp_path, monkeypatch):
    cfg = tmp_path / "config"
    cfg.write_text("apiVersion: v1\nkind: Config\n"
                   "clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n"
                   "    extensions:\n    - name: other\n      extension: {servers: 7}\n"
                   "    - name: pybernetes.io/failover-servers\n"
                   "      extension: {servers: ['http://127.0.0.1:2/', 'http://127.0.0.1:1']}\n"
                   "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n")
    monkeypatch.setenv(APISERVERS_ENV, "http://127.0.0.1:3")
    assert load_kubeconfig(cfg).servers == ("http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3")
    cfg.write_text(cfg.read_text().replace("['http://127.0.0.1:2/', 'http://127.0.0.1:1']", "http://x"))
    with pytest.raises(errors.ConfigError, match="wants servers"):
        load_kubeconfig(cfg)


def test_client_constructors_take_several_urls():
    c = Client.from_url("http://127.0.0.1:1, http://127.0.0.1:2/", token="t")
    assert c.backend.servers == ("http://127.0.0.1:1", "http://127.0.0.1:2")
    base = KubeConfig(server="https://h:1", token="t")
    c = Client(base, servers=["https://a:1", "https://b:2"])
    assert c.config.servers == ("https://a:1", "https://b:2") and c.config.token == "t"
    with pytest.raises(ValueError):
        Client(servers=[])
