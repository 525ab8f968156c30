"""secret: keys of a Secret as files (mode 0644 unless defaultMode), updated
when the object changes. As root the directory is a tmpfs so secrets never
reach the disk, as in Kubernetes."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil

from .atomic_writer import write_payload
from .empty_dir import _is_mount_point
from .interface import MountError, VolumeContext
from .projection import project_keys

__all__ = ["SecretPlugin"]


class SecretPlugin:
    name = "secret"
    field = "secret"
    refresh = True

    async def setup(self, ctx: VolumeContext) -> str:
        spec = ctx.volume.get("secret") or {}
        secret_name = spec.get("secretName", "")
        optional = bool(spec.get("optional"))
        obj = await ctx.get_object("secrets", ctx.namespace, secret_name)
        if obj is None and not optional:
            raise MountError(f'secret "{secret_name}" not found')
        data = {k: base64.b64decode(v) for k, v in ((obj or {}).get("data") or {}).items()}
        data.update({k: v.encode() for k, v in ((obj or {}).get("stringData") or {}).items()})
        payload = project_keys(data, spec.get("items"), spec.get("defaultMode"), kind="secret",
                               name=secret_name, optional=optional)
        path = ctx.volume_dir(self.name)
        await asyncio.to_thread(os.makedirs, path, 0o755, True)
        if ctx.as_root and not await asyncio.to_thread(_is_mount_point, path):
            proc = await asyncio.create_subprocess_exec("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", path)
            await proc.wait()
        await asyncio.to_thread(write_payload, path, payload)
        return path

    async def teardown(self, ctx: VolumeContext) -> None:
        path = ctx.volume_dir(self.name)
        if await asyncio.to_thread(_is_mount_point, path):
            proc = await asyncio.create_subprocess_exec("umount", "-l", path)
            await proc.wait()
        await asyncio.to_thread(shutil.rmtree, path, True)
