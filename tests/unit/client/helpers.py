from __future__ import annotations

import asyncio


async def eventually(cond, timeout: float = 10.0, interval: float = 0.01):
    """Wait until ``cond()`` is truthy (no timing assertion: the deadline only stops a hang)."""
    async with asyncio.timeout(timeout):
        while True:
            value = cond()
            if value:
                return value
            await asyncio.sleep(interval)
