"""Kubernetes' AtomicWriter: a volume whose files change together.

The payload is written into a fresh timestamped directory ``..<ts>``; a
``..data`` symlink is swapped to it with one rename, and each top-level name
is a symlink through ``..data``. A reader therefore sees the old set of files
or the new one, never a mix; subPath mounts keep the version they started
with, as in Kubernetes.
"""

from __future__ import annotations

import os
import shutil
import time

__all__ = ["write_payload", "FileProjection"]

FileProjection = tuple[bytes, int]  # content, mode
_DATA = "..data"


def _current(target: str) -> dict[str, FileProjection] | None:
    data = os.path.join(target, _DATA)
    if not os.path.islink(data):
        return None
    out: dict[str, FileProjection] = {}
    for dirpath, _dirs, files in os.walk(data + "/"):
        for name in files:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, data + "/")
            with open(full, "rb") as f:
                out[rel] = (f.read(), os.stat(full).st_mode & 0o7777)
    return out


def write_payload(target: str, payload: dict[str, FileProjection]) -> bool:
    """Make ``target`` hold exactly ``payload`` (relative path -> (bytes, mode)).
    Returns True if anything changed. Blocking: run it in a thread."""
    os.makedirs(target, exist_ok=True)
    if _current(target) == payload:
        return False
    ts = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}_{time.time_ns() % 1_000_000_000}"
    new_dir = os.path.join(target, ts)
    os.makedirs(new_dir)
    for rel, (content, mode) in payload.items():
        path = os.path.join(new_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, mode)
    os.chmod(new_dir, 0o755)
    data = os.path.join(target, _DATA)
    old = os.readlink(data) if os.path.islink(data) else None
    tmp_link = os.path.join(target, "..data_tmp")
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(ts, tmp_link)
    os.replace(tmp_link, data)
    tops = {rel.split("/", 1)[0] for rel in payload}
    for top in tops:
        link = os.path.join(target, top)
        if not os.path.islink(link):
            if os.path.lexists(link):
                shutil.rmtree(link, ignore_errors=True)
            os.symlink(os.path.join(_DATA, top), link)
    for entry in os.listdir(target):
        if entry.startswith(".."):
            continue
        if entry not in tops:
            os.unlink(os.path.join(target, entry))
    if old and old != ts:
        shutil.rmtree(os.path.join(target, old), ignore_errors=True)
    return True
