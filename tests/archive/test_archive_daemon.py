"""The daemon archives after a poll (and its log line), and logs one ``archive`` line."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from monitor.config import Settings, TargetConfig
from monitor.daemon.polls import Poller
from monitor.daemon.tasks import Slots
from monitor.poll import utc_now
from monitor.store import Store
from monitor.store.queries import register_targets
from tests.archive.helpers import archive_settings, captures
from tests.helpers import put


def test_the_daemon_archives_after_a_poll(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    drop = tmp_path / "drop"
    put(drop, "a.txt", b"alpha")
    put(drop, "b/c.txt", b"gamma")
    settings = archive_settings(tmp_path, {"name": "drop", "kind": "local", "path": drop})
    target = settings.targets[0]
    with store.write() as conn:
        register_targets(conn, [("drop", "local")], utc_now())
    poller = Poller(store, Slots(2), utc_now, lambda: settings)

    async def poll_then_archive() -> object:
        outcome = await poller.poll(target)
        assert outcome is not None and outcome.result is not None
        return await poller.archive(target, outcome)

    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        report = asyncio.run(poll_then_archive())
    assert report is not None
    assert [c.status for c in captures(store)] == ["complete", "complete"]
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("archive ")]
    assert line.startswith("archive target=drop archived=2 bytes=10 skipped=0 failed=0 seconds=")
    assert poller.polling == set() and poller.slots.used == 0


def test_no_settings_or_archive_off_archives_nothing(store: Store, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    put(drop, "a.txt", b"alpha")
    settings = archive_settings(tmp_path, {"name": "drop", "kind": "local", "path": drop})
    off = settings.model_copy(
        update={"targets": [settings.targets[0].model_copy(update={"archive": type(
            settings.targets[0].archive)()})]}
    )  # fmt: skip
    with store.write() as conn:
        register_targets(conn, [("drop", "local")], utc_now())
    for poller, target in [
        (Poller(store, Slots(1), utc_now), settings.targets[0]),
        (Poller(store, Slots(1), utc_now, lambda: off), off.targets[0]),
    ]:

        async def run(poller: Poller = poller, target: object = target) -> object:
            outcome = await poller.poll(target)  # type: ignore[arg-type]
            assert outcome is not None
            return await poller.archive(target, outcome)  # type: ignore[arg-type]

        assert asyncio.run(run()) is None
    assert captures(store) == []


def _one_folder(store: Store, tmp_path: Path) -> tuple[Settings, TargetConfig]:
    """Settings with one local target holding one file, the target registered."""
    drop = tmp_path / "drop"
    put(drop, "a.txt", b"alpha")
    settings = archive_settings(tmp_path, {"name": "drop", "kind": "local", "path": drop})
    with store.write() as conn:
        register_targets(conn, [("drop", "local")], utc_now())
    return settings, settings.targets[0]


def test_a_target_removed_while_it_polls_is_not_archived(store: Store, tmp_path: Path) -> None:
    settings, target = _one_folder(store, tmp_path)
    running = [settings]
    poller = Poller(store, Slots(2), utc_now, lambda: running[0])

    async def poll_then_archive() -> object:
        outcome = await poller.poll(target)
        assert outcome is not None and outcome.result is not None
        running[0] = settings.model_copy(update={"targets": []})  # a reload, meanwhile
        return await poller.archive(target, outcome)

    assert asyncio.run(poll_then_archive()) is None
    assert captures(store) == []
    assert poller.polling == set() and poller.slots.used == 0


def test_a_target_removed_while_its_archive_waits_for_a_slot_is_not_archived(
    store: Store, tmp_path: Path
) -> None:
    settings, target = _one_folder(store, tmp_path)
    running = [settings]
    poller = Poller(store, Slots(1), utc_now, lambda: running[0])

    async def archive_after_a_reload() -> object:
        outcome = await poller.poll(target)
        assert outcome is not None and outcome.result is not None
        assert await poller.slots.acquire()  # another target's poll holds the one slot
        waiting = asyncio.create_task(poller.archive(target, outcome))
        while not poller.slots._waiters:
            await asyncio.sleep(0)
        poller.stop_archive(target.name)  # the reload: removed, nothing in flight yet
        running[0] = settings.model_copy(update={"targets": []})
        poller.slots.release()
        return await waiting

    assert asyncio.run(archive_after_a_reload()) is None
    assert captures(store) == []
    assert poller.polling == set() and poller.slots.used == 0
