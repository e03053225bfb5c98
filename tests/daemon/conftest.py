"""``monitor run`` as a real process: start it, read its JSON log, signal it, wait for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from monitor.store import open_store
from monitor.store import queries as q
from monitor.store.models import Snapshot

MONITOR = [sys.executable, "-m", "monitor"]
T = TypeVar("T")


def local_target(name: str, path: Path, every: str = "1s", extra: str = "") -> str:
    return (
        f'[[target]]\nname = "{name}"\nkind = "local"\npath = "{path}"\n'
        f'every = "{every}"\njitter = "0s"\n{extra}\n'
    )


def http_target(name: str, url: str, every: str = "1s", extra: str = "") -> str:
    return (
        f'[[target]]\nname = "{name}"\nkind = "http"\nurl = "{url}"\n'
        f'every = "{every}"\njitter = "0s"\nretries = 0\n{extra}\n'
    )


def write(path: Path, db_url: str, body: str) -> Path:
    """A config file, replaced at once (as editors do: a new file renamed over the old)."""
    text = f'database = "{db_url}"\ndata_dir = "data"\ntimezone = "Europe/Paris"\n{body}'
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


class DaemonProcess:
    """One ``monitor run`` with its log (JSON lines) in a file."""

    def __init__(
        self, config: Path, log: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.log_path = log
        self.started_at = time.monotonic()
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*MONITOR, "--config", str(config), "run", "--log-format", "json", *args],
                stdout=subprocess.DEVNULL,
                stderr=out,
                env={**os.environ, **(env or {})},
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def lines(self) -> list[dict[str, Any]]:
        """Every complete log line, parsed (a line that is not JSON fails the test)."""
        text = self.text()
        complete = text[: text.rfind("\n") + 1]
        parsed = []
        for line in complete.splitlines():
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"not a JSON log line: {line!r}\n{text}") from None
        return parsed

    def events(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines()
            if line.get("event") == event and all(line.get(k) == v for k, v in match.items())
        ]

    def polls(self, target: str | None = None) -> list[dict[str, Any]]:
        return self.events("poll", **({"target": target} if target else {}))

    def wait_for(self, condition: Callable[[], T], *, timeout: float = 15.0, what: str = "it") -> T:
        """Poll ``condition`` until it is truthy; fail (with the log) after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"monitor run exited {self.proc.returncode} while waiting for {what}\n"
                    + self.text()
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.text()}")
            time.sleep(0.02)

    def wait_polls(self, count: int, target: str | None = None, **kw: Any) -> list[dict[str, Any]]:
        return self.wait_for(
            lambda: (p := self.polls(target)) and len(p) >= count and p,
            what=f"{count} polls of {target or 'any target'}",
            **kw,
        )

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"monitor run did not exit in {timeout}s\n{self.text()}") from None

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.send(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    """Start daemons; any still running at the end of the test is killed."""
    started: list[DaemonProcess] = []

    def start(config: Path, log: Path, *args: str, **kw: Any) -> DaemonProcess:
        proc = DaemonProcess(config, log, *args, **kw)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


def snapshots(db_url: str, target: str) -> list[Snapshot]:
    """A target's snapshots, oldest first (none: the target was never registered)."""
    store = open_store(db_url)
    try:
        with store.read() as conn:
            ids = {name: tid for tid, name in q.target_names(conn).items()}
            if target not in ids:
                return []
            rows = conn.execute(
                select(q.snapshot_t)
                .where(q.snapshot_t.c.target_id == ids[target])
                .order_by(q.snapshot_t.c.id)
            )
            return [Snapshot.model_validate(dict(r._mapping)) for r in rows]
    finally:
        store.close()


def at(line: dict[str, Any], key: str = "time") -> datetime:
    return datetime.fromisoformat(line[key])


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """Most daemon tests run on SQLite only: each starts processes, which takes seconds."""
    return f"sqlite:///{tmp_path / 'monitor.db'}"
