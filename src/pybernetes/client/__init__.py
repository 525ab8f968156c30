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
from .controller import Controller
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
from .informer import Informer, InformerFactory, Registration, index_by_field
from .kubeconfig import KubeConfig, load_incluster_config, load_kubeconfig
from .leaderelection import LeaderElectionConfig, LeaderElector
from .objects import object_key, split_key
from .resource import PodClient, ResourceClient
from .sync import SyncClient
from .watch import Watch, WatchEvent
from .workqueue import ShutDown, WorkQueue

__all__ = [
    "APIError",
    "AlreadyExists",
    "Client",
    "Controller",
    "Conflict",
    "ConnectionFailed",
    "Expired",
    "FakeClient",
    "Forbidden",
    "Informer",
    "InformerFactory",
    "Interface",
    "Invalid",
    "KubeConfig",
    "LeaderElectionConfig",
    "LeaderElector",
    "NotFound",
    "PodClient",
    "Registration",
    "ResourceClient",
    "ServerTimeout",
    "ShutDown",
    "SyncClient",
    "TooManyRequests",
    "Unauthorized",
    "Watch",
    "WatchEvent",
    "WorkQueue",
    "errors",
    "index_by_field",
    "load_incluster_config",
    "load_kubeconfig",
    "object_key",
    "split_key",
]
