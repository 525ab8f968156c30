"""The kubelet's event recorder: the shared recorder plus Kubernetes' kubelet
touches — ``source.host`` and the container's ``fieldPath``."""

from __future__ import annotations

import asyncio

from ..controllers.events import EventRecorder

__all__ = ["KubeletEventRecorder"]


class KubeletEventRecorder(EventRecorder):
    def __init__(self, client, *, node_name: str):
        super().__init__(client, "kubelet", host=node_name)
        self.node_name = node_name

    def build(self, obj: dict, type_: str, reason: str, message: str) -> dict:
        obj = {"kind": "Pod", "apiVersion": "v1", **obj}
        body = super().build(obj, type_, reason, message)
        body["source"]["host"] = self.node_name
        return body

    def container_event(self, pod: dict, container: str, type_: str, reason: str, message: str,
                        *, init: bool = False) -> None:
        """An event about one container (``involvedObject.fieldPath`` names it). Never blocks."""
        body = self.build(pod, type_, reason, message)
        body["involvedObject"]["fieldPath"] = f"spec.{'initContainers' if init else 'containers'}{{{container}}}"
        task = asyncio.get_running_loop().create_task(self._write(body))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
