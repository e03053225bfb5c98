"""The daily digest job: the day before ``digest_at``, caught up once at start-up, never for
a database that had nothing polled when it was due."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from monitor.config import settings_from_dict
from monitor.daemon.sending import Sender
from monitor.daemon.tasks import Tasks
from monitor.notify.outbox import alert_t
from monitor.store import Store, open_store
from tests.helpers import Clock, make_target, poll, put


def digests(store: Store) -> list[tuple[str, str]]:
    with store.read() as conn:
        rows = conn.execute(select(alert_t.c.kind, alert_t.c.key).order_by(alert_t.c.id))
        return [(r.kind, r.key) for r in rows]


def test_digest_catch_up_and_daily_run(tmp_path: Path) -> None:
    drop = put(tmp_path / "drop", "a.txt").parent
    raw = {
        "timezone": "Europe/Paris",
        "notify": {"digest_at": "08:00"},
        "target": [{"name": "drop", "kind": "local", "path": str(drop)}],
    }
    settings = settings_from_dict(raw, path=tmp_path / "m.toml", environ={})
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    clock = Clock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))  # 10:00 in Paris
    sender = Sender(store, lambda: settings, clock, Tasks())
    try:
        asyncio.run(sender.digest(catch_up=True))
        assert digests(store) == []  # a new install: nothing was polled when it was due
        poll(store, make_target(drop), Clock(clock.now - timedelta(hours=3)))  # 07:00 Paris
        asyncio.run(sender.digest(catch_up=True))
        assert digests(store) == [("digest", "digest:2026-11-23")]
        asyncio.run(sender.digest(catch_up=True))  # a restart: written once only
        assert digests(store) == [("digest", "digest:2026-11-23")]
        clock.now = datetime(2026, 11, 25, 7, 0, 1, tzinfo=UTC)  # the next 08:00 in Paris
        asyncio.run(sender.digest())
        assert digests(store)[-1] == ("digest", "digest:2026-11-24")
    finally:
        store.close()
