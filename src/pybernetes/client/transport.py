"""The HTTP backend: Kubernetes' REST paths over one pooled aiohttp session.

One ``aiohttp.ClientSession`` per client (keep-alive connection pool; unbounded
by default, since every open watch holds a connection for its lifetime),
created on first use inside the running loop and closed by ``close()``.
Bodies are JSON (orjson); failures become the APIError for the Status the
server sent; network failures become ConnectionFailed.

Failover between apiservers (``KubeConfig.servers``; one URL: none). The
backend talks to one server at a time and stays with it while it answers.
When a server cannot be reached the backend moves to the next URL (round
robin) for this request and every later one:

- the connection could not be opened (refused, unreachable, connect timeout):
  the request never reached a server and is sent to the next one, any method;
- the connection broke after the request was sent (reset, disconnected, read
  timeout, truncated body): GET/HEAD/PUT/DELETE (idempotent in HTTP) are sent
  again to the next server; POST and PATCH are not (they may have been
  applied) and raise ConnectionFailed — the next call goes to the next server.
  A retried PUT or DELETE whose first attempt did land answers as a repeat
  would (Conflict on a stale resourceVersion, NotFound), as with any retry;
- an HTTP answer, error or not, is never a reason to fail over.

A request tries each server at most once, then raises ConnectionFailed.
Watches opened from a specific resourceVersion resume on the next server from
the last resourceVersion they delivered (see :class:`HTTPWatch`), so an
informer keeps its cache without relisting.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson
from aiohttp.payload import BytesPayload
from yarl import URL

from .. import __version__
from ..api.resources import ResourceInfo
from . import errors
from .kubeconfig import KubeConfig
from .resource import PATCH_CONTENT_TYPES, ListOptions
from .watch import Watch, WatchEvent, event_from_line

__all__ = ["HTTPBackend", "HTTPWatch"]

log = logging.getLogger(__name__)

JSON = "application/json"
USER_AGENT = f"pybernetes/{__version__}"
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# The connection never opened: no server saw the request.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# The connection broke (or stalled) once open: the request may have landed.
_BROKEN = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError, ConnectionError)


def _path(info: ResourceInfo, ns: str | None, name: str = "", subresource: str = "") -> str:
    p = info.base_path(ns)
    if name:
        p += "/" + name
        if subresource:
            p += "/" + subresource
    return p


# Paths made only of these characters are already valid as sent (names, plurals,
# namespaces): they skip yarl's re-encoding.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._~/:@!$&'()*+,;=-]*")


def _url(server: str, path: str, query: dict[str, str] | None) -> URL | str:
    """The request URL, encoded once here (aiohttp then takes it as is)."""
    if _PLAIN_PATH.fullmatch(path) is None:
        url = URL(server + path)
        return url.with_query(query) if query else url
    if query:
        return URL(f"{server}{path}?{urlencode(query, quote_via=quote)}", encoded=True)
    return URL(server + path, encoded=True)


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return None


def _retry_delay(status: int, retry_after: str | None) -> float | None:
    """Seconds to wait before retrying this answer, or None to not retry."""
    if status != 429 and not (500 <= status < 600 and retry_after):
        return None
    try:
        seconds = float(retry_after) if retry_after else 1.0
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), 10.0)


def _raise_for(status: int, body: bytes) -> None:
    decoded = _decode(body)
    raise errors.from_status(decoded if isinstance(decoded, dict) else None, status,
                             text=body[:500].decode(errors="replace").strip() or f"HTTP {status}")


class HTTPBackend:
    """Implements :class:`~pybernetes.client.resource.Backend` over HTTP."""

    def __init__(self, config: KubeConfig, *, request_timeout: float = 60.0, pool_size: int = 0,
                 user_agent: str = USER_AGENT, max_retries: int = 5):
        self.config = config
        self.servers = config.servers
        self._current = 0  # index into servers of the one in use
        self.max_retries = max_retries
        self.request_timeout = request_timeout
        self.pool_size = pool_size
        self.headers = {"Accept": JSON, "User-Agent": user_agent, **config.auth_headers()}
        self._ssl = config.ssl_context()
        self._session: aiohttp.ClientSession | None = None
        self._extra: dict[str, Any] = {}
        if config.tls_server_name:
            self._extra["server_hostname"] = config.tls_server_name

    # -- session -------------------------------------------------------------
    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.pool_size, ssl=self._ssl if self._ssl else False,
                                             keepalive_timeout=30)
            # No cookie jar: the apiserver sets no cookies, and a jar is consulted per request.
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self.headers, json_serialize=lambda o: orjson.dumps(o).decode(),
                timeout=aiohttp.ClientTimeout(total=self.request_timeout, connect=10),
                cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # -- which server --------------------------------------------------------
    @property
    def server(self) -> str:
        """The apiserver URL requests go to now."""
        return self.servers[self._current]

    def server_failed(self, server: str, reason: object) -> None:
        """``server`` could not be reached: move on to the next URL, unless a
        concurrent request already did (so one outage moves the client once)."""
        if len(self.servers) > 1 and self.servers[self._current] == server:
            self._current = (self._current + 1) % len(self.servers)
            log.warning("apiserver %s unreachable (%s); failing over to %s", server, str(reason) or "timed out",
                        self.server)

    # -- one request -----------------------------------------------------------
    async def request(self, method: str, path: str, *, query: dict[str, str] | None = None,
                      body: Any = None, content_type: str = JSON, raw: bool = False) -> Any:
        """Send one request; the decoded JSON answer (or text when ``raw``)."""
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else orjson.dumps(body)
        attempt = 0
        unreachable = 0  # servers this request found unreachable
        while True:
            server = self.server
            try:
                # A ready payload carries its Content-Type: no per-request header merging
                # or payload-type lookup in aiohttp.
                resp = await self.session.request(
                    method, _url(server, path, query),
                    data=None if data is None else BytesPayload(data, content_type=content_type),
                    **self._extra)
                try:
                    payload = await resp.read()
                finally:
                    resp.release()
                status, retry_after = resp.status, resp.headers.get("Retry-After")
            except _BROKEN as e:
                self.server_failed(server, e)
                unreachable += 1
                retry = isinstance(e, _NOT_SENT) or method in IDEMPOTENT
                if retry and unreachable < len(self.servers):
                    continue
                raise errors.ConnectionFailed(f"{method} {server}{path}: {str(e) or 'timed out'}") from e
            except aiohttp.ClientError as e:
                raise errors.ConnectionFailed(f"{method} {server}{path}: {e}") from e
            # As client-go: 429, and 5xx answers carrying Retry-After, were not acted
            # on by the server; wait as told and send again, a few times.
            delay = _retry_delay(status, retry_after)
            if delay is not None and attempt < self.max_retries:
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if status >= 400:
                _raise_for(status, payload)
            break
        if raw:
            return payload.decode(errors="replace")
        decoded = _decode(payload)
        if decoded is None:
            raise errors.InternalError(errors.status_for(500, f"{method} {path}: answer is not JSON"))
        return decoded

    async def open_stream(self, path: str, query: dict[str, str]) -> aiohttp.ClientResponse:
        """A streaming GET (watch, log follow): no overall timeout. Fails over while opening."""
        resp, _ = await self.open_stream_on(path, query)
        return resp

    async def open_stream_on(self, path: str, query: dict[str, str]) -> tuple[aiohttp.ClientResponse, str]:
        """:meth:`open_stream`, and the server URL that answered."""
        unreachable = 0
        while True:
            server = self.server
            try:
                resp = await self.session.get(
                    server + path, params=query,
                    timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=None), **self._extra)
            except _BROKEN as e:
                self.server_failed(server, e)
                unreachable += 1
                if unreachable < len(self.servers):
                    continue
                raise errors.ConnectionFailed(f"GET {server}{path}: {str(e) or 'timed out'}") from e
            except aiohttp.ClientError as e:
                raise errors.ConnectionFailed(f"GET {server}{path}: {e}") from e
            break
        if resp.status >= 400:
            try:
                payload = await resp.read()
            except aiohttp.ClientError:
                payload = b""
            finally:
                resp.release()
            _raise_for(resp.status, payload)
        return resp, server

    # -- Backend ---------------------------------------------------------------
    async def list(self, info: ResourceInfo, ns: str | None, opts: ListOptions) -> dict:
        return await self.request("GET", _path(info, ns), query=opts.query())

    async def get(self, info: ResourceInfo, ns: str | None, name: str, *,
                  resource_version: str | None) -> dict:
        q = {"resourceVersion": resource_version} if resource_version is not None else None
        return await self.request("GET", _path(info, ns, name), query=q)

    async def create(self, info: ResourceInfo, ns: str | None, obj: dict, *, query: dict[str, str]) -> dict:
        return await self.request("POST", _path(info, ns), query=query, body=obj)

    async def update(self, info: ResourceInfo, ns: str | None, name: str, obj: dict, *,
                     subresource: str, query: dict[str, str]) -> dict:
        return await self.request("PUT", _path(info, ns, name, subresource), query=query, body=obj)

    async def patch(self, info: ResourceInfo, ns: str | None, name: str, body: Any, *,
                    patch_type: str, subresource: str, query: dict[str, str]) -> dict:
        return await self.request("PATCH", _path(info, ns, name, subresource), query=query, body=body,
                                  content_type=PATCH_CONTENT_TYPES[patch_type])

    async def delete(self, info: ResourceInfo, ns: str | None, name: str, options: dict) -> dict:
        return await self.request("DELETE", _path(info, ns, name), body=options)

    async def delete_collection(self, info: ResourceInfo, ns: str | None, opts: ListOptions,
                                options: dict) -> dict:
        return await self.request("DELETE", _path(info, ns), query=opts.query(), body=options)

    def watch(self, info: ResourceInfo, ns: str | None, opts: ListOptions) -> Watch:
        return HTTPWatch(self, _path(info, ns), {**opts.query(), "watch": "true"})

    async def create_subresource(self, info: ResourceInfo, ns: str | None, name: str,
                                 subresource: str, body: dict) -> dict:
        return await self.request("POST", _path(info, ns, name, subresource), body=body)

    async def pod_log(self, ns: str, name: str, query: dict[str, str]) -> str:
        return await self.request("GET", f"/api/v1/namespaces/{ns}/pods/{name}/log", query=query, raw=True)

    async def pod_log_stream(self, ns: str, name: str, query: dict[str, str]) -> AsyncIterator[str]:
        resp = await self.open_stream(f"/api/v1/namespaces/{ns}/pods/{name}/log", query)
        try:
            async for line in _lines(resp):
                yield line.decode(errors="replace")
        finally:
            resp.close()

    # -- discovery ---------------------------------------------------------------
    async def version(self) -> dict:
        return await self.request("GET", "/version")

    async def server_resources(self) -> list[dict]:
        """Every APIResourceList the server serves (core first)."""
        out: list[dict] = []
        core = await self.request("GET", "/api")
        for v in core.get("versions") or ():
            out.append(await self.request("GET", f"/api/{v}"))
        groups = await self.request("GET", "/apis")
        for g in groups.get("groups") or ():
            for v in g.get("versions") or ():
                out.append(await self.request("GET", f"/apis/{v['groupVersion']}"))
        return out


async def _lines(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """Lines of a streamed body, any length (aiohttp's readline caps line size)."""
    buf = b""
    try:
        async for chunk in resp.content.iter_any():
            if buf:
                chunk = buf + chunk
            start = 0  # slice each line out once, not the rest of the chunk per line
            while (i := chunk.find(b"\n", start)) >= 0:
                yield chunk[start:i + 1]
                start = i + 1
            buf = chunk[start:] if start else chunk
    except (aiohttp.ClientError, ConnectionError) as e:
        raise errors.ConnectionFailed(f"stream dropped: {e}") from e
    if buf.strip():
        yield buf


class HTTPWatch(Watch):
    """A watch stream that survives its apiserver.

    Opened from a specific resourceVersion (not unset, not "0"), a watch whose
    connection fails — on opening or mid-stream — reopens on the backend's next
    server from the last resourceVersion it delivered (BOOKMARKs included), so
    the caller sees one ordered stream with no event lost or repeated; a 410
    there raises Expired as usual. ``timeoutSeconds`` keeps counting from the
    first open. It gives up (ConnectionFailed) after every server failed in a
    row without delivering an event. Watches from "now" or "0" begin with a
    synthetic list of ADDED events that cannot be resumed exactly: those raise
    ConnectionFailed and the caller relists, as before.
    """

    def __init__(self, backend: HTTPBackend, path: str, query: dict[str, str]):
        super().__init__()
        self.backend = backend
        self.path = path
        self.query = query
        self._resp: aiohttp.ClientResponse | None = None
        self._lines: AsyncIterator[bytes] | None = None
        self._eof = False
        rv = query.get("resourceVersion") or ""
        self._resumable = rv not in ("", "0")
        self.last_resource_version = rv
        self.resumes = 0  # how many times the stream moved to another connection
        timeout = query.get("timeoutSeconds")
        self._deadline = time.monotonic() + float(timeout) if timeout else None
        self._server = ""

    def _resume_query(self) -> dict[str, str] | None:
        """The query to reopen with, or None when the timeout has run out."""
        q = {**self.query, "resourceVersion": self.last_resource_version}
        if self._deadline is not None:
            left = int(self._deadline - time.monotonic())
            if left < 1:
                return None
            q["timeoutSeconds"] = str(left)
        return q

    async def _open(self) -> bool:
        """Open (or reopen) the stream; False if the watch's time is up."""
        query = self.query if not self.resumes else self._resume_query()
        if query is None:
            return False
        self._resp, self._server = await self.backend.open_stream_on(self.path, query)
        self._lines = _lines(self._resp)
        return True

    async def _next(self) -> WatchEvent | None:
        failures = 0
        while True:
            try:
                if self._lines is None and not await self._open():
                    return None
                assert self._lines is not None
                line = await self._lines.__anext__()
            except StopAsyncIteration:
                self._eof = True
                return None
            except errors.ConnectionFailed as e:
                failures += 1
                if not self._resumable or self._closed or failures > len(self.backend.servers):
                    raise
                self.backend.server_failed(self._server, e)
                await self._drop_stream()
                self.resumes += 1
                log.info("watch %s: %s; resuming from resourceVersion %s on %s", self.path, e,
                         self.last_resource_version, self.backend.server)
                continue
            if line[:1] == b"{" or line.strip():
                ev = event_from_line(line)
                if ev.resource_version:
                    self.last_resource_version = ev.resource_version
                return ev

    async def _drop_stream(self) -> None:
        resp, self._resp = self._resp, None
        lines, self._lines = self._lines, None
        if resp is not None:
            resp.close()
        if lines is not None:
            try:
                await lines.aclose()  # type: ignore[attr-defined]
            except RuntimeError:
                pass

    async def _close(self) -> None:
        # A stream read to its end gives its connection back to the pool; otherwise
        # close it — which also wakes a reader parked in another task.
        if self._resp is not None:
            if self._eof:
                self._resp.release()
            else:
                self._resp.close()
            self._resp = None
        lines, self._lines = self._lines, None
        if lines is not None:
            try:
                await lines.aclose()  # type: ignore[attr-defined]
            except RuntimeError:  # still running in another task: it ends on its own
                pass
