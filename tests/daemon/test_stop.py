"""Graceful stop: no new poll after SIGTERM, polls in flight finish within the grace period
or are abandoned, never a half snapshot, exit 0."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from monitor.store import open_store
from monitor.store import queries as q
from tests.daemon.conftest import DaemonProcess, http_target, local_target, snapshots, write
from tests.helpers import put
from tests.servers import AutoindexServer

Start = Callable[..., DaemonProcess]


def in_flight(server: AutoindexServer) -> Callable[[], bool]:
    return lambda: server.in_flight == 1


def test_sigterm_lets_the_poll_in_flight_finish(
    tmp_path: Path, sqlite_url: str, daemons: Start
) -> None:
    with AutoindexServer({"a.txt": 1, "b.txt": 2}) as server:
        server.delays[server.prefix] = 0.6
        body = http_target("web", server.url, every="0.2s") + '[daemon]\ngrace = "10s"\n'
        daemon = daemons(write(tmp_path / "m.toml", sqlite_url, body), tmp_path / "log")
        daemon.wait_polls(1)
        daemon.wait_for(in_flight(server), what="a second poll in flight")
        asked = len(server.requests)
        daemon.send(signal.SIGTERM)
        t0 = time.monotonic()
        assert daemon.wait() == 0
        assert time.monotonic() - t0 < 5
        assert len(server.requests) == asked  # no poll started after the signal
    stopping = daemon.events("stopping")
    assert stopping and stopping[0]["in_flight"] == 1 and stopping[0]["signal"] == "SIGTERM"
    stored = snapshots(sqlite_url, "web")
    assert [p["snapshot"] for p in daemon.polls()] == [s.id for s in stored]
    assert len(stored) == 2 and all(s.status == "complete" and s.files == 2 for s in stored)
    assert not daemon.events("abandoning")


def test_grace_expiry_abandons_the_poll_without_a_snapshot(
    tmp_path: Path, sqlite_url: str, daemons: Start
) -> None:
    with AutoindexServer({"a.txt": 1}) as server:
        server.hang("")
        body = http_target("web", server.url, extra='timeout = "20s"') + '[daemon]\ngrace = "1s"\n'
        daemon = daemons(write(tmp_path / "m.toml", sqlite_url, body), tmp_path / "log")
        daemon.wait_for(in_flight(server), what="a poll in flight")
        daemon.send(signal.SIGTERM)
        t0 = time.monotonic()
        assert daemon.wait() == 0
        assert 0.9 < time.monotonic() - t0 < 5
    assert snapshots(sqlite_url, "web") == []
    assert daemon.events("abandoning", in_flight=1)
    assert daemon.events("abandoned", target="web")
    assert not daemon.polls() and daemon.events("stopped", code=0)


def test_second_signal_stops_at_once(tmp_path: Path, sqlite_url: str, daemons: Start) -> None:
    with AutoindexServer({"a.txt": 1}) as server:
        server.hang("")
        body = http_target("web", server.url, extra='timeout = "20s"') + '[daemon]\ngrace = "60s"\n'
        daemon = daemons(write(tmp_path / "m.toml", sqlite_url, body), tmp_path / "log")
        daemon.wait_for(in_flight(server), what="a poll in flight")
        daemon.send(signal.SIGTERM)
        daemon.wait_for(lambda: daemon.events("stopping"), what="the stopping line")
        t0 = time.monotonic()
        daemon.send(signal.SIGINT)
        assert daemon.wait() == 0
        assert time.monotonic() - t0 < 5
    assert snapshots(sqlite_url, "web") == []
    assert daemon.events("hurry", signal="SIGINT") and daemon.events("abandoned", target="web")


def test_stop_while_a_snapshot_is_written_keeps_it_whole(
    tmp_path: Path, sqlite_url: str, daemons: Start
) -> None:
    drop = tmp_path / "drop"
    for i in range(40):
        put(drop, f"d{i % 4}/file-{i:02d}.bin")
    store = open_store(sqlite_url)
    with store.write() as conn:
        q.register_targets(conn, [("big", "local")], datetime.now(UTC))
    store.close()
    body = local_target("big", drop, "1h") + '[daemon]\ngrace = "0s"\n'
    config = write(tmp_path / "m.toml", sqlite_url, body)
    writer = sqlite3.connect(tmp_path / "monitor.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the poll's write waits for this lock
    try:
        daemon = daemons(config, tmp_path / "log", "--log-level", "debug")
        daemon.wait_for(lambda: "big: listed 44 entries" in daemon.text(), what="the listing")
        daemon.send(signal.SIGTERM)  # no grace: the poll is cancelled at once, in its write
        daemon.wait_for(lambda: daemon.events("abandoned", target="big"), what="abandoned")
        assert daemon.proc.poll() is None  # the write still waits: the process waits for it
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert daemon.wait() == 0
    stored = snapshots(sqlite_url, "big")  # written whole before the exit
    assert [(s.status, s.files, s.dirs) for s in stored] == [("complete", 40, 4)]
    last = daemon.lines()[-1]
    assert last["event"] == "stopped" and last["code"] == 0 and not daemon.polls()
