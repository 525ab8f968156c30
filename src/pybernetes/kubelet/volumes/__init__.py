"""Volume plugins, one module per type, behind :class:`VolumePlugin`."""

from __future__ import annotations

from .config_map import ConfigMapPlugin
from .downward_api import DownwardAPIPlugin
from .empty_dir import EmptyDirPlugin
from .git_repo import GitRepoPlugin
from .host_path import HostPathPlugin
from .interface import MountError, ObjectGetter, VolumeContext, VolumePlugin
from .secret import SecretPlugin

__all__ = ["PLUGINS", "plugin_for", "MountError", "ObjectGetter", "VolumeContext", "VolumePlugin"]

PLUGINS: tuple[VolumePlugin, ...] = (EmptyDirPlugin(), HostPathPlugin(), ConfigMapPlugin(), SecretPlugin(),
                                     DownwardAPIPlugin(), GitRepoPlugin())


def plugin_for(volume: dict) -> VolumePlugin | None:
    """The plugin for a pod's spec.volumes[] entry, or None if unsupported."""
    for plugin in PLUGINS:
        if plugin.field in volume:
            return plugin
    return None
