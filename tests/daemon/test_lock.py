"""One daemon per database: a second ``monitor run`` exits 1 and says who holds it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.daemon.lock import acquire_lock
from monitor.errors import MonitorError
from tests.daemon.conftest import MONITOR, DaemonProcess, local_target, write
from tests.helpers import put

Start = Callable[..., DaemonProcess]


def test_second_daemon_on_one_sqlite_file_exits_1(
    tmp_path: Path, sqlite_url: str, daemons: Start
) -> None:
    drop = put(tmp_path / "drop", "f.txt").parent
    config = write(tmp_path / "m.toml", sqlite_url, local_target("a", drop, "1h"))
    first = daemons(config, tmp_path / "log")
    first.wait_for(lambda: first.events("started"), what="the first daemon")
    database = tmp_path / "monitor.db"
    assert (tmp_path / "monitor.db.lock").read_text().strip() == str(first.pid)
    second = subprocess.run(
        [*MONITOR, "--config", str(config), "run"], capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 1
    assert f"another monitor run (pid {first.pid}) is using {database}" in second.stderr
    assert "Traceback" not in second.stderr
    with pytest.raises(MonitorError, match=f"pid {first.pid}"):
        acquire_lock(sqlite_url)
    assert first.stop() == 0
    acquire_lock(sqlite_url).release()  # free again once the daemon is gone


def test_one_daemon_per_postgresql_database(tmp_path: Path, pg_url: str, daemons: Start) -> None:
    drop = put(tmp_path / "drop", "f.txt").parent
    config = write(tmp_path / "m.toml", pg_url, local_target("a", drop, "1h"))
    first = daemons(config, tmp_path / "log")
    first.wait_for(lambda: first.events("started"), what="the first daemon")
    with pytest.raises(MonitorError, match=rf"another monitor run \(pid {first.pid}\) is using"):
        acquire_lock(pg_url)
    assert first.stop() == 0
    lock = acquire_lock(pg_url)
    try:
        assert lock.alive()
        with pytest.raises(MonitorError, match=r"another monitor run \(pid \d+\)"):
            acquire_lock(pg_url)
    finally:
        lock.release()
    acquire_lock(pg_url).release()


def test_in_memory_sqlite_needs_no_lock() -> None:
    first, second = acquire_lock("sqlite://"), acquire_lock("sqlite:///:memory:")
    assert first.alive() and second.alive()
