"""SQLite storage backend, kine-style.

One table ``kv`` is an append-only log: every write INSERTs a row whose ``id``
is the new global revision. A row records the key (``name``), whether it
created or deleted the key, the key's ``create_revision``, the id of the row
it supersedes (``prev_revision``) and the new value (NULL for a delete).
``UNIQUE(name, prev_revision)`` is the compare-and-swap: two writes based on
the same row cannot both commit. Unlike kine there is no ``old_value`` copy:
watch replay joins the superseded row, which compaction keeps for as long as
the superseding event is above the compacted revision (half the bytes written).

Threads: every SQLite call runs off the event loop. One writer thread drains
a queue and commits many writes in ONE transaction (group commit: one fsync),
checking each write individually; reader threads (own connections, WAL lets
them read while the writer commits) serve get/list/count/watch replay.

Durability: WAL with ``synchronous=FULL`` — the WAL is fsynced on every commit
and a write is acknowledged only after its commit, so an acknowledged write
survives ``kill -9`` and power loss. (``NORMAL`` in WAL survives a process
kill but may lose the last commits on power loss; FULL costs little here
because one fsync covers a whole batch.)

One process owns a database file: an exclusive ``flock`` on ``<path>.lock``
refuses a second opener (the writer keeps the revision counter in memory).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from .batch_thread import BatchThreads, Job, Outcome, run_job
from .compactor import Compactor
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
from .watch_hub import HubWatch, WatchHub

__all__ = ["SQLiteConfig", "SQLiteStorage"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS kv_name_prev_revision ON kv (name, prev_revision);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id, deleted);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES ('base_revision', 1), ('compact_revision', 0);
"""

# The latest row of one key at or below a revision.
_SQL_LATEST = (
    "SELECT id, create_revision, deleted, value FROM kv"
    " WHERE name = ? AND id <= ? ORDER BY id DESC LIMIT 1"
)
_SQL_INSERT = (
    "INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# Live keys under [lo, hi) at a revision, in key order: (name, id of the latest row).
# MAX() makes the bare column ``deleted`` come from the latest row (documented SQLite
# behaviour), so the covering index answers this alone and LIMIT stops the scan early.
_SQL_LIST_HEADS = (
    "SELECT name, MAX(id), deleted FROM kv WHERE name >= ? AND name < ? AND id <= ?"
    " GROUP BY name HAVING deleted = 0 ORDER BY name LIMIT ?"
)
_SQL_COUNT = (
    "SELECT COUNT(*) FROM (SELECT MAX(id), deleted FROM kv"
    " WHERE name >= ? AND name < ? GROUP BY name HAVING deleted = 0)"
)
_FETCH_CHUNK = 500  # ids per "WHERE id IN (...)" (stays under SQLite's variable limit)
# Events in [lo, hi] under [lo_key, hi_key). The previous value comes from the row
# each one superseded: compaction keeps every row whose successor is above the
# compacted revision, and only such events are ever replayed.
_SQL_HISTORY = (
    "SELECT kv.id, kv.name, kv.deleted, kv.create_revision, kv.value,"
    " CASE WHEN kv.created THEN NULL ELSE prev.value END"
    " FROM kv LEFT JOIN kv AS prev ON prev.id = kv.prev_revision"
    " WHERE kv.id >= ? AND kv.id <= ? AND kv.name >= ? AND kv.name < ? ORDER BY kv.id LIMIT ?"
)
# Compaction, per id range [lo, hi) of successor rows: delete the rows they superseded,
# then delete markers (after their predecessors, whose pointer they carry).
_SQL_COMPACT_SUPERSEDED = (
    "DELETE FROM kv WHERE id IN (SELECT prev_revision FROM kv"
    " WHERE id >= ? AND id < ? AND id <= ? AND prev_revision > 0)"
)
_SQL_COMPACT_TOMBSTONES = "DELETE FROM kv WHERE deleted = 1 AND id >= ? AND id < ? AND id < ?"

# Above every key: the upper bound of the empty prefix.
_KEY_MAX = "\U0010ffff" * 4


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``.

    SQLite compares TEXT as UTF-8 bytes, which orders like code points.
    """
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be encoded
                nxt = 0xE000
            chars[-1] = chr(nxt)
            return "".join(chars)
        chars.pop()
    return _KEY_MAX


@dataclass(frozen=True, slots=True)
class SQLiteConfig:
    """Tuning knobs; the defaults suit a small cluster on a laptop."""

    readers: int = 2  # reader threads (each with its own connection)
    max_write_batch: int = 512  # writes per transaction (group commit)
    watch_buffer: int = 10_000  # live events a watcher may lag before WatchExpired
    compact_batch: int = 250  # revisions per compaction step (keeps writer stalls short)
    synchronous: str = "FULL"  # FULL: durable across power loss; NORMAL: across kill -9
    busy_timeout_ms: int = 10_000
    cache_mb: int = 32  # page cache per connection (reads of big lists stay in memory)


class SQLiteStorage(Storage):
    """The :class:`Storage` contract on one SQLite file.

    Construction opens the file (blocking, once at startup); every other call
    runs on the event loop that first used the store. Revisions start at 1
    (as in etcd); the first write is revision 2.
    """

    def __init__(self, path: str, *, config: SQLiteConfig | None = None) -> None:
        self.path = path
        self.config = config = config or SQLiteConfig()
        if config.synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"unsupported synchronous mode {config.synchronous!r}")
        self._lock_fd = _lock_file(path + ".lock")
        try:
            writer = self._connect()
            writer.executescript(_SCHEMA)
            (base,) = writer.execute(
                "SELECT value FROM meta WHERE name = 'base_revision'"
            ).fetchone()
            (compacted,) = writer.execute(
                "SELECT value FROM meta WHERE name = 'compact_revision'"
            ).fetchone()
            row = writer.execute("SELECT seq FROM sqlite_sequence WHERE name = 'kv'").fetchone()
            (max_id,) = writer.execute("SELECT COALESCE(MAX(id), 0) FROM kv").fetchone()
            readers = [self._connect(readonly=True) for _ in range(max(1, config.readers))]
        except BaseException:
            os.close(self._lock_fd)
            raise
        # _last_id belongs to the writer thread; _rev/_compacted to the event loop.
        self._last_id = max(base, max_id, row[0] if row else 0)
        self._rev = self._last_id
        self._compacted = compacted
        self._hub = WatchHub(revision=self._rev, max_buffer=config.watch_buffer)
        self._connections = [writer, *readers]
        self._writer = BatchThreads(
            name="sqlite-writer",
            states=[writer],
            run_batch=self._run_write_batch,
            max_batch=config.max_write_batch,
        )
        # Small read batches: a long list must not hold many queued gets hostage
        # while the other reader thread is idle.
        self._readers = BatchThreads(
            name="sqlite-reader", states=readers, run_batch=_run_reads, max_batch=16
        )
        self._compact_lock: asyncio.Lock | None = None
        self._compactor: Compactor | None = None
        self._closed = False

    def _connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.config.busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.config.synchronous.upper()}")
        conn.execute("PRAGMA journal_size_limit = 67108864")  # trim the WAL after checkpoints
        conn.execute(f"PRAGMA cache_size = -{int(self.config.cache_mb) * 1024}")
        if readonly:
            conn.execute("PRAGMA query_only = 1")
        return conn

    # ----- writes (run on the writer thread) -------------------------------

    def _run_write_batch(
        self, conn: sqlite3.Connection, jobs: list[Job]
    ) -> tuple[list[Outcome], Any]:
        txn_jobs = [job for job in jobs if not job.solo]
        outcomes: list[Outcome] = []
        events: list[WatchEvent] = []
        if txn_jobs:
            start_id = self._last_id
            try:
                conn.execute("BEGIN IMMEDIATE")
                batch = [run_job(job, conn) for job in txn_jobs]
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._last_id = start_id
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                err = StorageError(f"sqlite commit failed: {exc}")
                batch = [(job.future, None, err) for job in txn_jobs]
            for fut, result, exc in batch:
                if exc is None and isinstance(result, _Written):
                    events.append(result.event)
                    result = result.result
                outcomes.append((fut, result, exc))
        outcomes.extend(run_job(job, conn) for job in jobs if job.solo)
        revision = self._last_id

        def publish() -> None:  # on the loop, before any caller sees its ack
            self._rev = max(self._rev, revision)
            self._hub.publish(events, revision=revision)

        return outcomes, publish

    def _insert(
        self,
        conn: sqlite3.Connection,
        *,
        key: str,
        created: bool,
        deleted: bool,
        create_revision: int,
        prev_revision: int,
        value: bytes | None,
    ) -> int:
        rev = self._last_id + 1
        try:
            conn.execute(
                _SQL_INSERT,
                (
                    rev,
                    key,
                    int(created),
                    int(deleted),
                    create_revision or rev,
                    prev_revision,
                    value,
                ),
            )
        except sqlite3.IntegrityError as exc:  # the CAS index: someone else wrote first
            raise Conflict(f"concurrent write to {key!r}", key=key) from exc
        except sqlite3.Error as exc:
            raise StorageError(f"sqlite write of {key!r} failed: {exc}", key=key) from exc
        self._last_id = rev
        return rev

    def _w_create(self, conn: sqlite3.Connection, key: str, value: bytes) -> _Written:
        row = conn.execute(_SQL_LATEST, (key, self._last_id)).fetchone()
        if row is not None and not row[2]:
            raise AlreadyExists(f"key {key!r} exists", key=key, revision=row[0])
        rev = self._insert(
            conn,
            key=key,
            created=True,
            deleted=False,
            create_revision=0,
            prev_revision=row[0] if row else 0,
            value=value,
        )
        return _Written(
            KeyValue(key, value, rev, rev), WatchEvent("PUT", key, value, None, rev, rev)
        )

    def _w_update(
        self, conn: sqlite3.Connection, key: str, value: bytes, expected: int
    ) -> _Written:
        row = conn.execute(_SQL_LATEST, (key, self._last_id)).fetchone()
        if row is None or row[2]:
            raise NotFound(f"key {key!r} not found", key=key)
        if row[0] != expected:
            raise Conflict(
                f"key {key!r} is at revision {row[0]}, not {expected}", key=key, revision=row[0]
            )
        rev = self._insert(
            conn,
            key=key,
            created=False,
            deleted=False,
            create_revision=row[1],
            prev_revision=row[0],
            value=value,
        )
        return _Written(
            KeyValue(key, value, row[1], rev), WatchEvent("PUT", key, value, row[3], rev, row[1])
        )

    def _w_delete(self, conn: sqlite3.Connection, key: str, expected: int) -> _Written:
        row = conn.execute(_SQL_LATEST, (key, self._last_id)).fetchone()
        if row is None or row[2]:
            raise NotFound(f"key {key!r} not found", key=key)
        if expected and row[0] != expected:
            raise Conflict(
                f"key {key!r} is at revision {row[0]}, not {expected}", key=key, revision=row[0]
            )
        rev = self._insert(
            conn,
            key=key,
            created=False,
            deleted=True,
            create_revision=row[1],
            prev_revision=row[0],
            value=None,
        )
        return _Written(
            (rev, KeyValue(key, row[3], row[1], row[0])),
            WatchEvent("DELETE", key, None, row[3], rev, row[1]),
        )

    @staticmethod
    def _w_set_compacted(conn: sqlite3.Connection, revision: int) -> None:
        conn.execute("UPDATE meta SET value = ? WHERE name = 'compact_revision'", (revision,))

    @staticmethod
    def _w_compact_range(conn: sqlite3.Connection, lo: int, hi: int, revision: int) -> int:
        n = conn.execute(_SQL_COMPACT_SUPERSEDED, (lo, hi, revision)).rowcount
        return n + conn.execute(_SQL_COMPACT_TOMBSTONES, (lo, hi, revision)).rowcount

    @staticmethod
    def _w_checkpoint(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    # ----- the Storage contract ---------------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await self._writer.submit(self._w_create, key, bytes(value))

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        return await self._writer.submit(self._w_update, key, bytes(value), expected_revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> tuple[int, KeyValue]:
        return await self._writer.submit(self._w_delete, key, expected_revision)

    def _read_revision(self, revision: int) -> int:
        if revision <= 0:
            return self._rev
        if revision < self._compacted:
            raise Compacted(
                f"revision {revision} is compacted (compacted to {self._compacted})",
                revision=self._compacted,
            )
        if revision > self._rev:
            raise FutureRevision(
                f"revision {revision} is newer than current {self._rev}", revision=self._rev
            )
        return revision

    def _check_not_compacted(self, revision: int) -> None:
        """After a read: a compaction that began meanwhile may have removed rows."""
        if revision < self._compacted:
            raise Compacted(
                f"revision {revision} is compacted (compacted to {self._compacted})",
                revision=self._compacted,
            )

    async def get(self, key: str, *, revision: int = 0) -> KeyValue:
        rev = self._read_revision(revision)
        row = await self._readers.submit(_r_latest, key, rev)
        self._check_not_compacted(rev)
        if row is None or row[2]:
            raise NotFound(f"key {key!r} not found", key=key, revision=rev)
        return KeyValue(key, row[3], row[1], row[0])

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        start_key: str | None = None,
    ) -> ListResult:
        rev = self._read_revision(revision)
        lo = prefix if start_key is None or start_key < prefix else start_key
        fetch = limit + 1 if limit > 0 else -1  # one extra row tells whether more remain
        rows = await self._readers.submit(_r_list, lo, prefix_end(prefix), rev, fetch)
        self._check_not_compacted(rev)
        more = limit > 0 and len(rows) > limit
        if more:
            rows = rows[:limit]
        items = [KeyValue(name, value, crev, mrev) for name, value, crev, mrev in rows]
        return ListResult(items=items, revision=rev, more=more)

    async def count(self, prefix: str) -> int:
        return await self._readers.submit(_r_count, prefix, prefix_end(prefix))

    def watch(self, prefix: str, *, start_revision: int) -> Watch:
        """See :class:`~.watch_hub.HubWatch`: ``start_revision=0`` means "from now";
        a future start revision waits for it; a lagging watcher gets WatchExpired."""
        return HubWatch(
            self._hub,
            prefix,
            start_revision=start_revision,
            replay=self._replay,
            compacted_revision=self.compacted_revision,
        )

    async def _replay(self, prefix: str, lo: int, hi: int, limit: int) -> list[WatchEvent]:
        return await self._readers.submit(_r_history, prefix, prefix_end(prefix), lo, hi, limit)

    async def current_revision(self) -> int:
        return self._rev

    async def compacted_revision(self) -> int:
        return self._compacted

    async def compact(self, revision: int) -> None:
        """Forget versions superseded at ``revision`` and delete markers below it.

        Reads below ``revision`` fail from the moment this is called. The rows
        go in small steps, each its own short write interleaved with ordinary
        writes, and the WAL is checkpointed at the end.
        """
        if self._compact_lock is None:
            self._compact_lock = asyncio.Lock()
        async with self._compact_lock:
            if revision > self._rev:
                raise FutureRevision(
                    f"cannot compact to {revision}: current revision is {self._rev}",
                    revision=self._rev,
                )
            previous = self._compacted
            if revision <= previous:
                raise Compacted(
                    f"revision {revision} is already compacted (to {previous})",
                    revision=previous,
                )
            self._compacted = revision
            await self._writer.submit(self._w_set_compacted, revision)
            step = max(1, self.config.compact_batch)
            for lo in range(previous, revision + 1, step):
                await self._writer.submit(self._w_compact_range, lo, lo + step, revision)
            await self._writer.submit(self._w_checkpoint, solo=True)

    def start_compactor(self, *, interval: float = 300.0, keep_revisions: int = 1000) -> Compactor:
        """Compact periodically (see :class:`Compactor`); stopped by :meth:`close`."""
        if self._compactor is not None:
            self._compactor.stop()
        self._compactor = Compactor(self, interval=interval, keep_revisions=keep_revisions)
        self._compactor.start()
        return self._compactor

    async def close(self) -> None:
        """Finish queued writes, end all watches, release the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._compactor is not None:
            await self._compactor.aclose()
        self._hub.close()
        self._writer.stop()
        self._readers.stop()
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._writer.join()
        self._readers.join()
        for conn in self._connections:
            conn.close()
        os.close(self._lock_fd)


@dataclass(frozen=True, slots=True)
class _Written:
    """A committed write's caller result plus its watch event."""

    result: Any
    event: WatchEvent


# ----- reads (run on reader threads) ----------------------------------------


def _run_reads(conn: sqlite3.Connection, jobs: list[Job]) -> tuple[list[Outcome], None]:
    return [run_job(job, conn) for job in jobs], None


def _r_latest(conn: sqlite3.Connection, key: str, rev: int) -> tuple[Any, ...] | None:
    return conn.execute(_SQL_LATEST, (key, rev)).fetchone()


def _r_list(conn: sqlite3.Connection, lo: str, hi: str, rev: int, limit: int) -> list[Any]:
    # Two steps in one read transaction: pick the rows from the index, then fetch them
    # (one joined query would sort every value through a temporary B-tree).
    conn.execute("BEGIN")
    try:
        heads = conn.execute(_SQL_LIST_HEADS, (lo, hi, rev, limit)).fetchall()
        rows: list[Any] = []
        for i in range(0, len(heads), _FETCH_CHUNK):
            ids = [head[1] for head in heads[i : i + _FETCH_CHUNK]]
            marks = ",".join("?" * len(ids))
            rows += conn.execute(
                f"SELECT name, value, create_revision, id FROM kv WHERE id IN ({marks})", ids
            ).fetchall()
    finally:
        conn.execute("COMMIT")
    rows.sort()
    return rows


def _r_count(conn: sqlite3.Connection, lo: str, hi: str) -> int:
    return conn.execute(_SQL_COUNT, (lo, hi)).fetchone()[0]


def _r_history(
    conn: sqlite3.Connection, lo_key: str, hi_key: str, lo: int, hi: int, limit: int
) -> list[WatchEvent]:
    rows = conn.execute(_SQL_HISTORY, (lo, hi, lo_key, hi_key, limit)).fetchall()
    return [
        WatchEvent("DELETE", name, None, old, rev, crev)
        if deleted
        else WatchEvent("PUT", name, value, old, rev, crev)
        for rev, name, deleted, crev, value, old in rows
    ]


def _lock_file(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StorageError(f"{path}: the database is in use by another process") from None
    return fd
