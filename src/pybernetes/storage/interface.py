"""The storage contract: a key-value store with etcd's semantics.

Every backend (SQLite, etcd) implements :class:`Storage`; the apiserver is the
only caller. Keys are strings such as ``/registry/core/pods/default/web``;
values are opaque bytes. Every successful write bumps one global revision
shared by all keys, and each key remembers the revision that created it and the
revision that last modified it (``create_revision`` / ``mod_revision``).

Contract (shared by all backends, checked by tests/storage/conformance.py):

- ``create`` succeeds only if the key is absent (else :class:`AlreadyExists`).
- ``update`` / ``delete`` with ``expected_revision`` succeed only if the key's
  current ``mod_revision`` equals it (else :class:`Conflict`); a missing key
  is :class:`NotFound`. ``expected_revision=0`` on delete means unconditional.
- ``get`` / ``list`` read the latest state, or the state as of ``revision``;
  a revision older than the compacted one raises :class:`Compacted`, one newer
  than the current revision raises :class:`FutureRevision`.
- ``list`` returns keys in lexical order starting at ``start_key`` (inclusive)
  under ``prefix``; ``limit`` > 0 caps the count and ``more`` says whether keys
  remain. The returned ``revision`` is the store revision the list reflects
  (pass it back as ``revision`` to page consistently).
- ``watch(prefix, start_revision=N)`` yields every change to keys under
  ``prefix`` with revision >= N, in revision order, with no gaps, then live
  changes as they commit. Deletes carry the previous value. A start revision
  at or below the compacted revision raises :class:`Compacted` (from the first
  ``__anext__``). The iterator ends only when closed.
- ``compact(revision)`` forgets superseded versions (and delete markers) with
  mod revision < ``revision``; reads at older revisions then fail.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AlreadyExists",
    "Compacted",
    "Conflict",
    "FutureRevision",
    "KeyValue",
    "ListResult",
    "NotFound",
    "Storage",
    "StorageError",
    "Watch",
    "WatchEvent",
]


class StorageError(Exception):
    """Base of all storage errors."""

    def __init__(self, message: str = "", *, key: str = "", revision: int = 0):
        super().__init__(message or key)
        self.key = key
        self.revision = revision


class NotFound(StorageError):
    """The key does not exist (at the requested revision)."""


class AlreadyExists(StorageError):
    """create() of a key that exists."""


class Conflict(StorageError):
    """The key's mod_revision is not the expected one; ``revision`` is the current one."""


class Compacted(StorageError):
    """The requested revision was compacted away; ``revision`` is the compacted one."""


class FutureRevision(StorageError):
    """The requested revision is newer than the store's; ``revision`` is the current one."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[KeyValue]
    revision: int
    more: bool


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change. ``type`` is "PUT" (create or update) or "DELETE".

    ``value`` is the new value (None for DELETE); ``prev_value`` the value
    before the change (None for a create). ``revision`` is the change's own
    revision; ``create_revision == revision`` marks a create.
    """

    type: Literal["PUT", "DELETE"]
    key: str
    value: bytes | None
    prev_value: bytes | None
    revision: int
    create_revision: int

    @property
    def is_create(self) -> bool:
        return self.type == "PUT" and self.create_revision == self.revision


class Watch(abc.ABC):
    """An async iterator of :class:`WatchEvent`; ``close()`` ends it (idempotent)."""

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> WatchEvent: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    def ready(self, limit: int) -> list[WatchEvent]:
        """Up to ``limit`` next events that are already at hand, without
        waiting (may be empty even when more would come): lets a consumer batch
        a burst into one write. The default offers none."""
        return []


class Storage(abc.ABC):
    """A revisioned key-value store. All methods are safe to call concurrently
    from the event loop and never block it."""

    @abc.abstractmethod
    async def create(self, key: str, value: bytes) -> KeyValue:
        """Create ``key``; returns the stored KeyValue (its revision is new)."""

    @abc.abstractmethod
    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        """Compare-and-swap on mod_revision; returns the new KeyValue."""

    @abc.abstractmethod
    async def delete(self, key: str, *, expected_revision: int = 0) -> tuple[int, KeyValue]:
        """Delete ``key``; returns (revision of the delete, the value it had)."""

    @abc.abstractmethod
    async def get(self, key: str, *, revision: int = 0) -> KeyValue: ...

    @abc.abstractmethod
    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        start_key: str | None = None,
    ) -> ListResult: ...

    @abc.abstractmethod
    async def count(self, prefix: str) -> int:
        """Number of live keys under ``prefix`` (for remainingItemCount)."""

    @abc.abstractmethod
    def watch(self, prefix: str, *, start_revision: int) -> Watch: ...

    @abc.abstractmethod
    async def current_revision(self) -> int: ...

    @abc.abstractmethod
    async def compacted_revision(self) -> int: ...

    @abc.abstractmethod
    async def compact(self, revision: int) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...
