"""The replication controller: keeps `spec.replicas` pods of each RC.

Level-triggered: ``reconcile("ns/name")`` reads the RC and the pods from the
informers' caches, claims its pods (adopt orphans that match, release pods
that stopped matching), creates or deletes the difference and writes status.
Expectations keep a slow watch from causing double creation; creation is
batched 1, 2, 4, ... so a bad template fails fast.
"""

from __future__ import annotations

import asyncio
import logging

from ..client import Controller, errors
from .events import EventRecorder
from .expectations import Expectations
from .podutil import controller_ref, is_pod_active, now, object_key, split_key
from .replication_logic import (
    BURST_REPLICAS,
    SLOW_START_INITIAL_BATCH,
    SlowStartError,
    claim,
    compute_status,
    owner_reference,
    pod_from_template,
    pods_to_delete,
    rc_selector,
)

__all__ = ["ReplicationManager"]

log = logging.getLogger(__name__)


class ReplicationManager(Controller):
    """Reconciles ReplicationControllers. Keys are ``namespace/name`` of RCs."""

    name = "replication-controller"

    def __init__(self, client, *, rcs, pods, recorder: EventRecorder | None = None, workers: int = 5,
                 burst: int = BURST_REPLICAS):
        super().__init__(workers=workers)
        self.client = client
        self.rcs = rcs
        self.pods = pods
        self.burst = burst
        self.recorder = recorder or EventRecorder(client, "replication-controller")
        self.expectations = Expectations()
        rcs.add_event_handler(on_add=self._rc_changed, on_update=lambda old, new: self._rc_changed(new),
                              on_delete=self._rc_deleted)
        pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated,
                               on_delete=self._pod_deleted)

    # ------------------------------------------------------------ event routing
    def _rc_changed(self, rc: dict) -> None:
        self.queue.add(object_key(rc))

    def _rc_deleted(self, rc: dict) -> None:
        key = object_key(rc)
        self.expectations.forget(key)
        self.queue.add(key)

    def _owner_key(self, pod: dict) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicationController":
            return None
        return f"{pod['metadata']['namespace']}/{ref['name']}"

    def _matching_rcs(self, pod: dict) -> list[str]:
        """RCs that could adopt an orphan pod."""
        ns = pod["metadata"].get("namespace")
        pl = pod["metadata"].get("labels") or {}
        return [object_key(rc) for rc in self.rcs.list(namespace=ns) if rc_selector(rc).matches(pl)]

    def _pod_added(self, pod: dict) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod)  # a restart can show us a pod already being deleted
            return
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)
            return
        for k in self._matching_rcs(pod):
            self.queue.add(k)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            # Marked for graceful deletion: we count it gone now, as Kubernetes does.
            key = self._owner_key(new)
            if key is not None:
                self.expectations.deletion_observed(key, object_key(new))
        old_key, new_key = self._owner_key(old), self._owner_key(new)
        for key in {old_key, new_key} - {None}:
            self.queue.add(key)
        if new_key is None or (old["metadata"].get("labels") != new["metadata"].get("labels")):
            for k in self._matching_rcs(new):
                self.queue.add(k)

    def _pod_deleted(self, pod: dict) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, object_key(pod))
            self.queue.add(key)

    # ------------------------------------------------------------ reconcile
    async def reconcile(self, key: str) -> None:
        ns, name = split_key(key)
        rc = self.rcs.get(key)
        if rc is None:
            self.expectations.forget(key)
            return
        selector = rc_selector(rc)
        needs_sync = self.expectations.satisfied(key) and not rc["metadata"].get("deletionTimestamp")
        owned = await self._claim_pods(rc, selector, ns)
        active = [p for p in owned if is_pod_active(p)]
        manage_error = None
        if needs_sync:
            try:
                await self._manage(rc, key, active)
            except _ManageError as e:
                manage_error = str(e)
        await self._update_status(rc, active, manage_error)
        if manage_error:
            raise RuntimeError(manage_error)  # requeue with backoff

    async def _claim_pods(self, rc: dict, selector, ns: str) -> list[dict]:
        """Kubernetes' ClaimPods: the RC's pods after adopting and releasing."""
        owned = []
        for pod in self.pods.list(namespace=ns):
            decision = claim(rc, pod, selector)
            if decision == "own":
                owned.append(pod)
            elif decision == "adopt":
                adopted = await self._adopt(rc, pod)
                if adopted is not None:
                    owned.append(adopted)
            elif decision == "release":
                await self._release(rc, pod)
        return owned

    async def _adopt(self, rc: dict, pod: dict) -> dict | None:
        # Re-check the RC live (Kubernetes' "recheck deletion timestamp") so a
        # deleted RC does not grab pods from its own cache entry.
        try:
            fresh = await self.client.replication_controllers(rc["metadata"]["namespace"]).get(rc["metadata"]["name"])
        except errors.NotFound:
            return None
        if fresh["metadata"]["uid"] != rc["metadata"]["uid"] or fresh["metadata"].get("deletionTimestamp"):
            return None
        patch = {"metadata": {"ownerReferences": [owner_reference(rc)], "uid": pod["metadata"]["uid"]}}
        try:
            return await self.client.pods(pod["metadata"]["namespace"]).patch(
                pod["metadata"]["name"], patch, patch_type="strategic")
        except (errors.NotFound, errors.Conflict, errors.Invalid):
            return None

    async def _release(self, rc: dict, pod: dict) -> None:
        refs = [r for r in pod["metadata"].get("ownerReferences") or () if r.get("uid") != rc["metadata"]["uid"]]
        patch = [{"op": "test", "path": "/metadata/uid", "value": pod["metadata"]["uid"]},
                 {"op": "replace", "path": "/metadata/ownerReferences", "value": refs}]
        try:
            await self.client.pods(pod["metadata"]["namespace"]).patch(pod["metadata"]["name"], patch,
                                                                       patch_type="json")
        except (errors.NotFound, errors.Conflict, errors.Invalid):
            pass

    async def _manage(self, rc: dict, key: str, active: list[dict]) -> None:
        want = int((rc.get("spec") or {}).get("replicas", 1) or 0)
        diff = len(active) - want
        ns = rc["metadata"]["namespace"]
        pods_api = self.client.pods(ns)
        if diff < 0:
            count = min(-diff, self.burst)
            # Expect all creations first: the informer may see a pod before create() returns.
            self.expectations.expect_creations(key, count)
            template = pod_from_template(rc)

            async def create_one() -> None:
                try:
                    pod = await pods_api.create(_copy(template))
                except errors.APIError as e:
                    self.expectations.creation_observed(key)
                    if getattr(e, "reason", "") == "Forbidden" and "being terminated" in str(e):
                        return  # namespace going away: not a failure
                    self.recorder.event(rc, "Warning", "FailedCreate", f"Error creating: {e}")
                    raise
                self.recorder.event(rc, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")

            try:
                await _slow_start(count, create_one)
            except SlowStartError as e:
                skipped = count - e.successes - len(e.errors)
                for _ in range(skipped):
                    self.expectations.creation_observed(key)
                raise _ManageError(f"failed to create pods: {e.errors[0]}") from None
        elif diff > 0:
            count = min(diff, self.burst)
            victims = pods_to_delete(active, count, self.pods.list(namespace=ns))
            self.expectations.expect_deletions(key, [object_key(p) for p in victims])
            failures: list[Exception] = []

            async def delete_one(pod: dict) -> None:
                try:
                    await pods_api.delete(pod["metadata"]["name"], preconditions={"uid": pod["metadata"]["uid"]})
                except errors.NotFound:
                    self.expectations.deletion_observed(key, object_key(pod))
                    return
                except errors.APIError as e:
                    self.expectations.deletion_observed(key, object_key(pod))
                    self.recorder.event(rc, "Warning", "FailedDelete", f"Error deleting: {e}")
                    failures.append(e)
                    return
                self.recorder.event(rc, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
            await asyncio.gather(*(delete_one(p) for p in victims))
            if failures:
                raise _ManageError(f"failed to delete pods: {failures[0]}")

    async def _update_status(self, rc: dict, active: list[dict], manage_error: str | None) -> None:
        status = compute_status(rc, active, at=now(), manage_error=manage_error)
        if status == rc.get("status"):
            return
        new = dict(rc)
        new["status"] = status
        try:
            await self.client.replication_controllers(rc["metadata"]["namespace"]).update_status(new)
        except (errors.NotFound, errors.Conflict):
            self.queue.add(object_key(rc))  # our cache was stale: look again


class _ManageError(Exception):
    pass


async def _slow_start(count: int, fn) -> int:
    from .replication_logic import slow_start_batch
    return await slow_start_batch(count, SLOW_START_INITIAL_BATCH, fn)


def _copy(obj: dict) -> dict:
    import copy
    return copy.deepcopy(obj)
