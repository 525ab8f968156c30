"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go does it.

Candidates race to write their identity into ``spec.holderIdentity`` with a
compare-and-swap update. The holder renews ``spec.renewTime`` every
``retry_period``; the others watch the record and may take over only after it
has not changed for ``lease_duration`` *as measured on their own monotonic
clock* (never by comparing the holder's timestamps with ours, so clock skew
does not matter). A leader that cannot renew within ``renew_deadline`` stops
leading. Requires lease_duration > renew_deadline > retry_period * 1.2.

``run(lead=None)``: acquire (retrying every ``retry_period`` with jitter),
then run the leader's work as a task — ``lead()`` if given, else the
``on_started_leading()`` callback — and keep renewing. When leadership is
lost the work is cancelled, ``on_stopped_leading()`` is called and ``run()``
returns True — callers usually exit then, as Kubernetes' components do. When
``lead()`` returns (or raises) by itself, the lease is released and ``run()``
returns False (or re-raises); an ``on_started_leading`` callback that returns
does not end leadership (client-go). Cancelling ``run()`` releases the lease
(when ``release_on_cancel``) so a successor need not wait for it to expire.
``on_new_leader(identity)`` reports each leader observed. Callbacks may be
plain or async functions.

Configure with keywords (``LeaderElector(client, name=..., ...)``) or with a
:class:`LeaderElectionConfig` (``LeaderElector(client, config)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from . import errors

__all__ = ["LeaderElector", "LeaderElectionConfig"]

log = logging.getLogger(__name__)
JITTER = 1.2


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class LeaderElectionConfig:
    name: str
    namespace: str = "kube-system"
    identity: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if not self.renew_deadline > self.retry_period * JITTER:
            raise ValueError(f"renew_deadline must be greater than retry_period*{JITTER}")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be positive")


async def _call(fn: Callable | None, *args: Any) -> None:
    if fn is None:
        return
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("leader election callback %r failed", fn)


class LeaderElector:
    def __init__(self, client: Any, config: LeaderElectionConfig | None = None, *, name: str = "",
                 namespace: str = "kube-system", identity: str | None = None,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0,
                 on_started_leading: Callable[[], Any] | None = None,
                 on_stopped_leading: Callable[[], Any] | None = None,
                 on_new_leader: Callable[[str], Any] | None = None, release_on_cancel: bool = True):
        if config is None:
            if not name:
                raise ValueError("a lease name is required")
            config = LeaderElectionConfig(name=name, namespace=namespace, identity=identity or "",
                                          lease_duration=lease_duration, renew_deadline=renew_deadline,
                                          retry_period=retry_period, release_on_cancel=release_on_cancel)
        if not config.identity:
            config = replace(config, identity=default_identity())
        self.config = config
        self.leases = client.leases(config.namespace)
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self._observed: dict | None = None  # the lease spec last seen
        self._observed_at = 0.0  # our monotonic clock when it last changed
        self._observed_rv = ""
        self._reported_leader: str | None = None
        self._leading = False

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def leader(self) -> str:
        """The holder identity last observed ("" when none)."""
        return (self._observed or {}).get("holderIdentity") or ""

    # -- one attempt ----------------------------------------------------------------
    async def try_acquire_or_renew(self) -> bool:
        cfg = self.config
        loop = asyncio.get_running_loop()
        now = _micro_time()
        spec: dict[str, Any] = {"holderIdentity": cfg.identity,
                                "leaseDurationSeconds": max(1, round(cfg.lease_duration)),
                                "acquireTime": now, "renewTime": now, "leaseTransitions": 0}
        try:
            lease = await self.leases.get(cfg.name)
        except errors.NotFound:
            try:
                created = await self.leases.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                    "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                                                    "spec": spec})
            except (errors.AlreadyExists, errors.Conflict):
                return False
            self._observe(created, loop.time())
            return True
        old = lease.get("spec") or {}
        if old != self._observed:
            self._observe(lease, loop.time())
        holder = old.get("holderIdentity") or ""
        duration = old.get("leaseDurationSeconds") or cfg.lease_duration
        if holder and holder != cfg.identity and self._observed_at + duration > loop.time():
            return False  # held by someone else and not expired by our clock
        if holder == cfg.identity:
            spec["acquireTime"] = old.get("acquireTime") or now
            spec["leaseTransitions"] = old.get("leaseTransitions") or 0
        else:
            spec["leaseTransitions"] = (old.get("leaseTransitions") or 0) + 1
        lease["spec"] = spec
        try:
            updated = await self.leases.update(lease)  # CAS on the resourceVersion we read
        except (errors.Conflict, errors.NotFound):
            return False
        self._observe(updated, loop.time())
        return True

    def _observe(self, lease: dict, at: float) -> None:
        self._observed = dict(lease.get("spec") or {})
        self._observed_at = at
        self._observed_rv = (lease.get("metadata") or {}).get("resourceVersion") or ""
        holder = self._observed.get("holderIdentity") or ""
        if holder and holder != self._reported_leader:
            self._reported_leader = holder
            if self.on_new_leader is not None:
                asyncio.get_running_loop().create_task(_call(self.on_new_leader, holder))

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except errors.ClientError as e:
            log.warning("leader election %s/%s: %s", self.config.namespace, self.config.name, e)
            return False

    # -- the loop ----------------------------------------------------------------------
    async def _acquire(self) -> None:
        while not await self._attempt():
            await asyncio.sleep(self.config.retry_period * (1 + random.random() * (JITTER - 1)))

    async def _renew_until_lost(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        while True:
            deadline = loop.time() + cfg.renew_deadline
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return  # could not renew in time: leadership lost
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
                try:
                    async with asyncio.timeout(remaining):
                        ok = await self._attempt()
                except TimeoutError:
                    return
                if ok:
                    break
                if self.leader and self.leader != cfg.identity:
                    return  # someone else holds it now
                await asyncio.sleep(min(cfg.retry_period, max(deadline - loop.time(), 0)))
            await asyncio.sleep(cfg.retry_period)

    async def run(self, lead: Callable[[], Any] | None = None) -> bool:
        """Acquire, lead, renew. True when leadership was lost; False when
        ``lead()`` ended by itself (see the module docstring)."""
        await self._acquire()
        self._leading = True
        loop = asyncio.get_running_loop()
        log.info("%s became leader of %s/%s", self.identity, self.config.namespace, self.config.name)
        work = loop.create_task(lead() if lead is not None else _call(self.on_started_leading), name="leading")
        renew = loop.create_task(self._renew_until_lost(), name="lease-renewal")
        lost = False
        try:
            done, _ = await asyncio.wait({work, renew}, return_when=asyncio.FIRST_COMPLETED)
            if renew not in done and lead is None:
                await renew  # a callback that returned does not end leadership
                done = {renew}
            if renew in done:
                lost = True
                log.warning("%s lost leadership of %s/%s", self.identity, self.config.namespace,
                            self.config.name)
        except asyncio.CancelledError:
            if self.config.release_on_cancel:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.release())
            raise
        finally:
            self._leading = False
            for t in (work, renew):
                if not t.done():
                    t.cancel()
            for t in (work, renew):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await _call(self.on_stopped_leading)
        if not lost:
            if self.config.release_on_cancel:
                await self.release()
            if not work.cancelled() and work.exception() is not None:
                raise work.exception()  # type: ignore[misc]
        return lost

    async def release(self) -> bool:
        """Give the lease up (holder cleared, 1s duration) if we still hold it."""
        try:
            lease = await self.leases.get(self.config.name)
        except errors.ClientError:
            return False
        spec = lease.get("spec") or {}
        if spec.get("holderIdentity") != self.identity:
            return False
        now = _micro_time()
        lease["spec"] = {**spec, "holderIdentity": None, "leaseDurationSeconds": 1,
                         "renewTime": now, "acquireTime": now}
        lease["spec"] = {k: v for k, v in lease["spec"].items() if v is not None}
        try:
            await self.leases.update(lease)
        except errors.ClientError:
            return False
        return True
