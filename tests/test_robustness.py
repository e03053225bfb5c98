"""Bad input and bad luck: broken configs, kill -9 mid-poll, two writers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.errors import StoreError
from monitor.poll import record_poll
from monitor.sources.base import Entry, Listing
from monitor.store import open_store
from monitor.store import queries as q
from tests.conftest import write_config
from tests.helpers import Clock, make_target

MONITOR = [sys.executable, "-m", "monitor"]


def run(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MONITOR, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[target]\nname = 1", "not valid TOML"),
        ('[[target]]\nname = "a"\nkind = "local"\npath = "/x"\nfrob = 1', "target[0] (a).frob"),
        ('[defaults]\nsettle = "soon"', "defaults.settle"),
        ('[[target]]\nname = "a"\nkind = "local"\npath = "${NO_SUCH_VAR_X}"', "NO_SUCH_VAR_X"),
        ('timezone = "Mars/Olympus"', "timezone"),
    ],
)
def test_bad_config_exits_2_with_key_path_and_no_traceback(
    tmp_path: Path, text: str, expected: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    result = run("poll", config=config)
    assert result.returncode == 2
    assert expected in result.stderr and str(config) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text('[[target]]\nname = "a"\nkind = "local"\npath = "/tmp"\n')
    missing = run("diff", config=config)
    assert missing.returncode == 2 and "Missing argument" in missing.stderr
    wrong = run("poll", "--format", "yaml", config=config)
    assert wrong.returncode == 2 and "yaml" in wrong.stderr
    assert "Traceback" not in missing.stderr + wrong.stderr


def make_tree(root: Path, files: int) -> None:
    for i in range(files):
        folder = root / f"d{i % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file-{i:05d}.bin").write_bytes(b"")


def test_kill_9_mid_poll_leaves_no_half_snapshot(tmp_path: Path, db_url: str) -> None:
    drop = tmp_path / "drop"
    make_tree(drop, 20_000)
    config = write_config(
        tmp_path / "m.toml", db_url, f'[[target]]\nname = "drop"\nkind = "local"\npath = "{drop}"\n'
    )
    proc = subprocess.Popen(
        [*MONITOR, "--config", str(config), "-v", "poll"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # the log line written inside the poll's transaction
        if "writing" in line and "changes" in line:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    store = open_store(db_url, upgrade=True)
    try:
        with store.read() as conn:
            assert conn.execute(select(func.count()).select_from(q.snapshot_t)).scalar() == 0
            assert conn.execute(select(func.count()).select_from(q.version_t)).scalar() == 0
    finally:
        store.close()
    result = run("poll", "--format", "json", config=config)
    assert result.returncode == 0, result.stderr
    assert '"files": 20000' in result.stdout


def test_second_sqlite_writer_waits_for_the_first(tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    store = open_store(url)
    with store.write() as conn:
        q.register_targets(conn, [("drop", "local")], clock())
    target = make_target(tmp_path)
    listing = Listing([Entry("a", "file", 1, 1)])
    other = open_store(url, busy_timeout=30)
    done = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            record_poll(other, target, listing, started=clock(), now=clock())
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)
        done.set()

    with store.write() as conn:  # the first writer holds the lock...
        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not done.is_set():
            done.wait(0.05)  # ...so the second cannot finish while it does
        assert not done.is_set()
        conn.execute(q.snapshot_t.delete().where(q.snapshot_t.c.id < 0))
    thread.join(timeout=30)
    assert done.is_set() and not errors
    with store.read() as conn:
        assert set(q.current_versions(conn, 1)) == {"a"}


def test_busy_database_fails_with_clear_message(tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    store = open_store(url)
    with store.write() as conn:
        q.register_targets(conn, [("drop", "local")], clock())
    impatient = open_store(url, busy_timeout=0.2)
    with store.write(), pytest.raises(StoreError, match="database is busy"):
        record_poll(
            impatient,
            make_target(tmp_path),
            Listing([Entry("a", "file", 1, 1)]),
            started=clock(),
            now=clock(),
        )
    with store.read() as conn:
        assert q.current_versions(conn, 1) == {}
