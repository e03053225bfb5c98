"""A world for the view tests: one local target on each database, polled at chosen times.

Times are Paris local times (the config's zone): ``world.poll("2026-11-20T10:00")``. The CLI
runs on the same config and database, so a view can be checked against what the CLI says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from monitor.config import Settings, load_settings
from monitor.poll import PollResult
from monitor.store import Store, open_store
from tests.conftest import Cli, write_config
from tests.helpers import Clock, poll

PARIS = ZoneInfo("Europe/Paris")


def paris(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


@dataclass
class World:
    store: Store
    settings: Settings
    cli: Cli
    clock: Clock
    drop: Path

    def poll(self, at: str | None = None, target: str = "drop") -> PollResult:
        if at is not None:
            self.clock.now = paris(at)
        return poll(self.store, self.settings.target(target), self.clock)  # type: ignore[arg-type]


def make_world(tmp_path: Path, db_url: str, drop: Path, clock: Clock, extra: str = "") -> World:
    config = write_config(
        tmp_path / "monitor.toml",
        db_url,
        f'[[target]]\nname = "drop"\nkind = "local"\npath = "{drop}"\n'
        f'settle = "1h"\nsuspect_min_removed = 2\n{extra}\n',
    )
    settings = load_settings(config)
    return World(
        open_store(db_url, upgrade=True),
        settings,
        Cli(config, CliRunner(env={"COLUMNS": "200"})),
        clock,
        drop,
    )


@pytest.fixture
def world(tmp_path: Path, db_url: str, drop: Path, clock: Clock) -> Iterator[World]:
    made = make_world(tmp_path, db_url, drop, clock)
    yield made
    made.store.close()


HOSTILE = "ep02/<img src=x onerror=alert(1)>.png"
CRLF = "ep03/crlf\r\nname.txt"
BAD_BYTES = "ep03/bad\udcff.txt"  # the name's bytes are b"bad\xff.txt"
BACKSLASH = "ep03/back\\slash.txt"


def four_days(world: World) -> None:
    """Polls over 2026-11-20 .. 2026-11-24 (Paris), with every kind of change.

    20th: baseline at 10:00, then three files at 15:00 (one hostile name, one with % and _).
    21st: 09:00 a file modified, one moved, one removed, four added (CR LF, an undecodable
    byte, a backslash); 23:30 one added. 22nd: 00:30 one added (still the 21st in UTC).
    23rd: nothing. 24th: 12:00 one removed.
    """
    from tests.helpers import put

    drop = world.drop
    put(drop, "keep.txt", b"k")
    put(drop, "grow.txt", b"g")
    put(drop, "ep01/old.bin", b"move me", mtime=1_600_000_000)
    put(drop, "gone.txt", b"bye")
    world.poll("2026-11-20T10:00")
    put(drop, "ep01/new1.dat", b"n" * 100)
    put(drop, HOSTILE, b"p" * 50)
    put(drop, "ep02/50%_off.txt", b"o" * 10)
    world.poll("2026-11-20T15:00")
    put(drop, "grow.txt", b"gggg", mtime=1_700_000_009)
    (drop / "ep01/old.bin").rename(drop / "ep01/moved.bin")
    (drop / "gone.txt").unlink()
    put(drop, "ep03/deep/x.PNG", b"x" * 2000, mtime=1_700_000_021)
    put(drop, CRLF, b"abc", mtime=1_700_000_022)
    put(drop, BAD_BYTES, b"badb", mtime=1_700_000_023)
    put(drop, BACKSLASH, b"\\\\", mtime=1_700_000_024)
    world.poll("2026-11-21T09:00")
    put(drop, "ep04/late.txt", b"l" * 5)
    world.poll("2026-11-21T23:30")
    put(drop, "ep04/after-midnight.txt", b"m" * 6)
    world.poll("2026-11-22T00:30")
    (drop / "ep02/50%_off.txt").unlink()
    world.poll("2026-11-24T12:00")
