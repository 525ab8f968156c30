"""Apiservers on a real etcd: `pyb apiserver --storage etcd` processes sharing one
etcd (a single member, or the 3-member cluster of tests/etcd_cluster.py).

Each test's apiservers use their own ``--etcd-prefix`` so tests can share one
etcd per module; fixtures that kill etcd members start their own cluster.
Needs Debian's ``etcd-server`` and the ``aetcd`` package, else everything skips.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import APIServerProcess
from tests.etcd_cluster import EtcdCluster, etcd_missing_reason

_MISSING = etcd_missing_reason()


def pytest_collection_modifyitems(config, items):
    if not _MISSING:
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=f"etcd tests: {_MISSING}")
    for item in items:
        if Path(str(item.fspath)).parent == here and "sqlite" not in item.name:
            item.add_marker(skip)


def etcd_apiserver(data_dir: Path, urls: list[str], *, prefix: str, extra: tuple[str, ...] = ()) -> APIServerProcess:
    """An (unstarted) plain-HTTP apiserver on etcd at ``urls`` under ``prefix``."""
    return APIServerProcess(data_dir, extra_args=(
        "--storage", "etcd", "--etcd-servers", ",".join(urls), "--etcd-prefix", prefix,
        "--compaction-interval", "3600", *extra))


@pytest.fixture(scope="module")
def etcd1(tmp_path_factory) -> Iterator[EtcdCluster]:
    """One etcd member for the module (tests isolate themselves by prefix)."""
    cluster = EtcdCluster.start(tmp_path_factory.mktemp("etcd1"), size=1)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def etcd3(tmp_path_factory) -> Iterator[EtcdCluster]:
    """A 3-member etcd cluster for the module (not for tests that kill members)."""
    cluster = EtcdCluster.start(tmp_path_factory.mktemp("etcd3"), size=3)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fresh_etcd3(tmp_path) -> Iterator[EtcdCluster]:
    """A 3-member cluster of this test's own (it may kill members)."""
    cluster = EtcdCluster.start(tmp_path / "etcd3", size=3)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def apiservers(tmp_path) -> Iterator[Callable[..., list[APIServerProcess]]]:
    """``apiservers(urls, n=2, extra=())``: n started apiservers sharing etcd under a fresh
    prefix (each may be given its own member order); all stopped at the end."""
    started: list[APIServerProcess] = []
    prefix = f"/t-{uuid.uuid4().hex[:8]}/registry"

    def start(urls: list[str] | list[list[str]], n: int = 2, extra: tuple[str, ...] = ()) -> list[APIServerProcess]:
        out = []
        for i in range(n):
            member_urls = urls[i] if urls and isinstance(urls[0], list) else urls
            server = etcd_apiserver(tmp_path / f"apiserver-{len(started)}", member_urls, prefix=prefix,
                                    extra=extra)
            started.append(server)
            out.append(server.start())
        return out

    try:
        yield start
    finally:
        for s in started:
            s.stop()


async def eventually(cond, timeout: float = 30.0, interval: float = 0.05):
    """Poll ``cond`` (sync or async) until truthy; its value."""
    async with asyncio.timeout(timeout):
        while True:
            value = cond()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(interval)
