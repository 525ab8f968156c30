"""Reads "not older than" a client's resourceVersion.

A GET or LIST with ``resourceVersion=N`` (N not 0) must reflect revision N or
newer. Kubernetes' watch cache waits up to 3 s for N to arrive, then answers
504 Timeout "Too large resource version: N, current: M" with a
``ResourceVersionTooLarge`` cause (client-go relists from scratch on it). Our
reads go to storage, which is always at its newest revision, so N beyond it
means a revision not yet committed — or one from another cluster; this waits
briefly for the former, then answers as Kubernetes does.
"""

from __future__ import annotations

import asyncio

from ..storage import Storage
from . import errors

__all__ = ["TOO_LARGE_RV_WAIT", "parse_resource_version", "wait_for_revision"]

TOO_LARGE_RV_WAIT = 1.0  # seconds (Kubernetes: 3 s); short because nothing here lags storage
_POLL = 0.05


def parse_resource_version(rv: str) -> int:
    """The revision in a ``resourceVersion`` parameter (400 if it is not one)."""
    try:
        revision = int(rv)
    except ValueError:
        revision = -1
    if revision < 0:
        raise errors.bad_request(f'invalid resource version "{rv}"')
    return revision


async def wait_for_revision(storage: Storage, revision: int, *, timeout: float = TOO_LARGE_RV_WAIT) -> int:
    """Return storage's current revision once it is at least ``revision``;
    after ``timeout`` raise the 504 ``ResourceVersionTooLarge`` error."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        current = await storage.current_revision()
        if current >= revision:
            return current
        if loop.time() >= deadline:
            raise errors.too_large_resource_version(revision, current)
        await asyncio.sleep(min(_POLL, max(deadline - loop.time(), 0)))
