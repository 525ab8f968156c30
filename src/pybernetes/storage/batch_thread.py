"""Threads that run blocking jobs in batches and wake the event loop once per batch.

Used by the SQLite backend for its writer (group commit) and readers. Each
thread owns one private state object (a database connection) and drains a job
queue shared with its sibling threads; all outcomes of a batch reach the event
loop in ONE ``call_soon_threadsafe`` callback, which keeps the per-operation
cost on the loop small and lets the writer publish a batch's events before the
callers learn their writes succeeded.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["BatchThreads", "Job", "Outcome", "run_job"]

S = TypeVar("S")

_STOP = object()


@dataclass(slots=True)
class Job:
    """One unit of blocking work: ``fn(state, *args)`` on a worker thread.

    ``solo`` jobs are run by themselves (the writer runs them outside any
    transaction, e.g. a WAL checkpoint).
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    solo: bool = False


# (future, result, exception): exactly one of result/exception is meaningful.
Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]

# run_batch(state, jobs) -> (outcomes, callback run on the loop before settling or None)
BatchRunner = Callable[[S, list[Job]], tuple[list[Outcome], Callable[[], None] | None]]


def run_job(job: Job, state: Any) -> Outcome:
    """Run one job, capturing its result or exception."""
    try:
        return (job.future, job.fn(state, *job.args), None)
    except Exception as exc:  # handed to the awaiting caller
        return (job.future, None, exc)


def _settle(outcomes: Sequence[Outcome], before: Callable[[], None] | None) -> None:
    if before is not None:
        before()
    for fut, result, exc in outcomes:
        if fut.done():  # the caller gave up (cancelled); the work still happened
            continue
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)


class BatchThreads(Generic[S]):
    """One daemon thread per state, sharing one FIFO job queue.

    Contract: jobs submitted from the event loop run in submission order per
    thread (with one thread, globally in order); each thread takes up to
    ``max_batch`` queued jobs at once and hands them to ``run_batch``. The
    outcomes settle on the loop of each job's future, after the optional
    callback returned by ``run_batch`` has run there.
    """

    def __init__(
        self,
        *,
        name: str,
        states: Sequence[S],
        run_batch: BatchRunner[S],
        max_batch: int = 256,
    ) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._main, args=(state,), name=f"{name}-{i}", daemon=True)
            for i, state in enumerate(states)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any, solo: bool = False) -> asyncio.Future[Any]:
        """Queue ``fn(state, *args)``; returns a future of its result (call on the loop)."""
        if self._stopped:
            raise RuntimeError("storage is closed")
        fut = asyncio.get_running_loop().create_future()
        self._queue.put(Job(fn, args, fut, solo))
        return fut

    def stop(self) -> None:
        """Ask every thread to finish the jobs queued so far and exit."""
        if not self._stopped:
            self._stopped = True
            for _ in self._threads:
                self._queue.put(_STOP)

    def join(self) -> None:
        """Block until all threads exited (call off the loop)."""
        for thread in self._threads:
            thread.join()

    def _main(self, state: S) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[Job] = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            try:
                outcomes, before = self._run_batch(state, batch)
            except Exception as exc:  # a bug must not leave callers waiting forever
                outcomes, before = [(job.future, None, exc) for job in batch], None
            _deliver(outcomes, before)
            if stop:
                return


def _deliver(outcomes: list[Outcome], before: Callable[[], None] | None) -> None:
    loops: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        loops.setdefault(outcome[0].get_loop(), []).append(outcome)
    if before is not None and not loops:
        return
    for i, (loop, group) in enumerate(loops.items()):
        try:
            loop.call_soon_threadsafe(_settle, group, before if i == 0 else None)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass
