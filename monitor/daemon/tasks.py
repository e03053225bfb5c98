"""Work in flight: the tasks a stop waits for, and the cap on polls running at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Tasks:
    """The daemon's own record of the jobs running now (polls, deliveries, digests).

    APScheduler's shutdown cancels the coroutines it started; the daemon drains these first,
    so a poll gets its grace period and is cancelled only when that runs out.
    """

    def __init__(self) -> None:
        self.running: set[asyncio.Task[object]] = set()

    @contextmanager
    def track(self) -> Iterator[None]:
        """Count the current task as work in flight while the block runs."""
        task = asyncio.current_task()
        assert task is not None
        self.running.add(task)
        try:
            yield
        finally:
            self.running.discard(task)

    async def drain(self, timeout: float, hurry: asyncio.Event) -> set[asyncio.Task[object]]:
        """Wait up to ``timeout`` seconds (or until ``hurry`` is set) for the running tasks to
        end; return those still running."""
        deadline = time.monotonic() + timeout
        hurried = asyncio.ensure_future(hurry.wait())
        try:
            while self.running and not hurry.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                await asyncio.wait(
                    {*self.running, hurried}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            hurried.cancel()
        return set(self.running)

    async def cancel(self, tasks: set[asyncio.Task[object]]) -> None:
        """Cancel ``tasks`` and wait until each has ended."""
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


class Slots:
    """At most ``limit`` polls at once; the limit can change while polls run (a reload)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.closed = False
        self._waiters: list[asyncio.Future[None]] = []

    async def acquire(self) -> bool:
        """Wait for a free slot; False when the daemon is stopping (no slot taken)."""
        while not self.closed and self.used >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        if self.closed:
            return False
        self.used += 1
        return True

    def release(self) -> None:
        self.used -= 1
        self._wake()

    def resize(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def close(self) -> None:
        """Refuse every waiting and future poll."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
