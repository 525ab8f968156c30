"""PodInfo: a pod parsed once for scheduling (requests, ports, affinity, tolerations).

Built when the pod enters the scheduler's cache or queue and reused for every
attempt, so a retry or a filter over thousands of nodes never re-parses
quantities or selectors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from .affinity import NodeSelectorMatcher, PreferredTerm, parse_node_selector, parse_preferred
from .resources import Resource, nonzero_requests, pod_requests

__all__ = ["PodInfo", "pod_key", "host_ports"]

Obj = dict[str, Any]


def pod_key(pod: Mapping) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def _requests_items(c: Mapping) -> tuple:
    res = c.get("resources")
    req = res.get("requests") if isinstance(res, dict) else None
    return tuple(req.items()) if isinstance(req, dict) else ()


def _resources_key(spec: Mapping) -> tuple | None:
    """Everything ``pod_requests``/``nonzero_requests`` read, hashable; None when not hashable."""
    overhead = spec.get("overhead")
    key = (tuple(_requests_items(c) for c in spec.get("containers") or ()),
           tuple((c.get("restartPolicy"), _requests_items(c)) for c in spec.get("initContainers") or ()),
           tuple(overhead.items()) if isinstance(overhead, dict) else ())
    try:
        hash(key)
    except TypeError:
        return None
    return key


# (requests, nonzero) by _resources_key: pods of one template parse their quantities once
_RESOURCES: dict[tuple, tuple[Resource, tuple[int, int]]] = {}
_MAX_RESOURCES = 1024


def host_ports(spec: Mapping) -> tuple[tuple[str, str, int], ...]:
    """(hostIP, protocol, hostPort) for every container port with a hostPort (init containers too)."""
    out = []
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or ():
            for p in c.get("ports") or ():
                hp = p.get("hostPort") or 0
                if hp > 0:
                    out.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(hp)))
    return tuple(out)


class cached_property:  # noqa: N801 - a drop-in for functools' (which takes a lock per read in 3.11)
    """Compute on first access, then store in the instance dict (later reads skip the descriptor)."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner, name) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


class PodInfo:
    """An immutable view of one pod version; derived fields computed on first use."""

    def __init__(self, pod: Obj) -> None:
        self.pod = pod
        md = pod.get("metadata") or {}
        self.namespace: str = md.get("namespace") or ""
        self.name: str = md.get("name") or ""
        self.key = f"{self.namespace}/{self.name}"
        self.uid: str = md.get("uid") or ""
        self.labels: dict[str, str] = md.get("labels") or {}
        self.spec: Obj = pod.get("spec") or {}

    def __repr__(self) -> str:
        return f"PodInfo({self.key})"

    @property
    def node_name(self) -> str:
        return self.spec.get("nodeName") or ""

    @property
    def priority(self) -> int:
        return int(self.spec.get("priority") or 0)

    @property
    def terminating(self) -> bool:
        return bool((self.pod.get("metadata") or {}).get("deletionTimestamp"))

    @cached_property
    def _resources(self) -> tuple[Resource, tuple[int, int]]:
        key = _resources_key(self.spec)
        hit = None if key is None else _RESOURCES.get(key)
        if hit is None:
            hit = (pod_requests(self.spec), nonzero_requests(self.spec))
            if key is not None:
                if len(_RESOURCES) >= _MAX_RESOURCES:
                    _RESOURCES.clear()
                _RESOURCES[key] = hit
        return hit

    @cached_property
    def requests(self) -> Resource:
        """The effective request; shared by pods with the same requests: read-only."""
        return self._resources[0]

    @cached_property
    def nonzero(self) -> tuple[int, int]:
        """(milli cpu, memory) with unset requests counted as the scoring defaults."""
        return self._resources[1]

    @cached_property
    def host_ports(self) -> tuple[tuple[str, str, int], ...]:
        return host_ports(self.spec)

    @cached_property
    def node_selector(self) -> dict[str, str]:
        return self.spec.get("nodeSelector") or {}

    @cached_property
    def _node_affinity(self) -> Obj:
        return (self.spec.get("affinity") or {}).get("nodeAffinity") or {}

    @cached_property
    def required_affinity(self) -> NodeSelectorMatcher | None:
        req = self._node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        return None if req is None else parse_node_selector(req)

    @cached_property
    def preferred_affinity(self) -> tuple[PreferredTerm, ...]:
        return parse_preferred(self._node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution"))

    @cached_property
    def tolerations(self) -> list[Obj]:
        return self.spec.get("tolerations") or []

    @cached_property
    def placement_key(self) -> bytes:
        """Identifies the node-static constraints (selector, required affinity).

        Pods with equal keys are accepted by the same nodes as far as labels go,
        so per-node answers can be cached across pods by this key.
        """
        return orjson.dumps([self.node_selector,
                             self._node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")],
                            option=orjson.OPT_SORT_KEYS)

    @cached_property
    def preferred_key(self) -> bytes:
        return orjson.dumps(self._node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution"),
                            option=orjson.OPT_SORT_KEYS)

    @cached_property
    def tolerations_key(self) -> bytes:
        return orjson.dumps(self.tolerations, option=orjson.OPT_SORT_KEYS)
