"""pybernetes' client library: every component talks to the apiserver through it.

- :class:`Client` (asyncio) and :class:`SyncClient` (blocking facade):
  ``client.pods(ns).list()``, ``.get``, ``.create``, ``.update``,
  ``.update_status``, ``.patch``, ``.delete``, ``.delete_collection``,
  ``.watch``; pods also ``.bind`` and ``.log``; ``client.version()``,
  ``client.server_resources()``.
- :class:`FakeClient`: the same interface over an in-memory store, recording actions.
- :mod:`errors`: one exception per Kubernetes Status reason.
- :func:`load_kubeconfig`: the files kubectl reads.
- :class:`Informer`, :class:`WorkQueue`, :class:`Controller`, :class:`LeaderElector`:
  the machinery controllers are built from.
"""

from __future__ import annotations

from . import errors
from .client import Client, Interface
from .errors import (
    AlreadyExists,
    APIError,
    Conflict,
    ConnectionFailed,
    Expired,
    Forbidden,
    Invalid,
    NotFound,
    ServerTimeout,
    TooManyRequests,
    Unauthorized,
)
from .fake import FakeClient
from .kubeconfig import KubeConfig, load_incluster_config, load_kubeconfig
from .objects import object_key, split_key
from .resource import PodClient, ResourceClient
from .sync import SyncClient
from .watch import Watch, WatchEvent

__all__ = [
    "APIError",
    "AlreadyExists",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Expired",
    "FakeClient",
    "Forbidden",
    "Interface",
    "Invalid",
    "KubeConfig",
    "NotFound",
    "PodClient",
    "ResourceClient",
    "ServerTimeout",
    "SyncClient",
    "TooManyRequests",
    "Unauthorized",
    "Watch",
    "WatchEvent",
    "errors",
    "load_incluster_config",
    "load_kubeconfig",
    "object_key",
    "split_key",
]
