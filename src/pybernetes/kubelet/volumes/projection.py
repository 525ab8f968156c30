"""Shared by configMap, secret and downwardAPI volumes: turn keys and
``items`` into a payload for the atomic writer."""

from __future__ import annotations

from .atomic_writer import FileProjection
from .interface import MountError

__all__ = ["project_keys"]


def project_keys(data: dict[str, bytes], items: list[dict] | None, default_mode: int | None, *,
                 kind: str, name: str, optional: bool) -> dict[str, FileProjection]:
    mode = 0o644 if default_mode is None else default_mode
    if not items:
        return {k: (v, mode) for k, v in data.items()}
    out: dict[str, FileProjection] = {}
    for item in items:
        key = item.get("key")
        if key not in data:
            if optional:
                continue
            raise MountError(f"{kind} {name!r}: references non-existent {kind} key: {key}")
        out[item.get("path") or key] = (data[key], item.get("mode", mode))
    return out
