"""Helpers of the archive tests: settings with archiving on, running a poll then its archive."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitor.archive.archiver import ArchiveReport, archive_target
from monitor.archive.blobs import BlobStore, open_blob_store
from monitor.config import Settings, TargetConfig
from monitor.poll import PollResult
from monitor.store import Store
from monitor.store.models import Capture
from monitor.store.queries import TABLES
from tests.helpers import Clock, poll
from tests.servers import FakeTiming


def archive_settings(
    tmp_path: Path, target: dict[str, Any], *, store: dict[str, Any] | None = None, **archive: Any
) -> Settings:
    """Settings with one target whose archive is on (``archive`` adds [target.archive] keys;
    ``store`` is the [archive] table)."""
    rules = {"enabled": True, **archive}
    return Settings.model_validate(
        {
            "data_dir": tmp_path / "data",
            "archive": store or {},
            "target": [{**target, "archive": rules}],
        }
    )


def poll_and_archive(
    store: Store, settings: Settings, clock: Clock, blobs: BlobStore | None = None
) -> tuple[PollResult, ArchiveReport]:
    """Poll the first target, then archive it (unless the poll's snapshot is held)."""
    target: TargetConfig = settings.targets[0]
    now = clock()
    result = poll(store, target, clock)  # type: ignore[arg-type]
    if not result.ok:
        return result, ArchiveReport(target.name)
    return result, archive(store, settings, now, blobs)


def archive(
    store: Store, settings: Settings, now: datetime, blobs: BlobStore | None = None
) -> ArchiveReport:
    """Archive the first target at ``now``; backoff sleeps take no time."""
    return asyncio.run(
        archive_target(
            store,
            settings,
            settings.targets[0],
            blobs or open_blob_store(settings),
            clock=lambda: now,
            timing=FakeTiming().timing,
        )
    )


def captures(store: Store) -> list[Capture]:
    with store.read() as conn:
        rows = conn.execute(select(TABLES["capture"]).order_by(TABLES["capture"].c.id))
        return [Capture.model_validate(dict(r._mapping)) for r in rows]
