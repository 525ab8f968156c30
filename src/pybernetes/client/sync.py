"""A synchronous facade over the async client, for scripts and the CLI.

``SyncClient`` owns an event loop in a daemon thread and runs every call of
the wrapped async client there: ``sync.pods("default").list()`` returns the
List dict, ``sync.pods().watch()`` and ``log(follow=True)`` return plain
iterators. The methods are exactly the async client's, minus ``await``.
Close it (or use ``with``) to stop the loop and release connections.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import Iterator
from typing import Any

from .client import Client, Interface
from .kubeconfig import KubeConfig

__all__ = ["SyncClient"]


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pyb-sync-client", daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        if threading.current_thread() is self.thread:
            raise RuntimeError("SyncClient called from its own event loop thread")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


class _SyncIterator:
    """A blocking iterator over an async iterator living on the loop thread."""

    def __init__(self, runner: _LoopThread, ait: Any):
        self._runner = runner
        self._ait = ait

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        async def step() -> tuple[bool, Any]:
            try:
                return True, await self._ait.__anext__()
            except StopAsyncIteration:
                return False, None
        ok, value = self._runner.run(step())
        if not ok:
            raise StopIteration
        return value

    def close(self) -> None:
        closer = getattr(self._ait, "aclose", None) or getattr(self._ait, "close", None)
        if closer is not None:
            self._runner.run(closer())

    def __enter__(self) -> _SyncIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SyncProxy:
    """Wraps an object of the async API; every call runs to completion on the loop."""

    __slots__ = ("_target", "_runner")

    def __init__(self, target: Any, runner: _LoopThread):
        self._target = target
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return _wrap(attr(*args, **kwargs), self._runner)
        call.__name__ = name
        call.__doc__ = getattr(attr, "__doc__", None)
        return call

    def __repr__(self) -> str:
        return f"<sync {self._target!r}>"


def _wrap(result: Any, runner: _LoopThread) -> Any:
    if inspect.isawaitable(result):
        result = runner.run(_await(result))
    if hasattr(result, "__anext__"):
        return _SyncIterator(runner, result)
    if hasattr(result, "backend") and hasattr(result, "info"):  # a ResourceClient
        return _SyncProxy(result, runner)
    return result


async def _await(aw: Any) -> Any:
    return await aw


class SyncClient(_SyncProxy):
    """Blocking twin of :class:`~pybernetes.client.Client` (or of any client
    with the same interface, e.g. a FakeClient: ``SyncClient(FakeClient())``)."""

    __slots__ = ()

    def __init__(self, client: Interface | KubeConfig):
        if isinstance(client, KubeConfig):
            client = Client(client)
        super().__init__(client, _LoopThread())

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike | None = None, context: str | None = None,
                        **kw: Any) -> SyncClient:
        return cls(Client.from_kubeconfig(path, context, **kw))

    @property
    def async_client(self) -> Interface:
        return self._target

    def close(self) -> None:
        try:
            self._runner.run(self._target.close())
        finally:
            self._runner.stop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
