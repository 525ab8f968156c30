"""Storage flags shared by `pyb apiserver` and `pyb up`, named as Kubernetes' apiserver names them:
``--storage sqlite|etcd``, ``--etcd-servers``, ``--etcd-prefix``, ``--etcd-cafile``, ``--etcd-certfile``,
``--etcd-keyfile``."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the apiserver (aiohttp, ...) loads only when a command runs one
    from ..apiserver.server import EtcdOptions

__all__ = ["add_storage_args", "etcd_options"]


def add_storage_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", default="sqlite", choices=["sqlite", "etcd"],
                   help="sqlite: one file in --data-dir (default); etcd: the cluster at --etcd-servers, "
                        "which several apiservers may share")
    g = p.add_argument_group("etcd (with --storage etcd)")
    g.add_argument("--etcd-servers", default="", metavar="URL[,URL...]",
                   help="etcd members, e.g. http://127.0.0.1:2379 (https:// for TLS)")
    g.add_argument("--etcd-prefix", default="/registry",
                   help="prefix of every key in etcd (default /registry, as Kubernetes); "
                        "apiservers sharing etcd use the same one")
    g.add_argument("--etcd-cafile", default=None, help="CA that signed etcd's serving certificates")
    g.add_argument("--etcd-certfile", default=None, help="client certificate for etcd (with --etcd-keyfile)")
    g.add_argument("--etcd-keyfile", default=None, help="its private key")
    g.add_argument("--watch-cache", default=True, action=argparse.BooleanOptionalAction,
                   help="serve watches from one etcd watch and recent events kept in memory (default); "
                        "--no-watch-cache gives every watch its own etcd watch")


def etcd_options(args: argparse.Namespace, *, command: str) -> EtcdOptions | None:
    """The parsed etcd flags (None for SQLite); SystemExit with a one-line reason when they do not fit."""
    from ..apiserver.server import EtcdOptions

    servers = tuple(u.strip() for u in (args.etcd_servers or "").split(",") if u.strip())
    tls = (args.etcd_cafile, args.etcd_certfile, args.etcd_keyfile)
    if args.storage != "etcd":
        if servers or any(tls):
            raise SystemExit(f"{command}: --etcd-* flags need --storage etcd")
        return None
    if not servers:
        raise SystemExit(f"{command}: --storage etcd needs --etcd-servers URL[,URL...]")
    if bool(args.etcd_certfile) != bool(args.etcd_keyfile):
        raise SystemExit(f"{command}: --etcd-certfile and --etcd-keyfile go together")
    for flag, path in zip(("--etcd-cafile", "--etcd-certfile", "--etcd-keyfile"), tls, strict=True):
        if path and not os.path.isfile(path):
            raise SystemExit(f"{command}: {flag} {path}: no such file")
    if not args.etcd_prefix.startswith("/"):
        raise SystemExit(f"{command}: --etcd-prefix must start with /")
    for url in servers:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in ("", "http", "https", "unix", "unixs"):
            raise SystemExit(f"{command}: --etcd-servers {url}: expected http://HOST:PORT or https://HOST:PORT")
    cache = {} if getattr(args, "watch_cache", True) else {"watch_cache_size": 0}
    return EtcdOptions(servers=servers, prefix=args.etcd_prefix, ca_file=args.etcd_cafile,
                       cert_file=args.etcd_certfile, key_file=args.etcd_keyfile, **cache)
