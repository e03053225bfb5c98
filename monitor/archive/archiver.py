"""The archiver: after a poll's snapshot commits, keep a copy of what the target's rules select.

What is fetched (:func:`plan`), oldest version first:

- open file versions never tried (new and modified ones of this snapshot, and those an earlier
  run left waiting), and those whose last try ``failed`` or found the file ``changed`` and is
  due again (:func:`~monitor.archive.run.retry_at`: ``changed`` at the next run, ``failed``
  after 1 min, 4 min, 16 min… up to a day, 10 tries in all); a version that is gone by now is
  never fetched again;
- that ``[target.archive]`` selects: ``include`` / ``exclude`` globs on the path; a file larger
  than ``max_file_size`` gets a ``skipped`` capture (not retried);
- within ``max_bytes_per_poll`` and ``quota`` (the bytes the target's archived versions hold):
  the first file that does not fit, and every file after it, waits for the next run (the
  first file of a run always goes, so a file larger than ``max_bytes_per_poll`` is not stuck);
  a file the listing gave no size for is counted as it is downloaded
  (:mod:`~monitor.archive.allowance`).

While a suspect snapshot of the target is held, nothing is archived (its listing may be an
error page; what it shows is not applied, so neither is it archived).

Each file is fetched by :mod:`monitor.archive.fetch` (the target's concurrency, rate, retries),
stored in the blob store (one copy per hash: the same body twice stores nothing new), then one
``capture`` row per try and, for a complete one, the ``blob`` row and ``version.sha256`` are
written in short transactions (:mod:`monitor.archive.run`). The blob is in the store before a
row names it.

A :class:`~monitor.errors.BlobStoreError` (the store is full or refuses) stops the run: the
files in flight are dropped with their temporary files, no capture is written for them (they
are tried again next time), and the error is raised for the caller to report. The snapshot is
never touched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.archive.allowance import Allowance
from monitor.archive.blobs import BlobStore
from monitor.archive.fetch import Fetched, HttpFetcher, Wanted
from monitor.archive.local_fetch import LocalFetcher
from monitor.archive.lock import shared
from monitor.archive.records import Pending, Record, archived_bytes, pending_versions, write_records
from monitor.archive.run import Fetcher, Run, capture_row
from monitor.config import ArchiveRules, HttpTarget, Settings, TargetConfig
from monitor.crawl import Timing, size_text
from monitor.errors import ArchiveError, SourceError
from monitor.sources import make_source
from monitor.sources.local import GlobSet, Rules
from monitor.store import Store
from monitor.store.queries import held_snapshots, latest_snapshot, target_id

log = logging.getLogger(__name__)


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
    #: Of them, seconds spent waiting for the blob store to make blobs durable.
    sync_seconds: float = 0.0
    note: str | None = None

    def summary(self) -> str:
        text = (
            f"{self.target}: archived {self.archived} files ({size_text(self.bytes)}, "
            f"{self.stored} new), {self.skipped} skipped, {self.failed} failed"
        )
        if self.waiting:
            text += f", {self.waiting} waiting"
        return text + (f" ({self.note})" if self.note else "")


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
    #: Bytes of the listed sizes of ``fetch``, and what was left of ``quota`` before them.
    planned: int = 0
    room: int | None = None
    #: The target's latest listing printed sizes rounded (``4.9K``).
    rounded_sizes: bool = False

    def allowance(self, rules: ArchiveRules) -> Allowance:
        """What the files of ``fetch`` without a listed size may still take."""
        room = None if self.room is None else self.room - self.planned
        first = bool(self.fetch) and self.fetch[0].size is None
        return Allowance(rules.max_bytes_per_poll - self.planned, room, first=first)


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
            return Plan(fetch, skip, len(rest), note, planned=planned, room=room)
        fetch.append(item)
        planned += size
    return Plan(fetch, skip, 0, planned=planned, room=room)


def make_fetcher(
    settings: Settings,
    target: TargetConfig,
    blobs: BlobStore,
    *,
    timing: Timing | None = None,
    rounded_sizes: bool = False,
) -> Fetcher:
    """The fetcher of the target's kind; :class:`ArchiveError` when its settings are unusable.
    ``rounded_sizes``: the target's listing prints sizes rounded (``4.9K``)."""
    if isinstance(target, HttpTarget):
        try:
            timeout = settings.archive.timeout.total_seconds()
            return HttpFetcher(
                target, blobs, timeout=timeout, timing=timing, rounded_sizes=rounded_sizes
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
    if chosen.skip:
        now = clock()
        skipped = [_skipped(tid, item, url_for(item.path), now, why) for item, why in chosen.skip]
        await asyncio.to_thread(write_records, store, skipped)
        report.skipped += len(skipped)
    if chosen.fetch:
        rounded = chosen.rounded_sizes
        fetcher = make_fetcher(settings, target, blobs, timing=timing, rounded_sizes=rounded)
        allowance = chosen.allowance(target.archive)
        run = Run(store, target, tid, blobs, fetcher, clock, url_for, allowance)
        lock = None
        try:
            lock = await shared(store)  # no gc deletes a body between its put and its row
            await run.run(chosen.fetch)
        finally:
            if lock is not None:
                await asyncio.to_thread(lock.release)
            await fetcher.aclose()
            done = run.counts
            report.archived, report.stored, report.bytes = done.archived, done.stored, done.bytes
            report.skipped += done.skipped
            report.failed = done.failed
            report.sync_seconds = done.sync_seconds
            report.waiting += done.waiting
            report.note = done.stopped or report.note or allowance.note
    report.seconds = time.perf_counter() - t0
    return report


def _plan(store: Store, target: TargetConfig, now: datetime) -> tuple[int, Plan]:
    with store.read() as conn:
        tid = target_id(conn, target.name)
        if held_snapshots(conn, tid):
            return tid, Plan([], [], 0, held=True)
        pending = pending_versions(conn, tid, now)
        used = archived_bytes(conn, tid) if target.archive.quota is not None else 0
        latest = latest_snapshot(conn, tid, applied_only=True)
    chosen = plan(pending, target.archive, used)
    chosen.rounded_sizes = latest is not None and _rounds_sizes(latest.info)
    return tid, chosen


def _rounds_sizes(info: str | None) -> bool:
    """Whether the crawl of a snapshot (its ``info``) saw sizes printed rounded."""
    try:
        facts = json.loads(info or "{}")
    except ValueError:
        return False
    return isinstance(facts, dict) and bool(facts.get("rounded_sizes"))


def _skipped(tid: int, item: Pending, url: str, now: datetime, reason: str) -> Record:
    fetched = Fetched(
        Wanted(item.version_id, item.path, url, item.size, item.mtime_ns), "skipped", now
    )
    fetched.error = reason
    return capture_row(tid, item, fetched, now), None
