"""``monitor gc``: a dry run by default; age limits per target; blobs nothing names."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import insert, select
from typer.testing import CliRunner

from monitor.store import open_store
from monitor.store import queries as q
from tests.archive.test_export_helpers import archive_current, put_blob, settings_blobs
from tests.conftest import Cli, write_config


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    drop, other = tmp_path / "drop", tmp_path / "other"
    drop.mkdir()
    other.mkdir()
    return drop, other


@pytest.fixture
def cli(tmp_path: Path, db_url: str, folders: tuple[Path, Path]) -> Cli:
    """ "drop" keeps archived versions 1 day after they leave the server; "other" forever."""
    drop, other = folders
    config = write_config(
        tmp_path / "monitor.toml",
        db_url,
        f'[[target]]\nname = "drop"\nkind = "local"\npath = "{drop}"\n'
        '[target.archive]\nenabled = true\nmax_age = "1d"\n'
        f'[[target]]\nname = "other"\nkind = "local"\npath = "{other}"\n'
        "[target.archive]\nenabled = true\n",
    )
    return Cli(config, CliRunner(env={"COLUMNS": "200"}))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _state(db_url: str) -> dict[str, Any]:
    db = open_store(db_url)
    try:
        with db.read() as conn:
            captures = conn.execute(
                select(q.capture_t.c.path, q.capture_t.c.sha256).order_by(q.capture_t.c.id)
            ).all()
            blobs = set(conn.execute(select(q.blob_t.c.sha256)).scalars())
            hashed = conn.execute(
                select(q.version_t.c.path, q.version_t.c.sha256).where(
                    q.version_t.c.sha256.is_not(None)
                )
            ).all()
    finally:
        db.close()
    return {
        "captures": [tuple(r) for r in captures],
        "blobs": blobs,
        "versions": sorted(tuple(r) for r in hashed),
    }


def _setup(cli: Cli, db_url: str, drop: Path, other: Path) -> dict[str, str]:
    (drop / "a.txt").write_bytes(b"version 1")
    (drop / "b.txt").write_bytes(b"shared body")
    (other / "c.txt").write_bytes(b"shared body")
    cli("poll")  # archives them
    (drop / "a.txt").write_bytes(b"version 2, longer")
    (drop / "b.txt").unlink()
    cli("poll", "drop")
    blobs = settings_blobs(cli)
    lonely = put_blob(blobs, b"a body no capture names")
    db = open_store(db_url)
    try:
        with db.write() as conn:
            conn.execute(
                insert(q.blob_t),
                {"sha256": lonely, "size": 23, "stored_at": datetime.now(UTC)},
            )
    finally:
        db.close()
    orphan = put_blob(blobs, b"a body without a row")
    return {
        "v1": _sha(b"version 1"),
        "v2": _sha(b"version 2, longer"),
        "shared": _sha(b"shared body"),
        "lonely": lonely,
        "orphan": orphan,
    }


def _removed(report: dict[str, Any], kind: str) -> set[tuple[Any, ...]]:
    return {(r["path"], r["sha256"]) for r in report["removals"] if r["kind"] == kind}


def test_dry_run_then_apply(cli: Cli, db_url: str, folders: tuple[Path, Path]) -> None:
    drop, other = folders
    h = _setup(cli, db_url, drop, other)
    blobs = settings_blobs(cli)
    before = _state(db_url)

    now = cli.json("gc")  # today nothing is old enough: only the blob nothing names
    assert now["applied"] is False
    assert _removed(now, "capture") == set()
    assert _removed(now, "blob") == {(None, h["lonely"])}
    assert _state(db_url) == before

    with time_machine.travel(datetime.now(UTC) + timedelta(days=2)):
        dry = cli.json("gc")
        assert _state(db_url) == before and blobs.exists(h["lonely"]) and blobs.exists(h["v1"])
        table = cli("gc")
        assert "dry run, would remove: 2 expired captures, 2 blobs" in table
        assert "--apply" in table
        applied = cli.json("gc", "--apply")
    assert _removed(dry, "capture") == {("a.txt", h["v1"]), ("b.txt", h["shared"])}
    # The shared body stays: target "other" still names it.
    assert _removed(dry, "blob") == {(None, h["lonely"]), (None, h["v1"])}
    assert applied["applied"] is True
    assert applied["removals"] == dry["removals"] and applied["errors"] == {}
    assert applied["summary"]["bytes"] == 23 + len(b"version 1")

    after = _state(db_url)
    assert after["captures"] == [("c.txt", h["shared"]), ("a.txt", h["v2"])]
    assert after["blobs"] == {h["shared"], h["v2"]}
    assert after["versions"] == [("a.txt", h["v2"]), ("c.txt", h["shared"])]
    assert not blobs.exists(h["lonely"]) and not blobs.exists(h["v1"])
    assert blobs.exists(h["shared"]) and blobs.exists(h["v2"]) and blobs.exists(h["orphan"])

    with time_machine.travel(datetime.now(UTC) + timedelta(days=2)):
        assert cli.json("gc", "--apply")["removals"] == []


def test_the_current_version_keeps_its_newest_capture(
    cli: Cli, db_url: str, folders: tuple[Path, Path]
) -> None:
    drop, _ = folders
    (drop / "a.txt").write_bytes(b"only version")
    cli("poll", "drop", "--no-archive")
    long_ago = datetime.now(UTC) - timedelta(days=30)
    archive_current(cli, drop, "drop", when=long_ago)
    archive_current(cli, drop, "drop", when=long_ago + timedelta(days=1), again=True)
    report = cli.json("gc", "--apply")
    assert [r["capture"] for r in report["removals"] if r["kind"] == "capture"] == [1]
    assert _removed(report, "blob") == set()  # the newer capture names the same body
    assert _state(db_url)["captures"] == [("a.txt", _sha(b"only version"))]
    assert settings_blobs(cli).exists(_sha(b"only version"))


def test_orphan_bodies_only_when_asked(cli: Cli, db_url: str, folders: tuple[Path, Path]) -> None:
    drop, other = folders
    h = _setup(cli, db_url, drop, other)
    blobs = settings_blobs(cli)
    assert _removed(cli.json("gc"), "orphan") == set()
    assert _removed(cli.json("gc", "--orphans"), "orphan") == {(None, h["orphan"])}
    assert blobs.exists(h["orphan"])
    cli("gc", "--apply", "--orphans")
    assert not blobs.exists(h["orphan"]) and not blobs.exists(h["lonely"])
    assert blobs.exists(h["v1"])  # not expired yet: kept
    assert cli.json("gc", "--orphans")["removals"] == []


def test_csv(cli: Cli, db_url: str, folders: tuple[Path, Path]) -> None:
    drop, other = folders
    h = _setup(cli, db_url, drop, other)
    out = cli("gc", "--format", "csv")
    assert out.splitlines()[0] == "kind,target,path,sha256,size,reason"
    assert h["lonely"] in out
