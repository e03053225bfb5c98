"""One archive run's fetches: ``concurrency`` workers over one queue, and one writer.

A worker fetches a version (:mod:`~monitor.archive.fetch`), puts a complete body that was
spilled to a temporary file in the blob store, and hands the try to the writer. The writer
gathers tries for up to :data:`GATHER_SECONDS` (or :data:`BATCH` of them, or
:data:`BATCH_BYTES` of bodies kept in memory), hashes the in-memory bodies and reads their
types in a worker thread (hashlib lets the event loop run meanwhile), stores them together
(:meth:`~monitor.archive.blobs.BlobStore.put_many`: for a folder, two worker threads for the
whole batch), makes the batch's blobs durable
(:meth:`~monitor.archive.blobs.BlobStore.sync`), then records the tries in one short
transaction, while the next batch's bodies are stored: a run of thousands of small files pays
a thread trip, a sync and a transaction per batch, not per file, and a slow run records each
file within half a second of its end. A blob is durable in the store before a row names it.
Workers wait while the tries handed over hold more than :data:`HELD_BYTES` of bodies (memory
stays bounded when the disk is slower than the network).

A server that asks to be left alone for longer than
:data:`~monitor.archive.fetch.MAX_RETRY_AFTER` (``Retry-After``), or that fails
:data:`GIVE_UP_AFTER` files in a row (no answer, 429 or 5xx after every retry), stops the run:
the files not started wait for the next poll, without a capture (``waiting``, with the reason
as the report's note), instead of each taking its retries against a server that refuses.

When a worker fails (:class:`~monitor.errors.BlobStoreError`: the store is full), the other
workers are cancelled (their temporary files removed), the writer still records what was
handed to it, and the error is raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.archive.allowance import Allowance
from monitor.archive.blobs import BlobStore
from monitor.archive.fetch import Fetched, HttpFetcher, Wanted
from monitor.archive.local_fetch import LocalFetcher
from monitor.archive.records import Pending, Record, write_records
from monitor.config import TargetConfig
from monitor.errors import MonitorError
from monitor.store import Store

log = logging.getLogger("monitor.archive")

Fetcher = HttpFetcher | LocalFetcher
#: The most captures one transaction records.
BATCH = 500
#: The most bytes of in-memory bodies one batch stores.
BATCH_BYTES = 4 * 1024 * 1024
#: The most bytes of in-memory bodies handed to the writer and not yet stored.
HELD_BYTES = 8 * 1024 * 1024
#: How long the writer gathers finished tries before it syncs the store and records them:
#: one sync (a journal commit) per batch, not per file.
GATHER_SECONDS = 0.5
#: Tries of one version before it is given up (its last capture then has no next try).
MAX_ATTEMPTS = 10
#: Files in a row that failed on the server's side (no answer, 429 or 5xx after every retry)
#: before a run stops: the rest wait for the next poll instead of each taking its retries.
GIVE_UP_AFTER = 20


def retry_at(status: str, attempts: int, now: datetime) -> datetime | None:
    """When a try that ended in ``status`` is made again (None: never)."""
    if status not in {"failed", "changed"} or attempts >= MAX_ATTEMPTS:
        return None
    if status == "changed":
        return now  # the next run: the next poll will have listed the file again
    return now + min(timedelta(minutes=1) * int(4 ** (attempts - 1)), timedelta(days=1))


class Counts:
    """What a run did, as it goes."""

    def __init__(self) -> None:
        self.archived = self.stored = self.bytes = self.skipped = self.failed = 0
        #: Files left for the next run: without a listed size, they did not fit; or the run
        #: stopped (:attr:`stopped`).
        self.waiting = 0
        #: Why the run stopped before its last file, else None.
        self.stopped: str | None = None
        #: Seconds the writer waited for the store to take in-memory bodies, for its sync,
        #: and for the database.
        self.store_seconds = self.sync_seconds = self.record_seconds = 0.0


@dataclass(slots=True)
class Done:
    """One try handed to the writer: its body in memory (to store) or stored already."""

    item: Pending
    fetched: Fetched
    #: The body to store (a complete try kept in memory), else None.
    data: bytes | None = None
    #: Whether the body was new to the store (a complete try whose body is stored).
    new: bool = False


class Run:
    """See the module docstring."""

    def __init__(
        self,
        store: Store,
        target: TargetConfig,
        target_id: int,
        blobs: BlobStore,
        fetcher: Fetcher,
        clock: Callable[[], datetime],
        url_for: Callable[[str], str],
        allowance: Allowance | None = None,
    ) -> None:
        """``allowance``: what files without a listed size may take (None: no limit)."""
        self.store, self.target, self.tid, self.blobs = store, target, target_id, blobs
        self.fetcher, self.clock, self.url_for = fetcher, clock, url_for
        self.allowance = allowance
        self.counts = Counts()
        #: Files in a row whose try failed on the server's side.
        self.failing = 0
        self.records: asyncio.Queue[Done | None] = asyncio.Queue()
        #: Bytes of in-memory bodies handed to the writer and not stored yet.
        self.held = 0
        self.room = asyncio.Condition()

    async def run(self, items: list[Pending]) -> Counts:
        queue: asyncio.Queue[Pending] = asyncio.Queue()
        for item in items:
            queue.put_nowait(item)
        workers = min(self.fetcher.concurrency, len(items))
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._writer())
                tasks = [group.create_task(self._work(queue, w)) for w in range(workers)]
                await asyncio.gather(*tasks)
                self.records.put_nowait(None)
        except BaseExceptionGroup as group:
            # The first error of ours (a full store, the database) says what stopped the run.
            for error in group.exceptions:
                if isinstance(error, MonitorError):
                    raise error from None
            raise
        return self.counts

    async def _work(self, queue: asyncio.Queue[Pending], worker: int) -> None:
        while not queue.empty():
            item = queue.get_nowait()
            if self.counts.stopped is not None:
                self.counts.waiting += 1
                continue
            cap = self.target.archive.max_file_size
            share = None
            if item.size is None and self.allowance is not None:
                share = await self.allowance.reserve(cap)
                if share is None:  # nothing left: it waits for the next run
                    self.counts.waiting += 1
                    continue
                if self.counts.stopped is not None:  # stopped while it waited for room
                    await self.allowance.settle(share, 0, fitted=True)
                    self.counts.waiting += 1
                    continue
            wanted = Wanted(
                item.version_id, item.path, self.url_for(item.path), item.size,
                item.mtime_ns, item.attempts, cap if share is None else share,
            )  # fmt: skip
            fetched = await self.fetcher.fetch(wanted, worker)
            self._watch(fetched)
            if share is not None and not await self._fitted(fetched, share, cap):
                self.counts.waiting += 1
                continue
            done = await self._spilled(item, fetched)
            if done.data:
                await self._hold(len(done.data))
            self.records.put_nowait(done)

    def _watch(self, fetched: Fetched) -> None:
        """Stop the run when the server asks for a long pause, or after :data:`GIVE_UP_AFTER`
        files in a row it failed."""
        status = fetched.http_status
        server_side = (
            isinstance(self.fetcher, HttpFetcher)  # a folder's failures are its files' own
            and fetched.status == "failed"
            and (status is None or status == 429 or status >= 500)
        )
        self.failing = self.failing + 1 if server_side else 0
        if self.counts.stopped is None:
            if self.fetcher.refused is not None:
                self.counts.stopped = self.fetcher.refused
            elif self.failing >= GIVE_UP_AFTER:
                self.counts.stopped = f"the server failed {self.failing} files in a row"

    async def _fitted(self, fetched: Fetched, share: int, cap: int) -> bool:
        """Count a file without a listed size against the allowance; False when it was cut at
        a reservation below ``max_file_size`` (it is not recorded: it waits)."""
        assert self.allowance is not None
        fitted = not (fetched.status == "skipped" and share < cap)
        took = (fetched.size or 0) if fetched.status == "complete" else 0
        await self.allowance.settle(share, took, fitted=fitted)
        return fitted

    async def _spilled(self, item: Pending, fetched: Fetched) -> Done:
        """The try, its body put in the store if it is in a temporary file."""
        body = fetched.body
        if fetched.status == "complete" and body is not None:
            if body.path is None:
                return Done(item, fetched, body.data or b"")
            if fetched.sha256:
                return Done(item, fetched, None, await self.blobs.put(fetched.sha256, body.path))
        return Done(item, fetched)

    async def _hold(self, size: int) -> None:
        """Wait until the writer holds room for ``size`` more bytes (always for one body)."""
        async with self.room:
            await self.room.wait_for(lambda: self.held == 0 or self.held + size <= HELD_BYTES)
            self.held += size

    async def _release(self, size: int) -> None:
        async with self.room:
            self.held -= size
            self.room.notify_all()

    def _record(self, done: Done) -> Record:
        """The try's rows; counted."""
        fetched, item = done.fetched, done.item
        blob = None
        if fetched.status == "complete" and fetched.sha256:
            blob = blob_row(fetched, self.clock())
            self.counts.archived += 1
            self.counts.stored += int(done.new)
            self.counts.bytes += fetched.size or 0
        elif fetched.status == "skipped":
            self.counts.skipped += 1
        else:
            self.counts.failed += 1
            log.info("%s: %s: %s: %s", self.target.name, item.path, fetched.status, fetched.error)
        return capture_row(self.tid, item, fetched, self.clock()), blob

    async def _writer(self) -> None:
        """Store and record what the workers hand over, in batches, until the end (None)
        comes: a batch's bodies are stored while the batch before it is synced and recorded."""
        storing: asyncio.Future[None] | None = None
        recording: asyncio.Future[None] | None = None
        tries: list[Done] = []
        try:
            done = False
            while not done:
                batch = await self._gather()
                done = batch[-1] is None
                tries = [r for r in batch if r is not None]
                if not tries:
                    continue
                storing = asyncio.ensure_future(self._store(tries))
                await asyncio.shield(storing)
                if recording is not None:
                    await asyncio.shield(recording)
                recording = asyncio.ensure_future(self._commit(tries))
                storing, tries = None, []
            if recording is not None:
                await asyncio.shield(recording)
        except asyncio.CancelledError:
            # The run stops: what was handed over is still stored and recorded.
            if storing is not None:
                await storing
            if recording is not None:
                await recording
            rest = [r for r in _drain(self.records) if r is not None]
            await self._store(rest)
            if tries or rest:
                await self._commit(tries + rest)
            raise
        except BaseException:
            if recording is not None:
                await asyncio.wait([recording])  # never left running after the run
            raise

    async def _gather(self) -> list[Done | None]:
        """The next batch: what comes within :data:`GATHER_SECONDS` of its first try."""
        batch = [await self.records.get()]
        size = len(batch[0].data or b"") if batch[0] is not None else 0
        deadline = time.monotonic() + GATHER_SECONDS
        while len(batch) < BATCH and size < BATCH_BYTES and batch[-1] is not None:
            if self.records.empty():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.records.get(), left))
                except TimeoutError:
                    break
            else:
                batch.append(self.records.get_nowait())
            last = batch[-1]
            size += len(last.data or b"") if last is not None else 0
        return batch

    async def _store(self, tries: list[Done]) -> None:
        """Store the in-memory bodies of ``tries`` (their room is given back)."""
        kept = [d for d in tries if d.data is not None]
        if not kept:
            return
        t0 = time.perf_counter()
        try:
            await asyncio.to_thread(_settle, kept)
            bodies = [(d.fetched.sha256 or "", d.data or b"") for d in kept]
            news = await self.blobs.put_many(bodies)
        finally:
            await self._release(sum(len(d.data or b"") for d in kept))
            self.counts.store_seconds += time.perf_counter() - t0
        for d, new in zip(kept, news, strict=True):
            d.new, d.data = new, None

    async def _commit(self, tries: list[Done]) -> None:
        """Make the blobs of ``tries`` durable, then record the rows that name them."""
        rows = [self._record(d) for d in tries]
        t0 = time.perf_counter()
        await self.blobs.sync()
        t1 = time.perf_counter()
        await asyncio.to_thread(write_records, self.store, rows)
        self.counts.sync_seconds += t1 - t0
        self.counts.record_seconds += time.perf_counter() - t1


def _settle(tries: list[Done]) -> None:
    """Hash the in-memory bodies of ``tries`` and read their types (a worker thread)."""
    for done in tries:
        done.fetched.settle()


def _drain(queue: asyncio.Queue[Done | None]) -> list[Done | None]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def capture_row(tid: int, item: Pending, fetched: Fetched, now: datetime) -> dict[str, Any]:
    """The capture row of one try."""
    attempts = item.attempts + 1
    complete = fetched.status == "complete"
    return {
        "target_id": tid,
        "version_id": item.version_id,
        "path": item.path,
        "status": fetched.status,
        "sha256": fetched.sha256 if complete else None,
        "size": fetched.size,
        "expected_size": item.size,
        "url": fetched.wanted.url,
        "fetched_at": fetched.fetched_at,
        "http_status": fetched.http_status,
        "headers": fetched.headers_json,
        "ip": fetched.ip,
        "tls_fingerprint": fetched.tls_fingerprint,
        "error": fetched.error,
        "attempts": attempts,
        "next_attempt_at": _later(retry_at(fetched.status, attempts, now), fetched.not_before),
    }


def _later(when: datetime | None, not_before: datetime | None) -> datetime | None:
    """The next try: at ``when``, and not before what the server asked (None: never)."""
    if when is None or not_before is None:
        return when
    return max(when, not_before)


def blob_row(fetched: Fetched, now: datetime) -> dict[str, Any]:
    """The blob row of a complete try."""
    return {
        "sha256": fetched.sha256,
        "size": fetched.size or 0,
        "mime": (fetched.mime or "")[:200] or None,
        "description": (fetched.description or "")[:200] or None,
        "stored_at": now,
        "verified_at": None,
    }
