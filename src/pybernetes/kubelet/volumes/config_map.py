"""configMap: keys of a ConfigMap as files, updated when the object changes."""

from __future__ import annotations

import asyncio
import base64
import shutil

from .atomic_writer import write_payload
from .interface import MountError, VolumeContext
from .projection import project_keys

__all__ = ["ConfigMapPlugin"]


class ConfigMapPlugin:
    name = "configmap"
    field = "configMap"
    refresh = True

    async def setup(self, ctx: VolumeContext) -> str:
        spec = ctx.volume.get("configMap") or {}
        cm_name = spec.get("name", "")
        optional = bool(spec.get("optional"))
        obj = await ctx.get_object("configmaps", ctx.namespace, cm_name)
        if obj is None and not optional:
            raise MountError(f'configmap "{cm_name}" not found')
        data: dict[str, bytes] = {}
        if obj is not None:
            data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        payload = project_keys(data, spec.get("items"), spec.get("defaultMode"), kind="configmap",
                               name=cm_name, optional=optional)
        path = ctx.volume_dir(self.name)
        await asyncio.to_thread(write_payload, path, payload)
        return path

    async def teardown(self, ctx: VolumeContext) -> None:
        await asyncio.to_thread(shutil.rmtree, ctx.volume_dir(self.name), True)
