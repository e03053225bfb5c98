"""The CLI contract: commands, formats, exit codes and the diff JSON shape."""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
import typer.main
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import load_settings
from tests.conftest import Cli
from tests.helpers import put

PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> time_machine.travel:
    return time_machine.travel(datetime.fromisoformat(text).replace(tzinfo=PARIS), tick=False)


def test_poll_then_ls_and_targets(cli: Cli, drop: Path) -> None:
    cli("poll")  # the baseline: an empty folder
    put(drop, "ep01/a.exr", b"aaaa")
    (result,) = cli.json("poll")
    assert (result["target"], result["status"], result["files"], result["added"]) == (
        "drop",
        "complete",
        1,
        2,
    )
    listing = cli.json("ls", "drop")
    assert [(e["path"], e["type"], e["size"]) for e in listing] == [
        ("ep01", "dir", None),
        ("ep01/a.exr", "file", 4),
    ]
    (target,) = cli.json("targets")
    assert (target["target"], target["status"], target["files"], target["open_batches"]) == (
        "drop",
        "complete",
        1,
        1,
    )
    table = cli("ls", "drop")
    assert "ep01/a.exr" in table and "4 B" in table


def test_diff_json_shape(cli: Cli, drop: Path) -> None:
    put(drop, "keep.txt", b"k")
    put(drop, "grow.txt", b"g")
    put(drop, "old.bin", b"move me", mtime=1_600_000_000)
    put(drop, "gone.txt", b"bye")
    with at("2026-11-20T10:00"):
        cli("poll")
    put(drop, "grow.txt", b"gggg", mtime=1_700_000_009)
    (drop / "old.bin").rename(drop / "new.bin")
    (drop / "gone.txt").unlink()
    put(drop, "new/file.txt", b"12345")
    with at("2026-11-20T11:00"):
        cli("poll")
    report = cli.json("diff", "drop", "--from-snapshot", "1", "--to-snapshot", "2")
    assert list(report) == [
        "target",
        "from",
        "to",
        "added",
        "removed",
        "modified",
        "moved",
        "summary",
    ]
    assert report["from"] == {"snapshot": 1, "at": "2026-11-20T10:00:00+01:00"}
    assert report["to"] == {"snapshot": 2, "at": "2026-11-20T11:00:00+01:00"}
    assert report["summary"] == {
        "added": 2,
        "removed": 1,
        "modified": 1,
        "moved": 1,
        "bytes_added": 5,
    }
    added = {e["path"]: e for e in report["added"]}
    assert set(added) == {"new", "new/file.txt"}
    entry = added["new/file.txt"]
    assert list(entry) == ["path", "type", "size", "mtime", "url"]
    assert entry["mtime"] == "2023-11-14T23:13:20.123456+01:00"
    assert unquote_to_bytes(urlsplit(entry["url"]).path) == os.fsencode(drop / "new/file.txt")
    (mod,) = report["modified"]
    assert (mod["path"], mod["before"]["size"], mod["after"]["size"]) == ("grow.txt", 1, 4)
    (moved,) = report["moved"]
    assert (moved["from"], moved["to"], moved["entry"]["size"]) == ("old.bin", "new.bin", 7)
    assert [e["path"] for e in report["removed"]] == ["gone.txt"]


def test_day_diff_uses_configured_time_zone(cli: Cli, drop: Path) -> None:
    put(drop, "a.txt")
    with at("2026-11-20T10:00"):
        cli("poll")
    put(drop, "b.txt")
    with at("2026-11-21T09:00"):
        cli("poll")
    put(drop, "c.txt")
    with at("2026-11-21T23:30"):
        cli("poll")
    put(drop, "d.txt")  # 00:30 in Paris is still the 21st in UTC: it belongs to the 22nd
    with at("2026-11-22T00:30"):
        cli("poll")
        today = cli.json("diff", "drop")
    day = cli.json("diff", "drop", "--day", "2026-11-21")
    assert [e["path"] for e in day["added"]] == ["b.txt", "c.txt"]
    assert (day["from"]["snapshot"], day["to"]["snapshot"]) == (1, 3)
    assert [e["path"] for e in today["added"]] == ["d.txt"]
    since = cli.json("diff", "drop", "--since", "2026-11-21 08:00", "--until", "2026-11-21 10:00")
    assert [e["path"] for e in since["added"]] == ["b.txt"]
    first_day = cli.json("diff", "drop", "--day", "2026-11-20")
    assert first_day["from"] == {"snapshot": None, "at": None}
    assert [e["path"] for e in first_day["added"]] == ["a.txt"]


def test_ls_at_a_past_time_and_history(cli: Cli, drop: Path) -> None:
    f = put(drop, "notes.txt", b"v1")
    with at("2026-11-20T10:00"):
        cli("poll")
    f.write_bytes(b"version 2")
    with at("2026-11-20T12:00"):
        cli("poll")
    past = cli.json("ls", "drop", "--at", "2026-11-20 11:00")
    assert [(e["path"], e["size"]) for e in past] == [("notes.txt", 2)]
    before = cli.json("ls", "drop", "--at", "2026-11-19")
    assert before == []
    hist = cli.json("history", "drop", "notes.txt")
    assert [(h["size"], h["seen"], h["gone"]) for h in hist] == [
        (2, "2026-11-20T10:00:00+01:00", "2026-11-20T12:00:00+01:00"),
        (9, "2026-11-20T12:00:00+01:00", None),
    ]
    cli("history", "drop", "never.txt", code=1)


def test_batches_review_flow(cli: Cli, drop: Path) -> None:
    with at("2026-11-20T09:00"):
        cli("poll")  # the baseline
    put(drop, "ep01/a.exr", b"aa")
    put(drop, "ep01/b.exr", b"bbb")
    with at("2026-11-20T10:00"):
        cli("poll")
    with at("2026-11-20T11:30"):
        cli("poll")
    (b,) = cli.json("batches")
    assert (b["folder"], b["status"], b["review"], b["files"], b["bytes"]) == (
        "ep01",
        "settled",
        "new",
        2,
        5,
    )
    out = cli(
        "review", str(b["batch"]), "--status", "flagged", "--note", "keys inside", "--by", "ana"
    )
    assert "flagged" in out
    detail = cli.json("batch", str(b["batch"]))
    assert [f["path"] for f in detail["files"]] == ["ep01/a.exr", "ep01/b.exr"]
    assert [(e["actor"], e["to_status"], e["note"]) for e in detail["events"]] == [
        ("ana", "flagged", "keys inside")
    ]
    assert cli.json("batches", "--review", "new") == []
    cli("review", str(b["batch"]), "--status", "done", code=2)
    cli("review", "999", "--status", "reviewed", code=1)


def test_snapshots_list_and_accept(cli: Cli, drop: Path) -> None:
    for i in range(3):
        put(drop, f"f{i}")
    cli("poll")
    for i in range(2):
        (drop / f"f{i}").unlink()
    (held,) = cli.json("poll")
    assert held["status"] == "suspect"
    snaps = cli.json("snapshots", "drop")
    assert [(s["snapshot"], s["status"], s["applied"]) for s in snaps] == [
        (2, "suspect", False),
        (1, "complete", True),
    ]
    assert "held" in snaps[0]["detail"]
    assert "accepted" in cli("snapshots", "accept", "2", "--by", "ana")
    assert [e["path"] for e in cli.json("ls", "drop")] == ["f2"]
    cli("snapshots", "accept", "2", code=1)


def test_csv_and_table_escape_hostile_names(cli: Cli, drop: Path) -> None:
    put(drop, "new\nline.txt")
    put(drop, "[bold]markup[red]x")
    put(drop, "=cmd|calc")
    with open(os.fsencode(drop) + b"/bad\xff.bin", "wb"):
        pass
    cli("poll")
    rows = list(csv.DictReader(io.StringIO(cli("ls", "drop", "--format", "csv"))))
    assert [r["path"] for r in rows] == [
        "'=cmd|calc",
        "[bold]markup[red]x",
        "bad\\xff.bin",
        "new\nline.txt",
    ]
    table = cli("ls", "drop")
    assert "new\\nline.txt" in table and "bad\\xff.bin" in table
    assert "[bold]markup[red]x" in table
    listing = cli.json("ls", "drop")
    assert os.fsencode(listing[2]["path"]) == b"bad\xff.bin"
    assert listing[0]["path"] == "=cmd|calc"


def test_poll_failure_exit_code(cli: Cli, drop: Path, tmp_path: Path) -> None:
    put(drop, "a")
    cli("poll")
    drop.rename(tmp_path / "moved-away")
    (result,) = cli.json("poll", code=1)
    assert result["status"] == "failed" and "drop" in result["detail"]
    cli("poll", "nosuch", code=2)
    cli("check", code=1)


def test_check_ok(cli: Cli) -> None:
    (row,) = cli.json("check")
    assert (row["target"], row["status"]) == ("drop", "ok")


def test_init_writes_a_working_config(tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "monitor.toml"
    drop = tmp_path / "incoming"
    result = runner.invoke(app, ["--config", str(config), "init", "--watch", str(drop)])
    assert result.exit_code == 0, result.output
    assert drop.is_dir() and (tmp_path / "monitor-data" / "monitor.db").is_file()
    put(drop, "x.txt")
    cli = Cli(config, runner)
    assert cli.json("poll")[0]["files"] == 1
    cli("init", code=2)
    # the web UI on loopback only, without login
    web = load_settings(config).web
    assert (web.bind, web.port, web.auth) == ("127.0.0.1", 8080, "none")
    assert "http://127.0.0.1:8080/" in result.output


def test_every_command_has_help_ending_with_an_example() -> None:
    group = typer.main.get_command(app)
    commands: list[tuple[str, object]] = []

    def walk(prefix: str, cmd: object) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(f"{prefix} {name}".strip(), sub)
        else:
            commands.append((prefix, cmd))

    walk("", group)
    assert len(commands) >= 13
    for name, cmd in commands:
        text = (getattr(cmd, "help", None) or "").strip()
        assert text.splitlines()[-1].startswith("Example: monitor "), name


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_every_listing_command_takes_format(cli: Cli, drop: Path, fmt: str) -> None:
    cli("poll")
    put(drop, "ep01/a")
    cli("poll")
    for args in (
        ["targets"],
        ["snapshots", "drop"],
        ["ls", "drop"],
        ["diff", "drop"],
        ["history", "drop", "ep01/a"],
        ["batches"],
        ["batch", "1"],
        ["check"],
    ):
        cli(*args, "--format", fmt)


def test_batch_tells_what_became_of_each_file(cli: Cli, drop: Path) -> None:
    cli("poll")
    put(drop, "ep01/keep.exr")
    put(drop, "ep01/change.exr")
    put(drop, "ep01/drop.exr")
    cli("poll")
    (drop / "ep01/drop.exr").unlink()
    put(drop, "ep01/change.exr", b"changed", mtime=1_700_000_999)
    cli("poll")
    (first, *_) = cli.json("batches")[-1:]
    detail = cli.json("batch", str(first["batch"]))
    assert {f["path"]: f["now"] for f in detail["files"]} == {
        "ep01/change.exr": "present",
        "ep01/drop.exr": "gone",
        "ep01/keep.exr": "present",
    }


def test_errors_print_names_literally(cli: Cli) -> None:
    cli("poll")
    result = cli.run("history", "drop", "[/x][bold red]hi")
    assert result.exit_code == 1
    assert "[/x][bold red]hi" in result.stderr and "Traceback" not in result.stderr


def test_bad_times_are_usage_errors(cli: Cli) -> None:
    cli("poll")
    cli("ls", "drop", "--at", "half past nine", code=2)
    cli("diff", "drop", "--day", "2026-13-45", code=2)
    cli("diff", "drop", "--from-snapshot", "0", "--day", "today", code=2)


def test_day_diff_across_a_dst_change(cli: Cli, drop: Path) -> None:
    # Europe/Paris leaves summer time on 2026-10-25: that day has 25 hours.
    put(drop, "a.txt")
    with at("2026-10-24T23:30"):
        cli("poll")
    put(drop, "b.txt")
    with time_machine.travel(datetime.fromisoformat("2026-10-25T02:30+01:00"), tick=False):
        cli("poll")  # the second 02:30 of the night, after the clocks went back
    put(drop, "c.txt")
    with at("2026-10-25T23:59"):
        cli("poll")
    put(drop, "d.txt")
    with at("2026-10-26T00:01"):
        cli("poll")
    day = cli.json("diff", "drop", "--day", "2026-10-25")
    assert [e["path"] for e in day["added"]] == ["b.txt", "c.txt"]
    assert day["from"]["at"] == "2026-10-24T23:30:00+02:00"
    assert day["to"]["at"] == "2026-10-25T23:59:00+01:00"


def test_init_validates_before_writing_and_quotes_paths(tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "sub" / "monitor.toml"
    config.parent.mkdir()
    bad = runner.invoke(app, ["--config", str(config), "init", "--timezone", "Mars/Base"])
    assert bad.exit_code == 2 and not config.exists()
    odd = tmp_path / 'we"ird ${HOME} \\ dir'
    ok = runner.invoke(app, ["--config", str(config), "init", "--watch", str(odd)])
    assert ok.exit_code == 0, ok.output
    (target,) = Cli(config, runner).json("check")
    assert target["status"] == "ok" and odd.is_dir()
