"""The volume plugin interface: one small class per volume type (Kubernetes'
volume plugins), found by :func:`~pybernetes.kubelet.volumes.plugin_for`.

``setup`` makes the volume's content available at a host directory, is
idempotent, and raises :class:`MountError` (with Kubernetes' wording) when it
cannot: the pod worker then reports FailedMount, keeps the pod Waiting in
ContainerCreating, and retries. A plugin whose content follows API objects
sets ``refresh`` so the worker calls ``setup`` again periodically.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["VolumeContext", "VolumePlugin", "MountError", "ObjectGetter"]

# (kind, namespace, name) -> object or None when it does not exist
ObjectGetter = Callable[[str, str, str], Awaitable[dict | None]]


class MountError(Exception):
    """A volume could not be set up; the message is shown in the FailedMount event."""


@dataclass(frozen=True, slots=True)
class VolumeContext:
    pod: dict
    volume: dict  # the pod's spec.volumes[] entry
    pods_dir: str  # the kubelet's <root>/pods
    get_object: ObjectGetter
    as_root: bool = True
    extra: Any = None

    @property
    def pod_uid(self) -> str:
        return self.pod["metadata"]["uid"]

    @property
    def namespace(self) -> str:
        return self.pod["metadata"].get("namespace") or "default"

    @property
    def name(self) -> str:
        return self.volume["name"]

    def volume_dir(self, plugin: str) -> str:
        """<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<volume name>, as the kubelet lays it out."""
        return os.path.join(self.pods_dir, self.pod_uid, "volumes", f"kubernetes.io~{plugin}", self.name)


class VolumePlugin(Protocol):
    name: str  # "empty-dir", "host-path", ...
    field: str  # the key in a volume spec it handles ("emptyDir", ...)
    refresh: bool

    async def setup(self, ctx: VolumeContext) -> str:
        """Make the volume ready; return the host path to bind-mount."""

    async def teardown(self, ctx: VolumeContext) -> None:
        """Undo ``setup`` (unmount, delete what the kubelet created)."""
