"""One scheduled poll, in process: the per-target guard, and a poll that raises."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from monitor.daemon.polls import Poller, log_poll
from monitor.daemon.tasks import Slots
from monitor.poll import utc_now
from monitor.store import Store, open_store
from monitor.store.engine import make_engine
from tests.helpers import make_target, put


def test_a_target_never_overlaps_itself(tmp_path: Path) -> None:
    drop = put(tmp_path / "drop", "a.txt").parent
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        poller = Poller(store, Slots(4), utc_now)
        target = make_target(drop)

        async def twice() -> list[object]:
            return list(await asyncio.gather(poller.poll(target), poller.poll(target)))

        first, second = asyncio.run(twice())
        assert first is not None and second is None  # the second found the first running
        assert poller.polling == set() and poller.slots.used == 0
    finally:
        store.close()


def test_a_poll_that_raises_is_a_failure_logged_with_the_target(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    drop = put(tmp_path / "drop", "a.txt").parent
    broken = Store(make_engine(f"sqlite:///{tmp_path / 'm.db'}"))  # no schema: the write fails
    try:
        outcome = asyncio.run(Poller(broken, Slots(1), utc_now).poll(make_target(drop)))
    finally:
        broken.close()
    assert outcome is not None and outcome.failed and outcome.result is None
    assert outcome.error is not None and "database error" in outcome.error
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        log_poll(outcome, failures=1, next_run=None, outbox=None)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("poll target=drop status=error added=0")
    assert 'error="database error' in record.getMessage()
