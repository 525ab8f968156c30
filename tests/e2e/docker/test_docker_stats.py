"""Container stats on the docker runtime: CPU time and memory from the
engine's stats API, in the process runtime's shape (ContainerStats), for a
real container that holds memory and burns CPU; none once it has stopped.
And the conversion of engine samples (Docker's cgroup v1/v2 breakdowns,
Podman's usage alone)."""

from __future__ import annotations

import pytest

from pybernetes.kubelet.runtime.docker import stats_from_engine
from pybernetes.kubelet.runtime.docker_images import BUSYBOX_IMAGE
from pybernetes.kubelet.runtime.interface import ContainerStats, StatsProvider

from .conftest import wait_for
from .test_docker_runtime import _config, _sandbox, runtime  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(120)

HOLD = 30_000_000  # bytes the shell keeps in a variable


async def test_stats_of_a_running_container(runtime):  # noqa: F811
    assert isinstance(runtime, StatsProvider)
    script = f'x=$(head -c {HOLD} /dev/zero | tr "\\0" a); while :; do :; done'
    uid = await _sandbox(runtime, [{"name": "burn", "image": BUSYBOX_IMAGE, "imagePullPolicy": "IfNotPresent",
                                    "command": ["sh", "-c", script]}])
    st = await runtime.start_container(_config(uid, "burn", BUSYBOX_IMAGE, ("sh", "-c", script)))
    assert st.state == "running", st

    async def busy():
        s = await runtime.stats(st.id)
        return s if s is not None and s.cpu_seconds >= 0.5 and s.memory_rss_bytes >= HOLD else None

    first = await wait_for(busy, timeout=60, interval=0.5, what="CPU time and the held memory in the stats")
    assert type(first) is ContainerStats
    assert first.memory_rss_bytes < 10 * HOLD  # the container's, not the machine's
    later = await wait_for(lambda: _more_cpu(runtime, st.id, first.cpu_seconds), timeout=30, interval=0.5,
                           what="CPU time to grow")
    assert later.cpu_seconds > first.cpu_seconds
    assert runtime.container_stats(st.id) is not None  # the blocking form answers the same way
    await runtime.stop_container(st.id, grace_period=1)
    assert await runtime.stats(st.id) is None
    assert await runtime.stats("0" * 64) is None


async def _more_cpu(runtime, cid: str, than: float):  # noqa: F811
    s = await runtime.stats(cid)
    return s if s is not None and s.cpu_seconds > than else None


def test_docker_cgroup_v1_sample_reports_rss():
    sample = {"cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}},
              "memory_stats": {"usage": 50_000_000, "stats": {"rss": 30_000_000, "cache": 15_000_000}}}
    assert stats_from_engine(sample) == ContainerStats(cpu_seconds=2.5, memory_rss_bytes=30_000_000)


def test_docker_cgroup_v2_sample_reports_anon():
    sample = {"cpu_stats": {"cpu_usage": {"total_usage": 1_000_000}},
              "memory_stats": {"usage": 9_000_000, "stats": {"anon": 4_000_000, "inactive_file": 3_000_000}}}
    assert stats_from_engine(sample) == ContainerStats(cpu_seconds=0.001, memory_rss_bytes=4_000_000)


def test_usage_alone_less_cache_or_as_is():
    assert stats_from_engine({"cpu_stats": {"cpu_usage": {"total_usage": 0}},
                              "memory_stats": {"usage": 20_746_240}}) == ContainerStats(0.0, 20_746_240)
    assert stats_from_engine({"memory_stats": {"usage": 10, "stats": {"inactive_file": 4}}}) == \
        ContainerStats(0.0, 6)
    assert stats_from_engine({"memory_stats": {}, "cpu_stats": {}}) is None
