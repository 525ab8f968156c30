"""SIGTERM stops the apiserver cleanly even while watches are open: the
streams end (clients re-establish them elsewhere or after the restart) and
the process exits 0 instead of waiting for its watchers to leave."""

from __future__ import annotations

import asyncio
import signal
import subprocess

import aiohttp

from tests.conftest import APIServerProcess


async def test_sigterm_ends_open_watches_and_exits(tmp_path):
    server = APIServerProcess(tmp_path / "api").start()
    try:
        async with aiohttp.ClientSession() as http:
            streams = [await http.get(f"{server.url}{path}") for path in (
                "/api/v1/pods?watch=true",
                "/api/v1/namespaces?watch=true&resourceVersion=1",  # replays history first
                "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true")]
            assert [s.status for s in streams] == [200, 200, 200]
            server.proc.send_signal(signal.SIGTERM)
            # every stream ends with a clean end of body (no reset, no error event)
            bodies = await asyncio.gather(*(asyncio.wait_for(s.read(), 60) for s in streams))
            assert b'"ERROR"' not in b"".join(bodies)
            assert b'"name":"default"' in bodies[1]
        assert await asyncio.to_thread(server.proc.wait, 60) == 0
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        server.stop()
