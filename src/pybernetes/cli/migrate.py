"""`pyb migrate --from sqlite:PATH --to etcd:URL[,URL...]`: move a cluster's state
from one storage backend to another.

What moves: every key under ``/registry/`` — each object of every kind (values
byte for byte, so UIDs, creationTimestamps, labels, annotations, owner
references, spec and status are unchanged) and the allocator keys under
``/registry/ranges/`` (cluster IPs and node ports stay allocated, so new
Services cannot clash with migrated ones). Objects get new resourceVersions
(the destination's revisions): clients relist, as after any restore.

The source is read as one snapshot (every page at the same revision); stop the
apiservers first anyway, or writes after the snapshot are left behind. A
destination that holds keys under ``/registry/`` is refused unless ``--force``,
which then overwrites keys present on both sides and leaves the others.

Locations: ``sqlite:PATH`` (an apiserver's ``--data-dir``, or the database file
in it) and ``etcd:URL[,URL...]`` (with ``--etcd-prefix``, ``--etcd-cafile``,
``--etcd-certfile``, ``--etcd-keyfile`` as for `pyb apiserver`). Either may be
the source or the destination.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from dataclasses import dataclass

from ..api.resources import RESOURCES
from ..storage import SQLITE_FILENAME, AlreadyExists, Conflict, NotFound, Storage, StorageError

__all__ = ["add_migrate_args", "cmd_migrate", "migrate", "Location", "parse_location", "kind_of_key",
           "MigrationResult"]

ROOT = "/registry/"
RANGES = "/registry/ranges/"
PAGE = 500
IN_FLIGHT = 32  # writes in flight at once (etcd round trips overlap)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a cluster's state lives: ``kind`` "sqlite" (``path``: the database
    file) or "etcd" (``servers``)."""

    kind: str
    path: str = ""
    servers: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"sqlite:{self.path}" if self.kind == "sqlite" else "etcd:" + ",".join(self.servers)


def parse_location(text: str, *, must_exist: bool) -> Location:
    """``sqlite:PATH`` or ``etcd:URL[,URL...]``; ValueError with the reason otherwise."""
    kind, sep, rest = text.partition(":")
    if not sep or not rest:
        raise ValueError(f"{text!r}: expected sqlite:PATH or etcd:URL[,URL...]")
    if kind == "sqlite":
        path = os.path.expanduser(rest)
        if os.path.isdir(path):
            path = os.path.join(path, SQLITE_FILENAME)
        if must_exist and not os.path.isfile(path):
            raise ValueError(f"{text!r}: no SQLite database at {path}")
        return Location("sqlite", path=path)
    if kind == "etcd":
        servers = tuple(u.strip() for u in rest.split(",") if u.strip())
        bad = [u for u in servers if not u.startswith(("http://", "https://"))]
        if not servers or bad:
            raise ValueError(f"{text!r}: etcd members are http:// or https:// URLs")
        return Location("etcd", servers=servers)
    raise ValueError(f"{text!r}: unknown storage {kind!r} (expected sqlite or etcd)")


_KIND_BY_PREFIX = sorted(((r.storage_prefix, r.kind if not r.group else f"{r.kind}.{r.group}")
                          for r in RESOURCES), key=lambda p: -len(p[0]))


def kind_of_key(key: str) -> str:
    """What a storage key holds, for the counts: ``Pod``, ``Lease.coordination.k8s.io``,
    ``ranges/serviceips`` (allocations), else the key's first two segments."""
    for prefix, kind in _KIND_BY_PREFIX:
        if key.startswith(prefix):
            return kind
    parts = key[len(ROOT):].split("/") if key.startswith(ROOT) else key.strip("/").split("/")
    return "/".join(parts[:2])


@dataclass(frozen=True, slots=True)
class MigrationResult:
    counts: dict[str, int]  # kind_of_key → keys copied
    source_revision: int  # the snapshot's revision

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def open_location(loc: Location, *, etcd_prefix: str = "/registry", ca_file: str | None = None,
                  cert_file: str | None = None, key_file: str | None = None) -> Storage:
    """Open the store at ``loc`` (blocking: call off the event loop)."""
    if loc.kind == "sqlite":
        from ..storage.sqlite import SQLiteStorage

        os.makedirs(os.path.dirname(loc.path) or ".", exist_ok=True)
        return SQLiteStorage(loc.path)
    from ..apiserver.server import EtcdOptions
    from ..storage import open_storage

    opts = EtcdOptions(servers=loc.servers, prefix=etcd_prefix, ca_file=ca_file, cert_file=cert_file,
                       key_file=key_file)
    return open_storage("etcd", data_dir="", **opts.storage_opts())


async def migrate(source: Storage, dest: Storage, *, force: bool = False, page_size: int = PAGE) -> MigrationResult:
    """Copy every key under ``/registry/`` from ``source`` to ``dest``.

    Refuses (ValueError) a ``dest`` with keys under ``/registry/`` unless
    ``force``, which overwrites keys that exist there. Reads one snapshot of the
    source (pages of ``page_size`` keys, all at the first page's revision)."""
    if not force and await dest.count(ROOT):
        raise ValueError(f"the destination already holds {await dest.count(ROOT)} keys under {ROOT} "
                         "(another cluster's state?): refusing to mix them; --force writes over it")
    counts: Counter[str] = Counter()
    limiter = asyncio.Semaphore(IN_FLIGHT)

    async def put(key: str, value: bytes) -> None:
        async with limiter:
            try:
                await dest.create(key, value)
            except AlreadyExists:
                if not force:
                    raise
                # --force: overwrite whatever is there (a CAS loop: it may change meanwhile).
                while True:
                    try:
                        current = await dest.get(key)
                        await dest.update(key, value, expected_revision=current.mod_revision)
                        break
                    except NotFound:
                        try:
                            await dest.create(key, value)
                            break
                        except AlreadyExists:
                            continue
                    except Conflict:
                        continue
        counts[kind_of_key(key)] += 1

    revision = 0
    start: str | None = None
    while True:
        page = await source.list(ROOT, revision=revision, limit=page_size, start_key=start)
        revision = page.revision  # every later page reads the first page's snapshot
        await asyncio.gather(*(put(kv.key, kv.value) for kv in page.items))
        if not page.more or not page.items:
            break
        start = page.items[-1].key + "\x00"
    return MigrationResult(counts=dict(counts), source_revision=revision)


def add_migrate_args(p: argparse.ArgumentParser) -> None:
    p.description = __doc__.split("\n\n", 1)[1] if __doc__ else None
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--from", dest="source", required=True, metavar="sqlite:PATH|etcd:URLS",
                   help="where the cluster's state is now (sqlite:DATA_DIR or the .db file)")
    p.add_argument("--to", dest="dest", required=True, metavar="etcd:URL[,URL...]|sqlite:PATH",
                   help="where to copy it")
    p.add_argument("--force", action="store_true",
                   help="write into a destination that already holds objects (overwrites keys on both sides)")
    g = p.add_argument_group("etcd (either side)")
    g.add_argument("--etcd-prefix", default="/registry", help="as `pyb apiserver --etcd-prefix`")
    g.add_argument("--etcd-cafile", default=None)
    g.add_argument("--etcd-certfile", default=None)
    g.add_argument("--etcd-keyfile", default=None)


async def _run(args: argparse.Namespace, src: Location, dst: Location) -> MigrationResult:
    tls = {"etcd_prefix": args.etcd_prefix, "ca_file": args.etcd_cafile, "cert_file": args.etcd_certfile,
           "key_file": args.etcd_keyfile}
    source = await asyncio.to_thread(open_location, src, **tls)
    try:
        dest = await asyncio.to_thread(open_location, dst, **tls)
        try:
            return await migrate(source, dest, force=args.force)
        finally:
            await dest.close()
    finally:
        await source.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    """Run the migration and print what was copied, per kind; 1 on failure."""
    try:
        src = parse_location(args.source, must_exist=True)
        dst = parse_location(args.dest, must_exist=False)
    except ValueError as e:
        print(f"pyb migrate: {e}", file=sys.stderr)
        return 2
    if str(src) == str(dst):
        print("pyb migrate: --from and --to are the same place", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(_run(args, src, dst))
    except (ValueError, StorageError, OSError) as e:
        print(f"pyb migrate: {e}", file=sys.stderr)
        return 1
    width = max((len(k) for k in result.counts), default=4)
    print(f"{'KIND':<{width}}  COUNT")
    for kind in sorted(result.counts):
        print(f"{kind:<{width}}  {result.counts[kind]}")
    print(f"copied {result.total} keys from {src} (revision {result.source_revision}) to {dst}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m pybernetes.cli.migrate ...``, until `pyb migrate` is registered."""
    p = argparse.ArgumentParser(prog="pyb migrate")
    add_migrate_args(p)
    return cmd_migrate(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
