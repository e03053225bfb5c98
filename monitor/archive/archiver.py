"""The archiver: after a poll's snapshot commits, keep a copy of what the target's rules select.

What is fetched (:func:`plan`), oldest version first:

- open file versions never tried (new and modified ones of this snapshot, and those an earlier
  run left waiting), and those whose last try ``failed`` or found the file ``changed`` and is
  due again (:func:`retry_at`); a version that is gone by now is never fetched again;
- that ``[target.archive]`` selects: ``include`` / ``exclude`` globs on the path; a file larger
  than ``max_file_size`` gets a ``skipped`` capture (not retried);
- within ``max_bytes_per_poll`` and ``quota`` (the bytes the target's archived versions hold):
  the first file that does not fit, and every file after it, waits for the next run (the
  first file of a run always goes, so a file larger than ``max_bytes_per_poll`` is not stuck).

While a suspect snapshot of the target is held, nothing is archived (its listing may be an
error page; what it shows is not applied, so neither is it archived).

Each file is fetched by :mod:`monitor.archive.fetch` (the target's concurrency, rate, retries),
stored in the blob store (one copy per hash: the same body twice stores nothing new), then one
``capture`` row per try and, for a complete one, the ``blob`` row and ``version.sha256`` are
written, in a short transaction of their own. The blob is in the store before a row names it.

A :class:`~monitor.errors.BlobStoreError` (the store is full or refuses) stops the run: the
files in flight are dropped with their temporary files, no capture is written for them (they
are tried again next time), and the error is raised for the caller to report. The snapshot is
never touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.archive.blobs import BlobStore
from monitor.archive.fetch import Fetched, Fetcher, HttpFetcher, LocalFetcher, Wanted
from monitor.archive.records import (
    Pending,
    archived_bytes,
    insert_blob,
    insert_capture,
    pending_versions,
)
from monitor.config import ArchiveRules, HttpTarget, Settings, TargetConfig
from monitor.crawl import Timing, size_text
from monitor.errors import ArchiveError, MonitorError, SourceError
from monitor.sources import make_source
from monitor.sources.local import GlobSet, Rules
from monitor.store import Store
from monitor.store.models import Blob, Capture
from monitor.store.queries import held_snapshots, target_id

log = logging.getLogger(__name__)

#: Tries of one version before it is given up (its last capture then has no next try).
MAX_ATTEMPTS = 10
#: The wait after the first failed try; each further failure waits four times as long.
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(days=1)


@dataclass(slots=True)
class ArchiveReport:
    """What one archive run of one target did."""

    target: str
    archived: int = 0  # complete captures
    stored: int = 0  # of them, bodies new to the store
    bytes: int = 0  # bytes of the complete captures
    skipped: int = 0
    failed: int = 0  # failed and changed captures
    waiting: int = 0  # left for the next run (max_bytes_per_poll, quota)
    seconds: float = 0.0
    note: str | None = None

    def summary(self) -> str:
        text = (
            f"{self.target}: archived {self.archived} files ({size_text(self.bytes)}, "
            f"{self.stored} new), {self.skipped} skipped, {self.failed} failed"
        )
        if self.waiting:
            text += f", {self.waiting} waiting"
        return text + (f" ({self.note})" if self.note else "")


def retry_at(status: str, attempts: int, now: datetime) -> datetime | None:
    """When a try that ended in ``status`` is made again (None: never)."""
    if status not in {"failed", "changed"} or attempts >= MAX_ATTEMPTS:
        return None
    if status == "changed":
        return now  # the next run: the next poll will have listed the file again
    return now + min(RETRY_FIRST * int(4 ** (attempts - 1)), RETRY_MAX)


def archive_rules(rules: ArchiveRules) -> Rules:
    """The ``include`` / ``exclude`` of ``[target.archive]``, as the sources apply them."""
    return Rules(
        include=GlobSet.from_patterns(rules.include, setting="archive.include"),
        exclude=GlobSet.from_patterns(rules.exclude, setting="archive.exclude"),
        active=bool(rules.include or rules.exclude),
    )


@dataclass(slots=True)
class Plan:
    """What one run fetches, what it records as skipped, and how many files wait."""

    fetch: list[Pending]
    skip: list[tuple[Pending, str]]
    waiting: int
    note: str | None = None
    #: A suspect snapshot of the target is held: nothing is archived meanwhile.
    held: bool = False


def plan(pending: list[Pending], rules: ArchiveRules, used: int) -> Plan:
    """Choose from ``pending`` (oldest first); ``used``: bytes the target's archive holds."""
    selected = archive_rules(rules)
    fetch: list[Pending] = []
    skip: list[tuple[Pending, str]] = []
    budget = rules.max_bytes_per_poll
    room = None if rules.quota is None else rules.quota - used
    planned = 0
    for index, item in enumerate(pending):
        if selected.active and selected.skips_file(item.path):
            continue
        size = item.size or 0
        if item.size is not None and item.size > rules.max_file_size:
            if item.attempts == 0:
                limit = size_text(rules.max_file_size)
                skip.append((item, f"larger than max_file_size ({limit})"))
            continue
        over_budget = fetch and planned + size > budget
        over_quota = room is not None and planned + size > room
        if over_budget or over_quota:
            rest = [p for p in pending[index:] if not selected.skips_file(p.path)]
            note = "quota reached" if over_quota else "max_bytes_per_poll reached"
            return Plan(fetch, skip, len(rest), note)
        fetch.append(item)
        planned += size
    return Plan(fetch, skip, 0)


def make_fetcher(
    settings: Settings, target: TargetConfig, blobs: BlobStore, *, timing: Timing | None = None
) -> Fetcher:
    """The fetcher of the target's kind; :class:`ArchiveError` when its settings are unusable."""
    if isinstance(target, HttpTarget):
        try:
            return HttpFetcher(
                target, blobs, timeout=settings.archive.timeout.total_seconds(), timing=timing
            )
        except SourceError as exc:
            raise ArchiveError(f"{target.name}: cannot archive: {exc.message}") from exc
    return LocalFetcher(target, blobs)


async def archive_target(
    store: Store,
    settings: Settings,
    target: TargetConfig,
    blobs: BlobStore,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    timing: Timing | None = None,
) -> ArchiveReport:
    """Archive what the target's rules select and is not archived yet (see the module)."""
    t0 = time.perf_counter()
    report = ArchiveReport(target.name)
    if not target.archive.enabled:
        return report
    tid, chosen = await asyncio.to_thread(_plan, store, target, clock())
    report.waiting, report.note = chosen.waiting, chosen.note
    if chosen.held:
        report.note = "a suspect snapshot is held: nothing archived until it is decided"
        return report
    url_for = make_source(target).url_for
    for item, reason in chosen.skip:
        capture = _skipped(tid, item, url_for(item.path), clock(), reason)
        await asyncio.to_thread(_write, store, capture, None)
        report.skipped += 1
    if chosen.fetch:
        fetcher = make_fetcher(settings, target, blobs, timing=timing)
        try:
            await Run(store, target, tid, blobs, fetcher, clock, report).run(chosen.fetch)
        finally:
            await fetcher.aclose()
    report.seconds = time.perf_counter() - t0
    return report


def _plan(store: Store, target: TargetConfig, now: datetime) -> tuple[int, Plan]:
    with store.read() as conn:
        tid = target_id(conn, target.name)
        if held_snapshots(conn, tid):
            return tid, Plan([], [], 0, held=True)
        pending = pending_versions(conn, tid, now)
        used = archived_bytes(conn, tid) if target.archive.quota is not None else 0
    return tid, plan(pending, target.archive, used)


def _skipped(tid: int, item: Pending, url: str, now: datetime, reason: str) -> Capture:
    return Capture(
        target_id=tid,
        version_id=item.version_id,
        path=item.path,
        status="skipped",
        expected_size=item.size,
        url=url,
        fetched_at=now,
        error=reason,
        attempts=item.attempts + 1,
    )


def _write(store: Store, capture: Capture, blob: Blob | None) -> None:
    with store.write() as conn:
        if blob is not None:
            insert_blob(conn, blob)
        insert_capture(conn, capture)


class Run:
    """One run's fetches: ``concurrency`` workers over one queue, each try recorded."""

    def __init__(
        self,
        store: Store,
        target: TargetConfig,
        tid: int,
        blobs: BlobStore,
        fetcher: Fetcher,
        clock: Callable[[], datetime],
        report: ArchiveReport,
    ) -> None:
        self.store, self.target, self.tid, self.blobs = store, target, tid, blobs
        self.fetcher, self.clock, self.report = fetcher, clock, report
        self.url_for = make_source(target).url_for

    async def run(self, items: list[Pending]) -> None:
        queue: asyncio.Queue[Pending] = asyncio.Queue()
        for item in items:
            queue.put_nowait(item)
        workers = min(self.fetcher.concurrency, len(items))
        try:
            async with asyncio.TaskGroup() as group:
                for worker in range(workers):
                    group.create_task(self._work(queue, worker))
        except BaseExceptionGroup as group:
            # The first error of ours (a full store, the database) says what stopped the run.
            for error in group.exceptions:
                if isinstance(error, MonitorError):
                    raise error from None
            raise

    async def _work(self, queue: asyncio.Queue[Pending], worker: int) -> None:
        while not queue.empty():
            item = queue.get_nowait()
            wanted = Wanted(
                item.version_id, item.path, self.url_for(item.path), item.size,
                item.mtime_ns, item.attempts, self.target.archive.max_file_size,
            )  # fmt: skip
            fetched = await self.fetcher.fetch(wanted, worker)
            await self._record(item, fetched)

    async def _record(self, item: Pending, fetched: Fetched) -> None:
        blob = None
        if fetched.status == "complete" and fetched.temp is not None and fetched.sha256:
            new = await self.blobs.put(fetched.sha256, fetched.temp)
            blob = Blob(
                sha256=fetched.sha256,
                size=fetched.size or 0,
                mime=fetched.mime,
                description=(fetched.description or "")[:200] or None,
                stored_at=self.clock(),
            )
            self.report.archived += 1
            self.report.stored += int(new)
            self.report.bytes += fetched.size or 0
        elif fetched.status == "skipped":
            self.report.skipped += 1
        else:
            self.report.failed += 1
            log.info("%s: %s: %s: %s", self.target.name, item.path, fetched.status, fetched.error)
        attempts = item.attempts + 1
        capture = Capture(
            target_id=self.tid,
            version_id=item.version_id,
            path=item.path,
            status=fetched.status,
            sha256=fetched.sha256 if blob is not None else None,
            size=fetched.size,
            expected_size=item.size,
            url=fetched.wanted.url,
            fetched_at=fetched.fetched_at,
            http_status=fetched.http_status,
            headers=fetched.headers_json,
            ip=fetched.ip,
            tls_fingerprint=fetched.tls_fingerprint,
            error=fetched.error,
            attempts=attempts,
            next_attempt_at=retry_at(fetched.status, attempts, self.clock()),
        )
        await asyncio.to_thread(_write, self.store, capture, blob)
