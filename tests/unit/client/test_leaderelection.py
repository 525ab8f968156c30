"""Leader election over a Lease (fake client; the real apiserver case is in integration)."""

from __future__ import annotations

import asyncio

import pytest

from pybernetes.client import FakeClient, LeaderElector, errors

from .helpers import eventually

FAST = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}


class Candidate:
    def __init__(self, client, identity, **kw):
        self.started = 0
        self.stopped = 0
        self.leaders: list[str] = []
        self.elector = LeaderElector(client, name="lock", namespace="kube-system", identity=identity,
                                     on_started_leading=self._lead, on_stopped_leading=self._stop,
                                     on_new_leader=self.leaders.append, **{**FAST, **kw})
        self.task: asyncio.Task | None = None

    async def _lead(self):
        self.started += 1
        await asyncio.Event().wait()  # lead until cancelled

    def _stop(self):
        self.stopped += 1

    def start(self):
        self.task = asyncio.create_task(self.elector.run())
        return self


async def _cancel(task):
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_one_leader_and_handover_on_release():
    client = FakeClient()
    a = Candidate(client, "a").start()
    await eventually(lambda: a.started == 1)
    b = Candidate(client, "b").start()
    await eventually(lambda: b.leaders == ["a"])
    assert not b.elector.is_leader and a.elector.is_leader
    lease = await client.leases("kube-system").get("lock")
    assert lease["spec"]["holderIdentity"] == "a" and lease["spec"]["leaseDurationSeconds"] == 1
    await _cancel(a.task)
    assert a.stopped == 1
    await eventually(lambda: b.started == 1)
    lease = await client.leases("kube-system").get("lock")
    assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1
    await _cancel(b.task)


async def test_takeover_after_expiry_without_release():
    client = FakeClient()
    a = Candidate(client, "a", release_on_cancel=False).start()
    await eventually(lambda: a.started == 1)
    await _cancel(a.task)
    b = Candidate(client, "b").start()
    # b must first observe the record unchanged for a lease duration, then takes it.
    await eventually(lambda: b.started == 1)
    assert (await client.leases("kube-system").get("lock"))["spec"]["holderIdentity"] == "b"
    await _cancel(b.task)


async def test_leader_that_cannot_renew_steps_down():
    client = FakeClient()
    a = Candidate(client, "a").start()
    await eventually(lambda: a.started == 1)
    broken = {"on": True}

    def fail_updates(action):
        if broken["on"]:
            raise errors.ServiceUnavailable(errors.status_for(503, "storage down"))
    client.prepend_reactor("update", "leases", fail_updates)
    await asyncio.wait_for(a.task, 10)  # run() returns once leadership is lost
    assert a.stopped == 1 and not a.elector.is_leader


def test_config_is_checked():
    with pytest.raises(ValueError):
        LeaderElector(FakeClient(), name="x", lease_duration=5, renew_deadline=6)
    with pytest.raises(ValueError):
        LeaderElector(FakeClient(), name="x", lease_duration=15, renew_deadline=2, retry_period=2)


async def test_run_with_lead_returns_false_and_releases_when_lead_ends():
    from pybernetes.client import LeaderElectionConfig
    client = FakeClient()
    elector = LeaderElector(client, LeaderElectionConfig(name="job", namespace="default", **FAST))
    assert elector.identity  # a default identity is made up

    async def lead():
        assert elector.is_leader
        return "done"
    assert await asyncio.wait_for(elector.run(lead), 10) is False
    spec = (await client.leases("default").get("job"))["spec"]
    assert "holderIdentity" not in spec and spec["leaseDurationSeconds"] == 1


async def test_run_with_lead_returns_true_when_leadership_is_lost():
    client = FakeClient()
    elector = LeaderElector(client, name="job", namespace="default", identity="me", **FAST)
    cancelled = []

    async def lead():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    def fail_updates(action):
        raise errors.ServiceUnavailable(errors.status_for(503, "storage down"))
    task = asyncio.create_task(elector.run(lead))
    await eventually(lambda: elector.is_leader)
    client.prepend_reactor("update", "leases", fail_updates)
    assert await asyncio.wait_for(task, 10) is True
    assert cancelled == [True]


async def test_lead_errors_propagate():
    elector = LeaderElector(FakeClient(), name="job", namespace="default", **FAST)

    async def lead():
        raise RuntimeError("lead failed")
    with pytest.raises(RuntimeError, match="lead failed"):
        await asyncio.wait_for(elector.run(lead), 10)
