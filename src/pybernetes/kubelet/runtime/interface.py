"""The container runtime interface the kubelet drives (Nomad's task-driver
shape, CRI's vocabulary): pod sandboxes, containers, logs, exec, recovery.

A runtime is a small class behind :class:`Runtime`; the kubelet's pod workers
know no runtime by name. Optional abilities (stats) are separate Protocols.

Contracts shared by every runtime:
- ``start_container`` returns once the container's process exists; its exit
  is observed later (``container_status``) and announced through the
  ``on_exit`` callback given at construction (the kubelet's PLEG).
- Task state lives on disk under the runtime's root, so a new runtime object
  over the same root ``recover()``s running containers instead of starting
  them again; containers that exited while nobody watched report their exit.
- ``stop_container`` is idempotent; ``remove_*`` deletes what ``create/start``
  made (the caller stops first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "Mount", "SandboxConfig", "ContainerConfig", "ContainerStatus", "ContainerState",
    "ExecResult", "Runtime", "StatsProvider", "ExitCallback", "ContainerStats",
]

ContainerState = Literal["created", "running", "exited", "unknown"]
ExitCallback = Callable[[str], None]  # called with the pod uid whose container exited


@dataclass(frozen=True, slots=True)
class Mount:
    """A host path made visible at ``container_path`` inside the container."""

    host_path: str
    container_path: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    uid: str
    namespace: str
    name: str
    host_network: bool = True


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """Everything needed to run one container attempt."""

    pod_uid: str
    pod_namespace: str
    pod_name: str
    name: str
    attempt: int
    image: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None
    mounts: tuple[Mount, ...] = ()


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    id: str
    pod_uid: str
    name: str
    attempt: int
    image: str
    state: ContainerState
    pid: int | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    log_path: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    output: bytes
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class ContainerStats:
    cpu_seconds: float
    memory_rss_bytes: int


@runtime_checkable
class Runtime(Protocol):
    """What a container runtime must do for the kubelet."""

    name: str  # "process", "docker": the scheme of containerID and imageID

    async def version(self) -> str: ...

    # -- pod sandboxes
    async def create_sandbox(self, config: SandboxConfig) -> str:
        """Create (idempotently) the pod's sandbox; returns its directory."""

    async def remove_sandbox(self, uid: str) -> None:
        """Delete the sandbox and everything under it (containers already stopped)."""

    def list_sandboxes(self) -> list[str]:
        """Uids of pods that have a sandbox under this runtime's root."""

    def sandbox_ip(self, uid: str) -> str: ...

    # -- containers
    async def start_container(self, config: ContainerConfig) -> ContainerStatus: ...

    async def stop_container(self, container_id: str, *, grace_period: float) -> None:
        """SIGTERM, then SIGKILL after ``grace_period`` seconds; returns when it is gone."""

    def container_status(self, container_id: str) -> ContainerStatus | None: ...

    def list_containers(self, pod_uid: str | None = None) -> list[ContainerStatus]: ...

    async def remove_container(self, container_id: str) -> None: ...

    async def exec_sync(self, container_id: str, argv: Sequence[str], *, timeout: float) -> ExecResult: ...

    # -- logs and recovery
    def log_path(self, container_id: str) -> str: ...

    async def recover(self) -> list[ContainerStatus]:
        """Adopt containers left by a previous kubelet; returns all known containers."""

    async def close(self) -> None:
        """Stop watching (containers keep running)."""


@runtime_checkable
class StatsProvider(Protocol):
    def container_stats(self, container_id: str) -> ContainerStats | None: ...
