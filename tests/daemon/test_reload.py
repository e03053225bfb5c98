"""Config reload without a restart: by editing the file (replaced or rewritten) and by SIGHUP;
an invalid config is logged and the running one stays; a new database waits for a restart."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from tests.archive.servers import FileServer
from tests.daemon.conftest import (
    DaemonProcess,
    at,
    http_target,
    local_target,
    snapshots,
    write,
)
from tests.helpers import put

Start = Callable[..., DaemonProcess]


def test_edits_add_remove_and_reschedule_targets(
    tmp_path: Path, sqlite_url: str, daemons: Start
) -> None:
    folders = {name: put(tmp_path / name, "f.txt").parent for name in "abc"}
    config = tmp_path / "m.toml"
    write(
        config,
        sqlite_url,
        local_target("a", folders["a"], "0.3s") + local_target("b", folders["b"], "0.3s"),
    )
    daemon = daemons(config, tmp_path / "log")
    daemon.wait_polls(2, "a")
    daemon.wait_polls(2, "b")
    # An editor's save: a new file renamed over the old one.
    write(
        config,
        sqlite_url,
        local_target("a", folders["a"], "1h") + local_target("c", folders["c"], "0.3s"),
    )
    reload = daemon.wait_for(lambda: daemon.events("reload", status="applied"), what="reload")[0]
    assert (reload["added"], reload["removed"], reload["rescheduled"]) == ("c", "b", "a")
    daemon.wait_polls(3, "c")
    reloaded = at(reload)
    for name in "ab":  # a now polls hourly, b not at all
        assert all(s.started_at < reloaded for s in snapshots(sqlite_url, name)), name
    # Rewritten in place this time: a back to a short interval, c hourly.
    config.write_text(
        config.read_text().replace('every = "1h"', 'every = "X"')
        .replace('every = "0.3s"', 'every = "1h"').replace('every = "X"', 'every = "0.3s"')
    )  # fmt: skip
    daemon.wait_for(lambda: len(daemon.events("reload", status="applied")) == 2, what="reload 2")
    second = at(daemon.events("reload", status="applied")[1])
    daemon.wait_for(
        lambda: sum(1 for s in snapshots(sqlite_url, "a") if s.started_at > second) >= 2,
        what="a polling again",
    )
    assert daemon.stop() == 0
    assert len(daemon.polls("c")) == len(snapshots(sqlite_url, "c"))


def test_invalid_config_keeps_the_old_one_and_sighup_reloads(
    tmp_path: Path, sqlite_url: str, daemons: Start
) -> None:
    drop = put(tmp_path / "drop", "f.txt").parent
    config = write(tmp_path / "m.toml", sqlite_url, local_target("a", drop, "0.3s"))
    daemon = daemons(config, tmp_path / "log")
    daemon.wait_polls(1, "a")
    config.write_text("[[target]\nname = ", encoding="utf-8")
    invalid = daemon.wait_for(lambda: daemon.events("reload", status="invalid"), what="error")
    assert "not valid TOML" in invalid[0]["error"] and str(config) in invalid[0]["error"]
    assert invalid[0]["level"] == "error"
    polled = len(daemon.polls("a"))
    daemon.wait_polls(polled + 2, "a")  # the old config still runs
    write(config, sqlite_url, local_target("a", drop, "0.3s"))
    daemon.wait_for(lambda: daemon.events("reload", status="unchanged"), what="unchanged")
    daemon.send(signal.SIGHUP)
    daemon.wait_for(lambda: len(daemon.events("reload", status="unchanged")) == 2, what="SIGHUP")
    assert daemon.events("reload", reason="SIGHUP")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    write(config, other, local_target("a", drop, "0.3s") + local_target("d", drop, "0.3s"))
    daemon.wait_for(lambda: daemon.events("reload", status="partial"), what="database warning")
    daemon.wait_polls(1, "d")
    assert daemon.stop() == 0
    assert "restart" in daemon.events("reload", status="partial")[0]["reason"]
    assert snapshots(sqlite_url, "d") and not (tmp_path / "other.db").exists()


def test_a_removed_targets_archive_in_flight_stops(
    tmp_path: Path, sqlite_url: str, daemons: Start
) -> None:
    files = {"a.bin": b"a" * 100, "b.bin": b"b" * 100, "c.bin": b"c" * 100}
    with FileServer(files) as server:
        first = server.file_url_path("a.bin")
        server.delays[first] = 30  # the first download hangs (until the server stops)
        archive = "concurrency = 1\n[target.archive]\nenabled = true\n"
        other = local_target("other", put(tmp_path / "other", "f.txt").parent, "1h")
        config = write(
            tmp_path / "m.toml", sqlite_url, http_target("web", server.url, "1h", archive) + other
        )
        daemon = daemons(config, tmp_path / "log")
        daemon.wait_for(lambda: server.count(first) == 1 and server.in_flight, what="download")
        write(config, sqlite_url, other)
        daemon.wait_for(lambda: daemon.events("archive", target="web"), what="the archive stop")
        assert daemon.events("reload", status="applied", removed="web")
        assert daemon.stop() == 0
        asked = [r.path for r in server.requests if not r.path.endswith("/")]
    assert asked == [first]  # nothing fetched after the removal
    (line,) = daemon.events("archive", target="web")
    assert line["error"] == "stopped: the target is no longer in the config"
    assert not daemon.events("abandoning") and "Traceback" not in daemon.text()
