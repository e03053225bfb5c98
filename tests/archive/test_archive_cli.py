"""``monitor poll`` archives after recording; ``--no-archive`` skips it; ``monitor verify``."""

from __future__ import annotations

import hashlib
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


def _blob_path(tmp_path: Path, data: bytes, *, older: bool = False) -> Path:
    """Where a blob is: ``ab/<sha256>``, or where an older version kept it (``ab/cd/…``)."""
    sha = hashlib.sha256(data).hexdigest()
    folder = tmp_path / "data" / "blobs" / sha[:2]
    return (folder / sha[2:4] if older else folder) / sha


def test_verify_reports_missing_and_corrupt_blobs(tmp_path: Path, db_url: str, drop: Path) -> None:
    put(drop, "a.txt", b"alpha")
    put(drop, "b.txt", b"bravo")
    put(drop, "c.txt", b"charlie")
    cli = _cli(tmp_path, db_url, drop)
    cli("poll")
    assert cli.json("verify") == []
    everything = cli.json("verify", "--all", "--target", "drop")
    assert sorted(r["status"] for r in everything) == ["ok", "ok", "ok"]
    _blob_path(tmp_path, b"alpha").unlink()
    corrupt = _blob_path(tmp_path, b"bravo")
    corrupt.chmod(0o644)
    corrupt.write_bytes(b"BRAVO")
    stray = b"not recorded"
    _blob_path(tmp_path, stray).parent.mkdir(parents=True)
    _blob_path(tmp_path, stray).write_bytes(stray)
    rows = {r["status"]: r for r in cli.json("verify", code=1)}
    assert set(rows) == {"missing", "corrupt", "unrecorded"}
    assert rows["missing"]["sha256"] == hashlib.sha256(b"alpha").hexdigest()
    assert rows["corrupt"]["found_sha256"] == hashlib.sha256(b"BRAVO").hexdigest()
    result = cli.run("verify")
    assert result.exit_code == 1
    assert "1 ok, 1 missing, 1 corrupt, 1 unrecorded" in result.stderr


def test_archived_lists_captures_with_provenance(tmp_path: Path, db_url: str, drop: Path) -> None:
    put(drop, "docs/a.pdf", b"%PDF-1.4\nbody")
    put(drop, "big.bin", b"x" * 2000)
    cli = _cli(tmp_path, db_url, drop, 'enabled = true\nmax_file_size = "1KB"')
    cli("poll")
    rows = cli.json("archived", "drop")
    assert {r["path"]: r["status"] for r in rows} == {
        "docs/a.pdf": "complete",
        "big.bin": "skipped",
    }
    (pdf,) = cli.json("archived", "drop", "docs", "--status", "complete")
    assert pdf["mime"] == "application/pdf" and pdf["sha256"] and pdf["url"].startswith("file://")
    assert "big.bin" in cli("archived", "drop", "--status", "skipped")
    cli("archived", "drop", "--status", "bogus", code=2)


def test_a_store_of_the_older_layout_verifies(tmp_path: Path, db_url: str, drop: Path) -> None:
    """A store whose blobs an older version kept at ``ab/cd/<sha256>``: verify reads them
    there, a body stored there is not stored again, and a new one goes to ``ab/<sha256>``."""
    put(drop, "a.txt", b"alpha")
    put(drop, "b.txt", b"bravo")
    cli = _cli(tmp_path, db_url, drop)
    cli("poll")
    for data in (b"alpha", b"bravo"):
        older = _blob_path(tmp_path, data, older=True)
        older.parent.mkdir(parents=True)
        _blob_path(tmp_path, data).rename(older)
    assert cli.json("verify") == []
    put(drop, "copy of a.txt", b"alpha")
    put(drop, "c.txt", b"charlie")
    rows = cli.json("poll")
    assert (rows[0]["archive"]["archived"], rows[0]["archive"]["stored"]) == (2, 1)
    assert _blob_path(tmp_path, b"charlie").exists()
    assert not _blob_path(tmp_path, b"alpha").exists()
    _blob_path(tmp_path, b"bravo", older=True).unlink()
    (missing,) = cli.json("verify", code=1)
    assert missing["status"] == "missing"
    assert missing["sha256"] == hashlib.sha256(b"bravo").hexdigest()


def test_verify_reports_a_blob_that_fails_to_read(tmp_path: Path, db_url: str, drop: Path) -> None:
    """A read error past the open (EIO from a failing disk, here from /proc/self/mem) is an
    unreadable blob in the report, not a traceback."""
    put(drop, "a.txt", b"alpha")
    put(drop, "b.txt", b"bravo")
    cli = _cli(tmp_path, db_url, drop)
    cli("poll")
    failing = _blob_path(tmp_path, b"alpha")
    failing.unlink()
    failing.symlink_to("/proc/self/mem")
    rows = cli.json("verify", "--all", code=1)
    statuses = {r["sha256"]: r["status"] for r in rows}
    assert statuses == {
        hashlib.sha256(b"alpha").hexdigest(): "unreadable",
        hashlib.sha256(b"bravo").hexdigest(): "ok",
    }
    (bad,) = [r for r in rows if r["status"] == "unreadable"]
    assert "Input/output error" in bad["detail"]


def test_archived_under_the_root_lists_everything(tmp_path: Path, db_url: str, drop: Path) -> None:
    put(drop, "docs/a.txt", b"alpha")
    put(drop, "b.txt", b"bravo")
    cli = _cli(tmp_path, db_url, drop)
    cli("poll")
    assert {r["path"] for r in cli.json("archived", "drop", "/")} == {"docs/a.txt", "b.txt"}
    assert {r["path"] for r in cli.json("archived", "drop", "/docs/")} == {"docs/a.txt"}
