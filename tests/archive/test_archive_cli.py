"""``monitor poll`` archives after recording; ``--no-archive`` skips it; ``monitor verify``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import Cli, write_config
from tests.helpers import put


def _cli(tmp_path: Path, db_url: str, drop: Path, archive: str = "enabled = true") -> Cli:
    config = write_config(
        tmp_path / "monitor.toml",
        db_url,
        f'[[target]]\nname = "drop"\nkind = "local"\npath = "{drop}"\n'
        f"[target.archive]\n{archive}\n",
    )
    return Cli(config, CliRunner(env={"COLUMNS": "200"}))


def test_poll_archives_new_files(tmp_path: Path, db_url: str, drop: Path) -> None:
    put(drop, "a.txt", b"alpha")
    put(drop, "b.bin", b"\x00\x01" * 100)
    cli = _cli(tmp_path, db_url, drop)
    rows = cli.json("poll", "--no-archive")
    assert "archive" not in rows[0]
    rows = cli.json("poll")
    assert rows[0]["archive"]["archived"] == 2
    assert rows[0]["archive"]["bytes"] == 205
    result = cli.run("poll")
    assert result.exit_code == 0
    assert "drop: archived 0 files" in result.stderr
