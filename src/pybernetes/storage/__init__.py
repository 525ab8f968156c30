"""Storage: a revisioned key-value store with etcd's semantics.

``open_storage("sqlite", data_dir=...)`` opens the embedded backend; the
contract lives in :mod:`pybernetes.storage.interface`.

For the apiserver:

- Errors: NotFound → 404, AlreadyExists → 409 AlreadyExists, Conflict → 409
  Conflict, Compacted (and its subclass WatchExpired, raised by a watch whose
  consumer fell too far behind) → 410 Expired, FutureRevision → 504 Timeout
  ("Too large resource version", cause ResourceVersionTooLarge), any other
  StorageError → 500.
- Watch: ``watch(prefix, start_revision=rv + 1)`` for a client's
  resourceVersion ``rv``; ``start_revision=0`` means "changes from now".
- Compaction: ``start_compactor(store)`` (every 5 minutes, to the revision of
  the previous tick, keeping at least 1000 revisions), stopped with
  ``await compactor.aclose()`` before ``await store.close()``.
- A write whose caller is cancelled may still commit (like etcd).
"""

from __future__ import annotations

import os
from typing import Any

from .compactor import Compactor, start_compactor
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
from .watch_hub import WatchExpired

__all__ = [
    "AlreadyExists",
    "Compacted",
    "Compactor",
    "Conflict",
    "FutureRevision",
    "KeyValue",
    "ListResult",
    "NotFound",
    "Storage",
    "StorageError",
    "Watch",
    "WatchEvent",
    "WatchExpired",
    "open_storage",
    "start_compactor",
]

SQLITE_FILENAME = "pybernetes.db"


def open_storage(kind: str, *, data_dir: str, **opts: Any) -> Storage:
    """Open a storage backend.

    ``"sqlite"``: ``DATA_DIR/pybernetes.db`` (the directory is created);
    ``opts`` are :class:`~pybernetes.storage.sqlite.SQLiteConfig` fields.
    ``"etcd"``: ``opts`` are :class:`~pybernetes.storage.etcd.EtcdStorage`'s
    arguments (``endpoints`` — URLs, a list or comma-separated — ``prefix``,
    ``ca_file``, ``cert_file``, ``key_file``, ``watch_cache_size`` (events kept
    for one shared etcd watch; 0, the default, gives each watch its own), ...);
    ``data_dir`` is unused.
    Opening does blocking file I/O once; call it at startup (or via
    ``asyncio.to_thread``).
    """
    if kind == "sqlite":
        from .sqlite import SQLiteConfig, SQLiteStorage

        os.makedirs(data_dir, exist_ok=True)
        return SQLiteStorage(os.path.join(data_dir, SQLITE_FILENAME), config=SQLiteConfig(**opts))
    if kind == "etcd":
        try:
            from .etcd import EtcdStorage
        except ImportError as exc:  # aetcd/grpcio are only needed for this backend
            raise StorageError(f"the etcd backend needs the aetcd package: {exc}") from exc

        if not opts.get("endpoints"):
            raise ValueError("the etcd storage backend needs endpoints=URL[,URL...]")
        return EtcdStorage(**opts)
    raise ValueError(f"unknown storage kind {kind!r} (expected 'sqlite' or 'etcd')")
