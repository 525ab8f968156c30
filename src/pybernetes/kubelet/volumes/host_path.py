"""hostPath: a path of the host, checked (or created) per its ``type``."""

from __future__ import annotations

import asyncio
import os
import stat

from .interface import MountError, VolumeContext

__all__ = ["HostPathPlugin", "check_host_path"]


def check_host_path(path: str, type_: str) -> None:
    """Kubernetes' hostPath type checks (and creation for *OrCreate)."""
    if type_ == "DirectoryOrCreate":
        if not os.path.exists(path):
            os.makedirs(path, 0o755)
            return
        type_ = "Directory"
    if type_ == "FileOrCreate":
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
            with open(path, "a"):
                pass
            os.chmod(path, 0o644)
            return
        type_ = "File"
    if not type_:
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        kinds = {"Directory": "directory", "File": "file", "Socket": "socket",
                 "CharDevice": "character device", "BlockDevice": "block device"}
        raise MountError(f"hostPath type check failed: {path} is not a {kinds.get(type_, type_)}") from None
    checks = {"Directory": (stat.S_ISDIR, "a directory"), "File": (stat.S_ISREG, "a file"),
              "Socket": (stat.S_ISSOCK, "a socket file"), "CharDevice": (stat.S_ISCHR, "a character device"),
              "BlockDevice": (stat.S_ISBLK, "a block device")}
    if type_ not in checks:
        raise MountError(f"hostPath type check failed: unknown type {type_}")
    fn, what = checks[type_]
    if not fn(mode):
        raise MountError(f"hostPath type check failed: {path} is not {what}")


class HostPathPlugin:
    name = "host-path"
    field = "hostPath"
    refresh = False

    async def setup(self, ctx: VolumeContext) -> str:
        spec = ctx.volume.get("hostPath") or {}
        path = spec.get("path") or ""
        await asyncio.to_thread(check_host_path, path, spec.get("type") or "")
        return path

    async def teardown(self, ctx: VolumeContext) -> None:
        return None  # the host's files are never the kubelet's to delete
