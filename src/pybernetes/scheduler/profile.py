"""Profiles: which plugins run, in which order, with which score weights.

The loop never names a plugin: ``REGISTRY`` maps plugin names to factories
(taking a ``Handle``), a ``Profile`` lists names, and ``build_plugins`` turns
the two into ready plugin lists. Adding a plugin is one module plus one
registry line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .cache import SchedulerCache
from .framework import Plugin
from .plugins import (
    NodeAffinity,
    NodePorts,
    NodeReady,
    NodeResourcesBalancedAllocation,
    NodeResourcesFit,
    NodeUnschedulable,
    SelectorSpread,
    TaintToleration,
)

__all__ = [
    "Listers",
    "StaticListers",
    "Handle",
    "Profile",
    "PluginSet",
    "REGISTRY",
    "DEFAULT_PROFILE",
    "DEFAULT_SCHEDULER_NAME",
    "build_plugins",
]

DEFAULT_SCHEDULER_NAME = "default-scheduler"


class Listers(Protocol):
    def list(self, kind: str, namespace: str) -> Iterable[dict[str, Any]]:
        """Cached objects of ``kind`` (plural, e.g. "services") in ``namespace``."""


class StaticListers:
    """Listers over fixed dicts (tests); unknown kinds list nothing."""

    def __init__(self, objects: dict[str, list[dict]] | None = None) -> None:
        self.objects = objects or {}

    def list(self, kind: str, namespace: str) -> list[dict]:
        return [o for o in self.objects.get(kind, ())
                if (o.get("metadata") or {}).get("namespace", "") == namespace]


@dataclass(frozen=True, slots=True)
class Handle:
    """What plugins may read besides the pod and node: the cache and object listers."""

    cache: SchedulerCache
    listers: Listers = field(default_factory=StaticListers)


REGISTRY: dict[str, Callable[[Handle], Plugin]] = {
    "NodeUnschedulable": lambda h: NodeUnschedulable(),
    "NodeReady": lambda h: NodeReady(),
    "TaintToleration": lambda h: TaintToleration(),
    "NodeAffinity": lambda h: NodeAffinity(),
    "NodePorts": lambda h: NodePorts(),
    "NodeResourcesFit": lambda h: NodeResourcesFit(),
    "NodeResourcesBalancedAllocation": lambda h: NodeResourcesBalancedAllocation(),
    "SelectorSpread": SelectorSpread,
}


@dataclass(frozen=True, slots=True)
class Profile:
    """Filter plugin names in order (the first to reject a node speaks for it); score names with weights."""

    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    filters: tuple[str, ...] = ()
    scores: tuple[tuple[str, int], ...] = ()


# Order and weights follow kube-scheduler's defaults (TaintToleration 3, NodeAffinity 2, others 1).
DEFAULT_PROFILE = Profile(
    filters=("NodeUnschedulable", "NodeReady", "TaintToleration", "NodeAffinity", "NodePorts",
             "NodeResourcesFit"),
    scores=(("TaintToleration", 3), ("NodeAffinity", 2), ("NodeResourcesFit", 1),
            ("NodeResourcesBalancedAllocation", 1), ("SelectorSpread", 1)),
)


@dataclass(frozen=True, slots=True)
class PluginSet:
    filters: tuple[Any, ...]
    scores: tuple[tuple[Any, int], ...]


def build_plugins(profile: Profile, handle: Handle,
                  registry: dict[str, Callable[[Handle], Plugin]] | None = None) -> PluginSet:
    """Instantiate each named plugin once (a plugin used for filter and score is one object)."""
    registry = REGISTRY if registry is None else registry
    made: dict[str, Plugin] = {}

    def get(name: str) -> Plugin:
        if name not in made:
            if name not in registry:
                raise KeyError(f"unknown scheduler plugin {name!r}")
            made[name] = registry[name](handle)
        return made[name]

    return PluginSet(filters=tuple(get(n) for n in profile.filters),
                     scores=tuple((get(n), w) for n, w in profile.scores))
