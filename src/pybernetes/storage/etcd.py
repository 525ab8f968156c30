"""etcd v3 storage backend.

The :class:`Storage` contract maps onto etcd almost one to one, because the
contract *is* etcd's: one global revision, per-key create/mod revisions,
ranges at a revision, watches from a revision with the previous value,
compaction. Each call is one etcd RPC through aetcd's generated stubs:

- create: ``Txn(if create_revision(key) == 0 then put else get)``;
- update: ``Txn(if mod_revision(key) == expected and version > 0 then put
  (prev_kv) else get)``; delete likewise with ``DeleteRange(prev_kv)``;
- get / list / count: ``Range`` at a revision with ``limit`` (aetcd's
  convenience ``get_range`` drops revision and limit, so the raw stub is used);
- watch: one ``Watch`` stream per watcher, ``prev_kv=True``, resumed from the
  next undelivered revision on another endpoint when a stream breaks;
- compact: ``Compact(physical=True)``; several apiservers coordinate through a
  compare-and-swap on the ``compact_rev_key`` key (see :meth:`claim_compaction`).

Keys live under ``prefix`` (etcd is shared: revisions are global and other
keys may exist); ``compact_rev_key`` is outside it on purpose, because
compaction is global too.

Failover: calls go to one endpoint at a time and move to the next when it is
unreachable, has no leader, or does not answer one try within
``attempt_timeout`` (a member whose leader just died holds proposals for
etcd's 7 s request timeout). Reads are retried on any transient error until
``request_timeout``. Writes are compare-and-swap transactions, so create and
update are simply re-sent after an interruption: a copy that applied earlier
makes the re-sent compare fail, and the key then holding our value (changed
after the first try began) says it was ours. Should another writer have
changed it since, the outcome is unknown and the caller gets
:class:`WriteOutcomeUnknown` (a :class:`StorageError`; the apiserver's 500).
A conditional delete is settled likewise (the expected version's first
successor, read by a watch, is a delete). An interrupted unconditional
delete or compaction is not re-sent: as with etcd itself, it may or may not
have committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from aetcd import rpc

from .etcd_endpoints import REQUIRE_LEADER, Connection, EndpointPool, parse_endpoints
from .etcd_watch_cache import EtcdWatchCache
from .interface import (
    AlreadyExists,
    Compacted,
    Conflict,
    FutureRevision,
    KeyValue,
    ListResult,
    NotFound,
    Storage,
    StorageError,
    Watch,
    WatchEvent,
)

__all__ = ["EtcdConfig", "EtcdStorage", "WriteOutcomeUnknown"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_CMP = rpc.Compare
_PUT = rpc.Event.EventType.PUT
_ERR_COMPACTED = "required revision has been compacted"
_ERR_FUTURE = "required revision is a future revision"
# Transient errors after which etcd has certainly not applied the request.
_RETRYABLE = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
)
_NOT_APPLIED = (
    "failed to connect to all addresses",
    "etcdserver: no leader",
    "etcdserver: not leader",
    "etcdserver: too many requests",
)


class WriteOutcomeUnknown(StorageError):
    """The connection or the leader failed mid-write: it may or may not have committed."""


@dataclass(frozen=True, slots=True)
class EtcdConfig:
    """How to reach etcd. ``endpoints``: URLs (``http://h:p``, ``https://h:p``)."""

    endpoints: tuple[str, ...]
    prefix: str = ""
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    request_timeout: float = 15.0  # per call, retries included
    attempt_timeout: float = 2.5  # per try of a write or a bounded read (then another member)
    watch_reconnect_timeout: float = 30.0  # a broken watch keeps retrying this long
    watch_buffer: int = 1000  # events read ahead per watcher (then etcd holds them)
    compact_key: str = "compact_rev_key"  # Kubernetes' key: apiservers of any kind agree
    # Events kept by the shared watch cache (0: every watcher is its own etcd stream).
    watch_cache_size: int = 0
    watch_cache_lag: int = 10_000  # with the cache: events a watcher may lag before WatchExpired


def _range_end(key: bytes) -> bytes:
    """etcd's prefix range end: the key with its last byte below 0xff incremented."""
    end = bytearray(key)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # every key


def _details(exc: grpc.aio.AioRpcError) -> str:
    return exc.details() or ""


class EtcdStorage(Storage):
    """The :class:`Storage` contract on an etcd v3 cluster (3.4 or newer).

    Construction only validates and reads TLS files (blocking, once); channels
    open on first use, on the event loop that uses the store.
    """

    def __init__(
        self,
        endpoints: str | list[str] | tuple[str, ...],
        *,
        prefix: str = "",
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        request_timeout: float = 15.0,
        attempt_timeout: float = 2.5,
        watch_reconnect_timeout: float = 30.0,
        watch_buffer: int = 1000,
        compact_key: str = "compact_rev_key",
        watch_cache_size: int = 0,
        watch_cache_lag: int = 10_000,
    ) -> None:
        if isinstance(endpoints, str):
            endpoints = tuple(u.strip() for u in endpoints.split(",") if u.strip())
        self.config = EtcdConfig(
            endpoints=tuple(endpoints),
            prefix=prefix,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            request_timeout=request_timeout,
            attempt_timeout=attempt_timeout,
            watch_reconnect_timeout=watch_reconnect_timeout,
            watch_buffer=max(1, watch_buffer),
            compact_key=compact_key,
            watch_cache_size=max(0, watch_cache_size),
            watch_cache_lag=max(1, watch_cache_lag),
        )
        if (cert_file is None) != (key_file is None):
            raise ValueError("etcd TLS: cert_file and key_file go together")
        tls = bool(ca_file or cert_file)
        credentials = None
        if tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(ca_file),
                private_key=_read(key_file),
                certificate_chain=_read(cert_file),
            )
        self._pool = EndpointPool(
            parse_endpoints(self.config.endpoints, tls=tls), credentials=credentials
        )
        self._prefix = prefix.encode()
        self._compact_key = compact_key.encode()
        self._rev = 0  # highest header revision seen (for "watch from now")
        self._compacted = 0  # highest compaction this client made or was told of
        self._watches: set[Watch] = set()
        self._closed = False
        self._cache = (
            EtcdWatchCache(self, size=watch_cache_size, max_buffer=self.config.watch_cache_lag)
            if watch_cache_size > 0
            else None
        )

    # ----- keys ------------------------------------------------------------

    def _k(self, key: str) -> bytes:
        return self._prefix + key.encode()

    def _kv(self, kv: Any) -> KeyValue:
        return KeyValue(
            kv.key[len(self._prefix) :].decode(), kv.value, kv.create_revision, kv.mod_revision
        )

    # ----- calling etcd ----------------------------------------------------

    async def _call(
        self,
        rpc_of: Callable[[Connection], Callable[..., Awaitable[T]]],
        request: Any,
        *,
        write: bool,
        deadline: float | None = None,
        attempt_timeout: float | None = None,
    ) -> T:
        """One KV RPC with failover; see the module docstring for what is retried.

        ``attempt_timeout`` caps each try: a member that forwarded a proposal
        to a leader that just died would otherwise hold it for etcd's own
        request timeout (7 s), long after a new leader took over."""
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + self.config.request_timeout
        delay = 0.05
        while True:
            conn = self._pool.get()
            remaining = deadline - loop.time()
            timeout = min(remaining, attempt_timeout or remaining)
            try:
                resp = await rpc_of(conn)(
                    request, timeout=max(timeout, 0.001), metadata=REQUIRE_LEADER
                )
            except grpc.aio.AioRpcError as exc:
                code, details = exc.code(), _details(exc)
                if code not in _RETRYABLE:
                    raise
                not_applied = any(s in details for s in _NOT_APPLIED)
                log.debug("etcd %s: %s: %s", conn.endpoint.target, code.name, details)
                if (
                    code == grpc.StatusCode.DEADLINE_EXCEEDED
                    or not details.startswith("etcdserver:")
                    or not_applied
                    or "timed out" in details
                ):
                    self._pool.failed(conn)  # unreachable, cut off, or stuck: try another
                if write and not not_applied:
                    raise WriteOutcomeUnknown(f"etcd write interrupted: {details}") from exc
                if loop.time() + delay >= deadline:
                    raise StorageError(
                        f"etcd unavailable ({self.config.request_timeout}s): {details}"
                    ) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            self._rev = max(self._rev, resp.header.revision)
            return resp

    async def _range(self, request: rpc.RangeRequest) -> rpc.RangeResponse:
        # Unbounded lists may legitimately take long: only bounded reads get a cap per try.
        bounded = request.count_only or 0 < request.limit <= 1000 or not request.range_end
        try:
            return await self._call(
                lambda c: c.kv.Range,
                request,
                write=False,
                attempt_timeout=self.config.attempt_timeout if bounded else None,
            )
        except grpc.aio.AioRpcError as exc:
            raise await self._read_error(exc, request.revision) from exc

    async def _txn(self, request: rpc.TxnRequest) -> rpc.TxnResponse:
        try:
            return await self._call(lambda c: c.kv.Txn, request, write=True)
        except grpc.aio.AioRpcError as exc:
            raise StorageError(f"etcd txn failed: {_details(exc)}") from exc

    async def _settled_txn(self, request: rpc.TxnRequest) -> tuple[rpc.TxnResponse, int | None]:
        """A compare-and-swap txn, re-sent after an interruption until etcd answers.

        Re-sending is safe because the txn's compare fails once any earlier copy
        applied. Returns the response and, if it had to be re-sent, the highest
        revision this client had seen before the first try (None if it was not
        re-sent): a failed compare then means "applied earlier, by us or by
        another writer after that revision" — see ``create``/``update``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.request_timeout
        before = self._rev
        call = lambda c: c.kv.Txn  # noqa: E731
        resent = False
        while True:
            try:
                resp = await self._call(
                    call,
                    request,
                    write=True,
                    deadline=deadline,
                    attempt_timeout=self.config.attempt_timeout,
                )
                return resp, (before if resent else None)
            except WriteOutcomeUnknown as exc:
                if loop.time() + 0.1 >= deadline:
                    raise
                log.debug("etcd txn interrupted (%s); re-sending", exc)
                resent = True
                await asyncio.sleep(0.1)
            except grpc.aio.AioRpcError as exc:
                raise StorageError(f"etcd txn failed: {_details(exc)}") from exc

    async def _read_error(self, exc: grpc.aio.AioRpcError, revision: int) -> StorageError:
        details = _details(exc)
        if _ERR_COMPACTED in details:
            compacted = await self._find_compacted(revision)
            return Compacted(
                f"revision {revision} is compacted (compacted to {compacted})", revision=compacted
            )
        if _ERR_FUTURE in details:
            cur = await self.current_revision()
            return FutureRevision(f"revision {revision} is newer than current {cur}", revision=cur)
        return StorageError(f"etcd read failed: {details}")

    # ----- writes ------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        k, value = self._k(key), bytes(value)
        req = rpc.TxnRequest(
            compare=[
                _CMP(
                    key=k,
                    target=_CMP.CompareTarget.CREATE,
                    result=_CMP.CompareResult.EQUAL,
                    create_revision=0,
                )
            ],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp, resent_after = await self._settled_txn(req)
        if not resp.succeeded:
            (existing,) = resp.responses[0].response_range.kvs
            if resent_after is not None and existing.create_revision > resent_after:
                # Created while our first copy was in flight: ours if it holds our value.
                if existing.version == 1 and existing.value == value:
                    return self._kv(existing)
                raise WriteOutcomeUnknown(f"create of {key!r}: outcome unknown", key=key)
            raise AlreadyExists(f"key {key!r} exists", key=key, revision=existing.mod_revision)
        rev = resp.header.revision
        return KeyValue(key, value, rev, rev)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        k, value = self._k(key), bytes(value)
        req = rpc.TxnRequest(
            compare=[
                _CMP(
                    key=k,
                    target=_CMP.CompareTarget.MOD,
                    result=_CMP.CompareResult.EQUAL,
                    mod_revision=expected_revision,
                ),
                # mod_revision of a missing key is 0: never let update create it.
                _CMP(
                    key=k,
                    target=_CMP.CompareTarget.VERSION,
                    result=_CMP.CompareResult.GREATER,
                    version=0,
                ),
            ],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value, prev_kv=True))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp, resent_after = await self._settled_txn(req)
        if not resp.succeeded:
            kvs = resp.responses[0].response_range.kvs
            if resent_after is not None and (not kvs or kvs[0].mod_revision > resent_after):
                # Changed while our first copy was in flight: ours if it holds our value.
                if kvs and kvs[0].value == value:
                    return self._kv(kvs[0])
                raise WriteOutcomeUnknown(f"update of {key!r}: outcome unknown", key=key)
            self._raise_precondition(key, resp, expected_revision)
        prev = resp.responses[0].response_put.prev_kv
        return KeyValue(key, value, prev.create_revision, resp.header.revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> tuple[int, KeyValue]:
        k = self._k(key)
        op = rpc.DeleteRangeRequest(key=k, prev_kv=True)
        if not expected_revision:
            try:
                resp = await self._call(lambda c: c.kv.DeleteRange, op, write=True)
            except grpc.aio.AioRpcError as exc:
                raise StorageError(f"etcd delete failed: {_details(exc)}") from exc
            if not resp.deleted:
                raise NotFound(f"key {key!r} not found", key=key)
            return resp.header.revision, self._kv(resp.prev_kvs[0])
        req = rpc.TxnRequest(
            compare=[
                _CMP(
                    key=k,
                    target=_CMP.CompareTarget.MOD,
                    result=_CMP.CompareResult.EQUAL,
                    mod_revision=expected_revision,
                )
            ],
            success=[rpc.RequestOp(request_delete_range=op)],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp, resent_after = await self._settled_txn(req)
        if not resp.succeeded:
            if resent_after is not None:
                settled = await self._first_change(key, after=expected_revision)
                if settled is not None and settled.type == "DELETE":
                    # The version we meant to delete was deleted: by our first copy,
                    # or by someone else — either way it is gone as asked.
                    prev = KeyValue(
                        key, settled.prev_value or b"", settled.create_revision, expected_revision
                    )
                    return settled.revision, prev
            self._raise_precondition(key, resp, expected_revision)
        deleted = resp.responses[0].response_delete_range
        return resp.header.revision, self._kv(deleted.prev_kvs[0])

    async def _first_change(self, key: str, *, after: int) -> WatchEvent | None:
        """The first change of exactly ``key`` after revision ``after`` (known to
        exist: the key is no longer at ``after``); None if it cannot be read."""
        watch = EtcdWatch(self, key, start_revision=after + 1)
        try:
            async with asyncio.timeout(self.config.attempt_timeout):
                async for ev in watch:
                    if ev.key == key:
                        return ev
        except (TimeoutError, StorageError):
            pass
        finally:
            await watch.close()
        return None

    @staticmethod
    def _raise_precondition(key: str, resp: rpc.TxnResponse, expected: int) -> None:
        kvs = resp.responses[0].response_range.kvs
        if not kvs:
            raise NotFound(f"key {key!r} not found", key=key)
        current = kvs[0].mod_revision
        raise Conflict(
            f"key {key!r} is at revision {current}, not {expected}", key=key, revision=current
        )

    # ----- reads -------------------------------------------------------------

    async def get(self, key: str, *, revision: int = 0) -> KeyValue:
        resp = await self._range(rpc.RangeRequest(key=self._k(key), revision=max(revision, 0)))
        if not resp.kvs:
            raise NotFound(f"key {key!r} not found", key=key, revision=revision)
        return self._kv(resp.kvs[0])

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        start_key: str | None = None,
    ) -> ListResult:
        lo = self._k(prefix)
        hi = _range_end(lo)
        if start_key is not None and start_key > prefix:
            lo = self._k(start_key)
        resp = await self._range(
            rpc.RangeRequest(
                key=lo or b"\0", range_end=hi, revision=max(revision, 0), limit=max(limit, 0)
            )
        )
        return ListResult(
            items=[self._kv(kv) for kv in resp.kvs],
            revision=revision if revision > 0 else resp.header.revision,
            more=bool(resp.more),
        )

    async def count(self, prefix: str) -> int:
        lo = self._k(prefix)
        resp = await self._range(
            rpc.RangeRequest(key=lo or b"\0", range_end=_range_end(lo), count_only=True)
        )
        return resp.count

    async def current_revision(self) -> int:
        resp = await self._range(rpc.RangeRequest(key=self._compact_key, count_only=True))
        return resp.header.revision

    # ----- watch -------------------------------------------------------------

    def watch(self, prefix: str, *, start_revision: int) -> Watch:
        """Changes under ``prefix`` from ``start_revision``; 0 means "after the newest
        revision this client has seen" (or etcd's "now" if it has seen none)."""
        if start_revision <= 0 and self._rev:
            start_revision = self._rev + 1
        w: Watch
        if self._cache is not None:
            w = _CachedWatch(self, prefix, start_revision=max(start_revision, 0))
        else:
            w = EtcdWatch(self, prefix, start_revision=max(start_revision, 0))
        self._watches.add(w)
        return w

    async def start_watch_cache(self) -> None:
        """Start the shared watch feed now rather than at the first watch, so
        watches from revisions after this serve from memory. No-op without one."""
        if self._cache is not None:
            await self._cache.start()

    # ----- compaction ----------------------------------------------------------

    async def compacted_revision(self) -> int:
        """The highest of: what this client compacted or was told by etcd, and the
        target recorded under ``compact_key`` by the coordinated compactor."""
        resp = await self._range(rpc.RangeRequest(key=self._compact_key))
        if resp.kvs:
            with contextlib.suppress(ValueError):
                self._compacted = max(self._compacted, int(resp.kvs[0].value))
        return self._compacted

    def note_compacted(self, revision: int) -> None:
        self._compacted = max(self._compacted, revision)

    async def _find_compacted(self, revision: int) -> int:
        """etcd's compacted revision, known to be at or above ``revision``.

        etcd has no getter; a watch started at ``revision`` is cancelled with
        the compacted revision, so ask with one on a key nobody writes."""
        conn = self._pool.get()
        call = conn.watch.Watch(metadata=REQUIRE_LEADER)
        try:
            async with asyncio.timeout(2.0):
                await call.write(
                    rpc.WatchRequest(
                        create_request=rpc.WatchCreateRequest(
                            key=self._compact_key + b"\0probe", start_revision=max(revision - 1, 1)
                        )
                    )
                )
                while True:
                    resp = await call.read()
                    if resp is grpc.aio.EOF:
                        break
                    if resp.compact_revision:
                        self.note_compacted(resp.compact_revision)
                        break
        except (TimeoutError, grpc.aio.AioRpcError):
            pass  # fall back to what we know
        finally:
            call.cancel()
        return max(self._compacted, revision)

    async def compact(self, revision: int) -> None:
        """Compact etcd (the whole keyspace: compaction is global) to ``revision``.

        Waits until etcd has physically compacted, so later reads below fail."""
        try:
            await self._call(
                lambda c: c.kv.Compact,
                rpc.CompactionRequest(revision=revision, physical=True),
                write=True,
            )
        except grpc.aio.AioRpcError as exc:
            raise await self._read_error(exc, revision) from exc
        self.note_compacted(revision)

    async def claim_compaction(self, target: int, *, token: int) -> tuple[bool, int]:
        """The compactor's turn-taking, as in Kubernetes' etcd compactor.

        ``compact_key``'s version is a logical clock: the claim succeeds only if
        the caller saw the latest version (``token``), and bumps it, recording
        ``target``. Several apiservers ticking every interval: the one that won
        last time wins again (its token is current); the others learn the new
        version and stay idle while it lives. Returns (won, new token)."""
        k = self._compact_key
        req = rpc.TxnRequest(
            compare=[
                _CMP(
                    key=k,
                    target=_CMP.CompareTarget.VERSION,
                    result=_CMP.CompareResult.EQUAL,
                    version=token,
                )
            ],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=str(target).encode()))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._txn(req)
        if resp.succeeded:
            return True, token + 1
        kvs = resp.responses[0].response_range.kvs
        return False, kvs[0].version if kvs else 0

    async def close(self) -> None:
        """End all watches and close the channels. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for w in list(self._watches):
            await w.close()
        if self._cache is not None:
            await self._cache.close()
        await self._pool.close()


_END = object()


class EtcdWatch(Watch):
    """One etcd watch stream with ``prev_kv``, read ahead into a bounded queue.

    A full queue stops the reader (etcd then holds the events: backpressure,
    not loss). A broken stream is re-opened from the next revision not yet
    queued, on whichever endpoint the pool offers, for up to
    ``watch_reconnect_timeout``; then the watch fails with StorageError.
    """

    def __init__(self, store: EtcdStorage, prefix: str, *, start_revision: int) -> None:
        self._store = store
        self._key = store._k(prefix)
        self._prefix = prefix
        self._next = start_revision  # next revision to ask etcd for (0: now)
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=store.config.watch_buffer + 1)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._stash: Any = None  # a non-event item ready() took off the queue, for __anext__
        with contextlib.suppress(RuntimeError):  # no running loop: start on first read
            self._start()

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name=f"etcd-watch {self._prefix}")

    async def __anext__(self) -> WatchEvent:
        if self._closed:
            raise StopAsyncIteration
        if self._task is None:
            self._start()
        if self._stash is not None:
            item, self._stash = self._stash, None
        else:
            item = await self._queue.get()
        if isinstance(item, WatchEvent):
            return item
        await self.close()
        if item is _END:
            raise StopAsyncIteration
        raise item

    def ready(self, limit: int) -> list[WatchEvent]:
        """Events already read from etcd, without waiting (stops at an error or the end)."""
        out: list[WatchEvent] = []
        while len(out) < limit and self._stash is None and not self._closed and not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, WatchEvent):
                out.append(item)
            else:
                self._stash = item
        return out

    async def _run(self) -> None:
        try:
            await self._pump()
        except asyncio.CancelledError:
            raise
        except StorageError as exc:
            await self._queue.put(exc)
        except Exception as exc:  # never leave a reader waiting forever
            log.exception("etcd watch of %r failed", self._prefix)
            await self._queue.put(StorageError(f"etcd watch failed: {exc}"))

    async def _pump(self) -> None:
        store = self._store
        if 0 < self._next <= store._compacted:
            raise Compacted(
                f"watch from revision {self._next}: compacted to {store._compacted}",
                key=self._prefix,
                revision=store._compacted,
            )
        loop = asyncio.get_running_loop()
        failing_since: float | None = None
        delay = 0.05
        while True:
            conn = store._pool.get()
            call = conn.watch.Watch(metadata=REQUIRE_LEADER)
            try:
                await call.write(
                    rpc.WatchRequest(
                        create_request=rpc.WatchCreateRequest(
                            key=self._key or b"\0",
                            range_end=_range_end(self._key),
                            start_revision=self._next,
                            prev_kv=True,
                        )
                    )
                )
                while True:
                    resp = await call.read()
                    if resp is grpc.aio.EOF:
                        raise _StreamBroken("watch stream ended")
                    if resp.compact_revision:
                        store.note_compacted(resp.compact_revision)
                        raise Compacted(
                            f"watch from revision {self._next}: compacted to "
                            f"{resp.compact_revision}",
                            key=self._prefix,
                            revision=resp.compact_revision,
                        )
                    if resp.canceled:
                        raise _StreamBroken(f"watch cancelled: {resp.cancel_reason}")
                    if resp.created and self._next == 0:
                        self._next = resp.header.revision + 1
                    failing_since, delay = None, 0.05
                    for ev in resp.events:
                        event = self._event(ev)
                        self._next = event.revision + 1
                        await self._queue.put(event)
            except (grpc.aio.AioRpcError, _StreamBroken) as exc:
                code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
                if code not in (
                    None,
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.INTERNAL,
                    grpc.StatusCode.UNKNOWN,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                ):
                    raise StorageError(f"etcd watch failed: {exc}") from exc
                store._pool.failed(conn)
                now = loop.time()
                failing_since = failing_since or now
                if now - failing_since > store.config.watch_reconnect_timeout:
                    raise StorageError(f"etcd watch could not reconnect: {exc}") from exc
                log.debug(
                    "etcd watch of %r broke (%s); resuming at %d", self._prefix, exc, self._next
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
            finally:
                call.cancel()

    def _event(self, ev: Any) -> WatchEvent:
        kv, prefix_len = ev.kv, len(self._store._prefix)
        key = kv.key[prefix_len:].decode()
        prev = ev.prev_kv if ev.HasField("prev_kv") else None
        if ev.type == _PUT:
            return WatchEvent(
                "PUT",
                key,
                kv.value,
                prev.value if prev else None,
                kv.mod_revision,
                kv.create_revision,
            )
        return WatchEvent(
            "DELETE",
            key,
            None,
            prev.value if prev else None,
            kv.mod_revision,
            prev.create_revision if prev else 0,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._store._watches.discard(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        while not self._queue.empty():  # wake a reader blocked in __anext__
            self._queue.get_nowait()
        self._queue.put_nowait(_END)


class _StreamBroken(Exception):
    pass


class _CachedWatch(Watch):
    """A watch through the store's :class:`EtcdWatchCache`, chosen on first read:
    from memory when the cache covers ``start_revision``, else its own etcd stream."""

    def __init__(self, store: EtcdStorage, prefix: str, *, start_revision: int) -> None:
        self._store = store
        self._prefix = prefix
        self._start = start_revision
        self._inner: Watch | None = None
        self._closed = False

    async def __anext__(self) -> WatchEvent:
        if self._closed:
            raise StopAsyncIteration
        if self._inner is None:
            cache = self._store._cache
            assert cache is not None
            inner = await cache.watch(self._prefix, start_revision=self._start)
            if inner is None:
                inner = EtcdWatch(self._store, self._prefix, start_revision=self._start)
            if self._closed:  # closed while choosing
                await inner.close()
                raise StopAsyncIteration
            self._inner = inner
        try:
            return await self._inner.__anext__()
        except StopAsyncIteration:
            await self.close()
            raise

    def ready(self, limit: int) -> list[WatchEvent]:
        """Events the chosen watch already holds (the cache's buffered live events)."""
        if self._closed or self._inner is None:
            return []
        return self._inner.ready(limit)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._store._watches.discard(self)
        if self._inner is not None:
            await self._inner.close()


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()
