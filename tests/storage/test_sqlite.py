"""The SQLite backend: the conformance suite plus SQLite-only behaviour."""

from __future__ import annotations

import pytest

from pybernetes.storage import open_storage
from pybernetes.storage.sqlite import SQLiteStorage
from tests.storage.conformance import StorageConformance, ns  # noqa: F401  (fixture)


@pytest.fixture
async def store(tmp_path):
    s = open_storage("sqlite", data_dir=str(tmp_path))
    assert isinstance(s, SQLiteStorage)
    yield s
    await s.close()


class TestSQLiteConformance(StorageConformance):
    pass
