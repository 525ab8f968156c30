"""downwardAPI: pod fields and container resources as files, refreshed so
label and annotation changes show up."""

from __future__ import annotations

import asyncio
import shutil

from ..fieldpath import FieldPathError, extract_field_path, resource_field_value
from .atomic_writer import write_payload
from .interface import MountError, VolumeContext

__all__ = ["DownwardAPIPlugin"]


class DownwardAPIPlugin:
    name = "downward-api"
    field = "downwardAPI"
    refresh = True

    async def setup(self, ctx: VolumeContext) -> str:
        spec = ctx.volume.get("downwardAPI") or {}
        default_mode = spec.get("defaultMode", 0o644)
        allocatable = (ctx.extra or {}).get("allocatable", {}) if isinstance(ctx.extra, dict) else {}
        payload = {}
        for item in spec.get("items") or ():
            try:
                if "fieldRef" in item:
                    value = extract_field_path(ctx.pod, item["fieldRef"].get("fieldPath", ""))
                elif "resourceFieldRef" in item:
                    ref = item["resourceFieldRef"]
                    value = resource_field_value(ctx.pod, ref.get("containerName", ""), ref.get("resource", ""),
                                                 ref.get("divisor"), allocatable)
                else:
                    continue
            except FieldPathError as e:
                raise MountError(str(e)) from None
            payload[item["path"]] = (value.encode(), item.get("mode", default_mode))
        path = ctx.volume_dir(self.name)
        await asyncio.to_thread(write_payload, path, payload)
        return path

    async def teardown(self, ctx: VolumeContext) -> None:
        await asyncio.to_thread(shutil.rmtree, ctx.volume_dir(self.name), True)
