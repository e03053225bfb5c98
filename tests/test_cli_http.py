"""The CLI on an http target served by real nginx: snapshots and check show the server facts."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import Cli, write_config
from tests.helpers import put
from tests.servers import nginx


def test_snapshots_and_check_show_what_the_server_said(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    put(drop, "ep01/a.bin", b"abc")
    put(drop, "top.txt", b"hello")
    with nginx(drop, tmp_path / "nginx") as base:
        config = write_config(
            tmp_path / "monitor.toml",
            f"sqlite:///{tmp_path / 'm.db'}",
            f'[[target]]\nname = "web"\nkind = "http"\nurl = "{base}/"\nrate = 1000\n',
        )
        cli = Cli(config, CliRunner(env={"COLUMNS": "250"}))
        (polled,) = cli.json("poll")
        (check,) = cli.json("check")
        (snap,) = cli.json("snapshots", "web")
        table = cli("snapshots", "web")
    assert (polled["status"], polled["files"], polled["bytes"]) == ("complete", 2, 8)
    assert snap["info"]["server"].startswith("nginx")
    assert (snap["info"]["ip"], snap["info"]["requests"]) == ("127.0.0.1", 2)
    assert snap["info"]["bytes"] > 0
    assert "nginx" in snap["source"] and "2 requests" in snap["source"]
    assert "2 requests" in table
    assert check["status"] == "ok" and "nginx" in check["detail"]
