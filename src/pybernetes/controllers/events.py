"""An event recorder: controllers report what they did as core/v1 Events a
user reads with `kubectl describe` / `kubectl get events`."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from datetime import UTC, datetime

__all__ = ["EventRecorder"]

log = logging.getLogger(__name__)

# Pending event writes beyond this are dropped (events are best effort).
_MAX_PENDING = 1000


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Fire-and-forget Event writer for one component.

    ``event()`` never blocks or raises: the write runs as a task, failures are
    logged. ``aclose()`` waits for writes in flight (call it on shutdown).
    """

    def __init__(self, client, component: str, *, host: str | None = None):
        self._client = client
        self.component = component
        self.instance = f"{component}-{host or socket.gethostname()}"
        self._pending: set[asyncio.Task] = set()

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        if len(self._pending) >= _MAX_PENDING:
            log.debug("dropping event %s %s: too many pending", reason, message)
            return
        body = self.build(obj, type_, reason, message)
        task = asyncio.get_running_loop().create_task(self._write(body))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def build(self, obj: dict, type_: str, reason: str, message: str) -> dict:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        now = _time()
        involved = {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "name": meta.get("name"),
                    "uid": meta.get("uid"), "apiVersion": obj.get("apiVersion"),
                    "resourceVersion": meta.get("resourceVersion")}
        return {
            "apiVersion": "v1", "kind": "Event",
            # Kubernetes names events <object>.<unix nanoseconds in hex>.
            "metadata": {"name": f"{meta.get('name')}.{time.time_ns():x}", "namespace": ns},
            "involvedObject": {k: v for k, v in involved.items() if v},
            "reason": reason, "message": message, "type": type_,
            "source": {"component": self.component},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "eventTime": None, "reportingComponent": self.component, "reportingInstance": self.instance,
        }

    async def _write(self, body: dict) -> None:
        try:
            await self._client.events(body["metadata"]["namespace"]).create(body)
        except Exception as e:  # noqa: BLE001 - events are best effort
            log.debug("event %s/%s not written: %s", body["reason"], body["message"], e)

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
