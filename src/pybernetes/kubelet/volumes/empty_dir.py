"""emptyDir: a fresh directory for the pod's life; medium Memory is a tmpfs."""

from __future__ import annotations

import asyncio
import os
import shutil

from ...api.quantity import parse_quantity
from .interface import MountError, VolumeContext

__all__ = ["EmptyDirPlugin"]


def _is_mount_point(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == real for line in f)


class EmptyDirPlugin:
    name = "empty-dir"
    field = "emptyDir"
    refresh = False

    async def setup(self, ctx: VolumeContext) -> str:
        path = ctx.volume_dir(self.name)
        spec = ctx.volume.get("emptyDir") or {}
        await asyncio.to_thread(os.makedirs, path, 0o777, True)
        if spec.get("medium") == "Memory" and ctx.as_root and not await asyncio.to_thread(_is_mount_point, path):
            opts = "mode=1777"
            if spec.get("sizeLimit"):
                opts += f",size={parse_quantity(spec['sizeLimit']).int_value()}"
            proc = await asyncio.create_subprocess_exec(
                "mount", "-t", "tmpfs", "-o", opts, "tmpfs", path,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                raise MountError(f"mount failed: {out.decode(errors='replace').strip()}")
        os.chmod(path, 0o777)  # emptyDir is world-writable, as in Kubernetes
        return path

    async def teardown(self, ctx: VolumeContext) -> None:
        path = ctx.volume_dir(self.name)
        if await asyncio.to_thread(_is_mount_point, path):
            proc = await asyncio.create_subprocess_exec("umount", "-l", path)
            await proc.wait()
        await asyncio.to_thread(shutil.rmtree, path, True)
