"""SIGTERM stops the apiserver promptly even while watches are open: the
streams are dropped unfinished (so clients resume them from their last
resourceVersion, elsewhere or after the restart) and the process exits 0
instead of waiting for its watchers to leave."""

from __future__ import annotations

import asyncio
import signal
import subprocess

import aiohttp
import pytest

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
            replayed = b""
            while b'"name":"default"' not in replayed:  # the history watch is streaming
                replayed += await asyncio.wait_for(streams[1].content.readany(), 30)
            server.proc.send_signal(signal.SIGTERM)
            # every stream breaks off: not a finished watch, and no error event in it
            for s in streams:
                got = b""
                with pytest.raises(aiohttp.ClientPayloadError):
                    async for chunk in s.content.iter_any():
                        got += chunk
                assert b'"ERROR"' not in got
        assert await asyncio.to_thread(server.proc.wait, 60) == 0
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        server.stop()
