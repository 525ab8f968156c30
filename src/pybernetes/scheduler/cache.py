"""The scheduler cache: nodes and the pods placed on them, including assumed pods.

Contract (kube-scheduler ``internal/cache``):
- ``assume_pod(pi, node)`` books a pod onto a node the moment the scheduler
  decides, before the binding is sent, so the next decision already sees the
  resources it takes.
- ``finish_binding(key)`` marks the binding sent; ``forget_pod(key)`` undoes
  an assumption whose binding failed.
- ``add_pod`` for a pod the informer reports bound confirms an assumed pod
  (moving it if it landed elsewhere) or adds it.
- ``update_pod`` / ``remove_pod`` keep the sums exact; a removed pod frees its
  resources at once.
Every change to a NodeInfo is mirrored into its NodeTable row. Single-threaded:
call from the event loop only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .node_info import NodeInfo
from .node_table import NodeTable
from .pod_info import PodInfo

__all__ = ["SchedulerCache", "PodState"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]


@dataclass(slots=True)
class PodState:
    info: PodInfo
    node: str
    assumed: bool
    binding_finished: bool = False


class SchedulerCache:
    """Nodes by name, pod placements by ``ns/name``; see module docstring for the contract."""

    def __init__(self, *, vector: bool = True) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.table = NodeTable(vector=vector)
        self.pod_states: dict[str, PodState] = {}
        self._by_ns: dict[str, dict[str, PodState]] = {}

    # -- nodes ----------------------------------------------------------------
    def add_node(self, node: Obj) -> NodeInfo:
        """Add or update a node; its scheduling-relevant change is visible at once."""
        self.update_node(node)
        return self.nodes[(node.get("metadata") or {}).get("name") or ""]

    def update_node(self, node: Obj) -> bool:
        """Add or update a node; True when it is new or a scheduling property changed."""
        name = (node.get("metadata") or {}).get("name") or ""
        ni = self.nodes.get(name)
        if ni is None:
            ni = self.nodes[name] = NodeInfo(node)
            self.table.add(ni)
            return True
        changed = ni.set_node(node)
        if ni.slot < 0:  # pods were seen before their node, or it was deleted and came back
            self.table.add(ni)
            return True
        if changed:
            self.table.sync(ni)
            self.table.refresh_static(ni)
        return changed

    def remove_node(self, name: str) -> None:
        ni = self.nodes.get(name)
        if ni is None:
            return
        self.table.remove(ni)
        if ni.pods:
            # keep the pods' accounting until they go; the node is no longer a candidate
            ni.node = {}
        else:
            del self.nodes[name]

    def node_count(self) -> int:
        return len(self.table)

    # -- pods -----------------------------------------------------------------
    def _place(self, st: PodState) -> None:
        ni = self.nodes.get(st.node)
        if ni is None:
            ni = self.nodes[st.node] = NodeInfo()
            ni.name = st.node
        ni.add_pod(st.info)
        if ni.slot >= 0:
            self.table.sync(ni)
        self.pod_states[st.info.key] = st
        self._by_ns.setdefault(st.info.namespace, {})[st.info.key] = st

    def _unplace(self, key: str) -> PodState | None:
        st = self.pod_states.pop(key, None)
        if st is None:
            return None
        ns = self._by_ns.get(st.info.namespace)
        if ns is not None:
            ns.pop(key, None)
            if not ns:
                del self._by_ns[st.info.namespace]
        ni = self.nodes.get(st.node)
        if ni is not None:
            ni.remove_pod(key)
            if ni.slot >= 0:
                self.table.sync(ni)
            elif not ni.pods and not ni.node:
                del self.nodes[st.node]
        return st

    def assume_pod(self, pi: PodInfo, node: str) -> None:
        if pi.key in self.pod_states:
            raise ValueError(f"pod {pi.key} is already in the cache")
        self._place(PodState(pi, node, assumed=True))

    def finish_binding(self, key: str) -> None:
        st = self.pod_states.get(key)
        if st is not None and st.assumed:
            st.binding_finished = True

    def forget_pod(self, key: str) -> None:
        st = self.pod_states.get(key)
        if st is not None and st.assumed:
            self._unplace(key)

    def is_assumed(self, key: str) -> bool:
        st = self.pod_states.get(key)
        return st is not None and st.assumed

    def add_pod(self, pod: Obj, *, info: PodInfo | None = None) -> None:
        """A bound pod observed via the informer (confirms an assumption); ``info``: ``PodInfo(pod)``
        if the caller already made it."""
        pi = PodInfo(pod) if info is None else info
        node = pi.node_name
        st = self.pod_states.get(pi.key)
        if st is not None:
            if st.assumed and st.node == node:
                # same placement: keep the accounting, adopt the observed object
                ni = self.nodes.get(node)
                if ni is not None:
                    ni.pods[pi.key] = pi
                st.info, st.assumed = pi, False
                return
            self._unplace(pi.key)
        self._place(PodState(pi, node, assumed=False))

    def update_pod(self, pod: Obj, *, info: PodInfo | None = None) -> None:
        pi = PodInfo(pod) if info is None else info
        st = self.pod_states.get(pi.key)
        if st is not None and not st.assumed:
            self._unplace(pi.key)
        self.add_pod(pod, info=pi)

    def remove_pod(self, key: str) -> None:
        self._unplace(key)

    def pods_in_namespace(self, ns: str) -> Iterator[tuple[PodInfo, str]]:
        for st in (self._by_ns.get(ns) or {}).values():
            yield st.info, st.node
