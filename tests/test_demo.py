"""The demo: its drop folder delivers runs the daemon groups into batches, and its config loads."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
import zlib
from datetime import date, timedelta
from pathlib import Path

import httpx
import puremagic

from monitor.config import load_settings
from monitor.demo import TARGET, DemoDrop, demo_config, demo_passwords
from monitor.store import Store
from monitor.store import queries as q
from monitor.web.passwords import verify_password
from tests.helpers import Clock, poll
from tests.servers import free_port, wait_for

DAY = date(2026, 11, 25)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_step_delivers_a_run_of_files(tmp_path: Path) -> None:
    drop = DemoDrop(tmp_path / "drop", DAY)
    line = drop.step()
    files = _tree(drop.root)
    run = "2026-11-25/run-001/"
    assert {"instructions.txt", "results.csv", "preview.png"} <= {
        name.removeprefix(run) for name in files
    }
    assert all(name.startswith(run) for name in files)
    assert line == f"run-001: {len(files)} files"
    assert files[run + "instructions.txt"].startswith(b"Run 1\n")
    rows = files[run + "results.csv"].decode().splitlines()
    assert rows[0] == "item,status,amount" and len(rows) >= 4


def test_the_preview_is_a_valid_png(tmp_path: Path) -> None:
    drop = DemoDrop(tmp_path / "drop", DAY)
    drop.step()
    png = (drop.root / "2026-11-25/run-001/preview.png").read_bytes()
    assert puremagic.from_string(png, mime=True) == "image/png"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (96, 48)
    # the image data inflates to one filter byte and 3 bytes per pixel on each row
    idat_len = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    assert len(zlib.decompress(png[41 : 41 + idat_len])) == height * (1 + 3 * width)


def test_the_drop_is_the_same_for_a_seed_and_changes_and_loses_files(tmp_path: Path) -> None:
    a, b = DemoDrop(tmp_path / "a", DAY, seed=3), DemoDrop(tmp_path / "b", DAY, seed=3)
    lines = [a.step() for _ in range(4)]
    # every fourth run brings a file whose name is not plain ASCII, or has spaces and symbols
    fourth = [n for n in _tree(a.root) if n.startswith("2026-11-25/run-004/")]
    assert any(not n.isascii() or " " in n for n in fourth)
    lines.append(a.step())
    assert lines == [b.step() for _ in range(5)]
    assert _tree(a.root) == _tree(b.root)
    assert "changed " in lines[2] and "removed " in lines[4]
    removed = lines[4].split("removed ")[1]
    assert removed not in _tree(a.root)


def test_the_demo_config_loads_and_polls_into_batches(
    tmp_path: Path, store: Store, clock: Clock
) -> None:
    config = tmp_path / "monitor.toml"
    passwords = demo_passwords()
    assert set(passwords) == {"ana", "ben"} and len(set(passwords.values())) == 2
    text = demo_config(tmp_path, port=18080, every=2, settle=6, passwords=passwords)
    config.write_text(text, encoding="utf-8")
    settings = load_settings(config)
    target = settings.target(TARGET)
    assert target.every == timedelta(seconds=2) and target.settle == timedelta(seconds=6)
    assert target.archive.enabled and target.batch_depth == 2
    web = settings.web
    assert (web.bind, web.port, web.auth) == ("127.0.0.1", 18080, "password")
    assert all(verify_password(passwords[u.name], u.password_hash) for u in web.users)
    assert passwords["ana"] not in text  # only hashes are written

    drop = DemoDrop(tmp_path / "drop", DAY)
    drop.step()
    poll(store, target, clock)  # the baseline: what was there before anyone watched
    drop.step()
    drop.step()
    clock.advance(seconds=2)
    result = poll(store, target, clock)
    assert result.status == "complete" and len(result.batches) == 2
    with store.read() as conn:
        folders = sorted(q.get_batch(conn, b).folder for b in result.batches)
    assert folders == ["2026-11-25/run-002", "2026-11-25/run-003"]


def test_monitor_demo_serves_the_ui_while_batches_arrive_and_stops_on_sigint(
    tmp_path: Path,
) -> None:
    """The newcomer's path: run it, open the URL, see batches arrive; Ctrl-C stops it."""
    port = free_port()
    workspace = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "demo", "--dir", str(workspace), "--port", str(port),
         "--every", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"

        def batches() -> list[dict[str, object]]:
            out = subprocess.run(
                [sys.executable, "-m", "monitor", "--config", str(workspace / "monitor.toml"),
                 "batches", "--format", "json"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            return list(json.loads(out))

        wait_for(lambda: _status(base + "/healthz") == 200, timeout=30, what="the web UI")
        wait_for(lambda: len(batches()) >= 2, timeout=30, what="two batches")
        assert all(b["target"] == TARGET for b in batches())
        assert _status(base + "/") == 303  # to the login page
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    assert f"open http://127.0.0.1:{port}/" in output
    assert "demo drop: run-002" in output
    assert "log in as ana, password " in output and "log in as ben, password " in output
    assert f"workspace kept: {workspace}" in output
    assert (workspace / "data" / "monitor.db").exists()
    # the workspace and its config (password hashes) are its owner's only
    assert workspace.stat().st_mode & 0o777 == 0o700
    assert (workspace / "monitor.toml").stat().st_mode & 0o777 == 0o600


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2, headers={"Accept": "text/html"}).status_code
    except httpx.HTTPError:
        return 0
