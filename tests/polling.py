"""Waiting for a condition in tests: poll, never assert on timing."""

from __future__ import annotations

import asyncio
import time

__all__ = ["wait_for", "waiter"]


async def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition", *,
                   retry_errors: bool = False):
    """Poll ``predicate`` (sync or async) until it returns something truthy and
    return that; AssertionError naming ``what`` and the last value after
    ``timeout`` seconds. With ``retry_errors`` an exception counts as "not
    yet" (a server still starting, an object not created yet)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if asyncio.iscoroutine(last):
                last = await last
        except Exception as e:
            if not retry_errors:
                raise
            last = e
        else:
            if last:
                return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def waiter(*, timeout: float, interval: float, retry_errors: bool = False):
    """``wait_for`` with other defaults (positional ``timeout``/``interval`` still work)."""
    async def wait(predicate, timeout: float = timeout, interval: float = interval, what: str = "condition"):
        return await wait_for(predicate, timeout, interval, what, retry_errors=retry_errors)
    return wait
