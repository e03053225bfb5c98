"""``monitor run`` polls on schedule, one line each; never overlaps a target; caps polls at
once; backs a failing target off and brings it back to its schedule."""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.daemon.conftest import (
    MONITOR,
    DaemonProcess,
    at,
    http_target,
    local_target,
    snapshots,
    write,
)
from tests.helpers import put
from tests.servers import AutoindexServer

Start = Callable[..., DaemonProcess]


def test_polls_on_schedule_with_one_line_each(
    tmp_path: Path, sqlite_url: str, daemons: Start
) -> None:
    drop = tmp_path / "drop"
    put(drop, "a.txt")
    config = write(tmp_path / "m.toml", sqlite_url, local_target("drop", drop, every="0.5s"))
    daemon = daemons(config, tmp_path / "log")
    first = daemon.wait_polls(1)[0]
    put(drop, "b.txt")
    daemon.wait_polls(3)
    daemon.send(signal.SIGSTOP)  # frozen for 1.5 s: three runs are missed...
    time.sleep(1.5)
    frozen = len(daemon.polls())
    daemon.send(signal.SIGCONT)  # ...and made up by one run, not three
    daemon.wait_polls(frozen + 2)
    assert daemon.stop() == 0
    polls = daemon.polls()
    stored = snapshots(sqlite_url, "drop")
    assert [p["snapshot"] for p in polls] == [s.id for s in stored]  # one line per poll
    assert first["status"] == "complete" and first["files"] == 1 and first["added"] == 1
    assert sum(p["added"] for p in polls) == 2
    for line in polls:
        assert {"target", "status", "added", "removed", "modified", "moved", "files"} <= set(line)
        assert line["seconds"] >= 0 and line["level"] == "info"
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in itertools.pairwise(stored)]
    before, across, after = gaps[: frozen - 1], gaps[frozen - 1], gaps[frozen:]
    assert all(0.35 < g < 0.9 for g in before), gaps
    assert across > 1.4 and all(0.3 < g < 0.9 for g in after), gaps  # coalesced
    assert daemon.events("stopped", code=0)


def test_text_log_and_bad_config(tmp_path: Path, sqlite_url: str) -> None:
    drop = tmp_path / "drop"
    put(drop, "a.txt")
    db = sqlite_url
    config = write(tmp_path / "m.toml", db, local_target("drop", drop))
    log = tmp_path / "log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*MONITOR, "--config", str(config), "run"], stderr=out, stdout=subprocess.DEVNULL
        )
    daemon = DaemonProcess.__new__(DaemonProcess)
    daemon.proc, daemon.log_path = proc, log
    line = re.compile(
        r"\S+ INFO poll target=drop status=complete added=1 removed=0 modified=0 moved=0 "
        r"files=1 seconds=\d+\.\d{3} snapshot=1 outbox=\d+ next=\S+\n"
    )
    try:
        daemon.wait_for(lambda: line.search(log.read_text()), what="a text poll line")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
    write(config, db, '[daemon]\nmax_polls = "many"\n')
    bad = subprocess.run([*MONITOR, "--config", str(config), "run"], capture_output=True, text=True)
    assert bad.returncode == 2 and "daemon.max_polls" in bad.stderr


def test_never_overlaps_a_target_and_caps_polls_at_once(
    tmp_path: Path, sqlite_url: str, daemons: Start
) -> None:
    with AutoindexServer({"a.txt": 1}) as server:
        server.delays[server.prefix] = 0.8  # each poll is one request that takes 0.8 s
        targets = "".join(
            http_target(f"t{i}", server.url, every="0.2s", extra="timeout = '10s'")
            for i in range(3)
        )
        config = write(tmp_path / "m.toml", sqlite_url, targets + "[daemon]\nmax_polls = 2\n")
        daemon = daemons(config, tmp_path / "log")
        daemon.wait_polls(6, timeout=20)
        assert daemon.stop() == 0
        assert server.most_in_flight == 2  # the cap, reached
    spans = []
    for name in ("t0", "t1", "t2"):
        stored = snapshots(sqlite_url, name)
        assert stored and all(s.status == "complete" for s in stored)
        for before, after in itertools.pairwise(stored):
            assert before.finished_at <= after.started_at  # never overlaps itself
        spans += [(s.started_at, s.finished_at) for s in stored]
    for start, _ in spans:  # at most two polls running at any start
        assert sum(1 for s, f in spans if s <= start < f) <= 2
    assert len(daemon.polls()) == sum(len(snapshots(sqlite_url, n)) for n in ("t0", "t1", "t2"))


def test_failing_target_backs_off_then_returns_to_its_schedule(
    tmp_path: Path, sqlite_url: str, daemons: Start
) -> None:
    with AutoindexServer({"a.txt": 1}) as server:
        server.fail("", 500, times=4)  # four failed polls, then the server recovers
        body = http_target("web", server.url, every="0.25s")
        config = write(tmp_path / "m.toml", sqlite_url, body + '[daemon]\nbackoff_max = "1.2s"\n')
        daemon = daemons(config, tmp_path / "log")
        daemon.wait_polls(7, timeout=20)
        daemon.wait_for(lambda: daemon.events("recovered"), what="the recovered line")
        assert daemon.stop() == 0
    polls = daemon.polls()
    assert [p["status"] for p in polls[:5]] == ["failed"] * 4 + ["complete"]
    assert [p.get("failures") for p in polls[:5]] == [1, 2, 3, 4, None]
    assert all("500" in p["error"] for p in polls[:4])
    delays = [(at(p, "next") - at(p)).total_seconds() for p in polls[:4]]
    for got, want in zip(delays, [0.25, 0.5, 1.0, 1.2], strict=True):  # every * 2**(n-1), capped
        assert want - 0.1 < got < want + 0.05, delays
    starts = [s.started_at for s in snapshots(sqlite_url, "web")]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    for got, want in zip(gaps[:4], [0.25, 0.5, 1.0, 1.2], strict=True):
        assert want - 0.1 < got < want + 0.5, gaps
    assert all(g < 0.9 for g in gaps[4:6]), gaps  # back to every 0.25 s (as fast as polls go)
    assert daemon.events("recovered", target="web", after_failures=4)
