"""The process runtime's saved task state: one JSON file per container.

Written atomically (temp file + rename) when a container starts and when its
exit is recorded, so a kubelet restarted over the same root finds every
container, its process (pid + kernel start time, which guards against pid
reuse) and, once it has exited, its exit code.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field, fields

__all__ = ["TaskState", "save_state", "load_state", "state_dict", "STATE_FILE"]

STATE_FILE = "state.json"


@dataclass(slots=True)
class TaskState:
    id: str
    pod_uid: str
    pod_namespace: str
    pod_name: str
    name: str
    attempt: int
    image: str
    argv: list[str]
    env: list[list[str]]
    working_dir: str | None
    mounts: list[dict]
    created_at: float
    shim_pid: int = 0
    shim_start_ticks: int = 0
    pid: int = 0  # the container's main process (child of the shim)
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    killed: bool = False  # the kubelet sent SIGKILL: no exit file will follow
    labels: dict[str, str] = field(default_factory=dict)


_FIELDS = tuple(f.name for f in fields(TaskState))


def state_dict(state: TaskState) -> dict:
    """The state as a JSON-ready dict (shallow: a snapshot to serialise at once)."""
    return {name: getattr(state, name) for name in _FIELDS}


def save_state(directory: str, state: TaskState, *, new: bool = False) -> None:
    """Write the state. ``new``: the file does not exist yet, so it is written
    in place — renaming over an existing file makes ext4 flush the data first
    (auto_da_alloc, ~20 ms), which a container start should not pay; a torn
    first write reads back as no state (the container dir is then dropped)."""
    path = os.path.join(directory, STATE_FILE)
    if new:
        with open(path, "w") as f:
            json.dump(state_dict(state), f)
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state_dict(state), f)
    os.replace(tmp, path)


def load_state(directory: str) -> TaskState | None:
    """The state saved in ``directory``, or None if absent or unreadable."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        with open(os.path.join(directory, STATE_FILE)) as f:
            raw = json.load(f)
        known = {f.name for f in fields(TaskState)}
        return TaskState(**{k: v for k, v in raw.items() if k in known})
    return None
