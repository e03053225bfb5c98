"""``monitor export``: a batch or a day as a zip that verifies with ``sha256sum -c`` elsewhere."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from monitor.store import open_store
from monitor.store import queries as q
from tests.conftest import Cli, write_config
from tests.servers import nginx

HOSTILE = {
    "ep01/notes.txt": b"hello\n",
    "ep01/CON.txt": b"device name\n",
    "ep01/aux": b"another device\n",
    "ep01/a\\b.txt": b"backslash\n",
    "ep01/<script>alert(1)</script>.html": b"<script>alert(1)</script>\n",
    "ep01/x\x01y\x1b[31m.txt": b"control characters\n",
    "ep01/" + "n" * 250 + ".txt": b"long name\n",
    "ep01/Report.txt": b"one\n",
    "ep01/REPORT.txt": b"two\n",
    "ep01/...": b"dots\n",
    "ep01/ trailing. ": b"trailing\n",
    "ep01/bad-\udcff.bin": bytes(range(256)),
    "ep01/missing.bin": b"too big to archive " * 100,
}


def _write(root: Path, rel: str, data: bytes) -> None:
    path = os.path.join(os.fsencode(root), os.fsencode(rel))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as file:
        file.write(data)


@pytest.fixture
def cli(tmp_path: Path, db_url: str, drop: Path) -> Cli:
    """The CLI on a local target "drop" (conftest's folder) that archives."""
    config = write_config(
        tmp_path / "monitor.toml",
        db_url,
        f'[[target]]\nname = "drop"\nkind = "local"\npath = "{drop}"\nsettle = "1h"\n'
        "[target.archive]\nenabled = true\nmax_file_size = 1000\n",
    )
    return Cli(config, CliRunner(env={"COLUMNS": "200"}))


def _new_batch(cli: Cli, drop: Path, files: dict[str, bytes], *poll: str) -> int:
    """Poll (a baseline), add ``files``, poll again (archiving them): the new batch's id."""
    cli("poll", *poll)  # the baseline: opens no batch
    for rel, data in files.items():
        _write(drop, rel, data)
    cli("poll", *poll)
    return int(cli.json("batches")[0]["batch"])


def _sha256sum_elsewhere(archive: Path, elsewhere: Path) -> list[str]:
    """Extract with Info-ZIP's unzip into a fresh folder and run ``sha256sum -c`` there."""
    elsewhere.mkdir()
    subprocess.run(["unzip", "-q", str(archive), "-d", str(elsewhere)], check=True)
    check = subprocess.run(
        ["sha256sum", "--strict", "-c", "SHA256SUMS"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    return check.stdout.splitlines()


def _captures(db_url: str) -> dict[str, dict[str, object]]:
    db = open_store(db_url)
    try:
        with db.read() as conn:
            rows = conn.execute(select(q.capture_t).where(q.capture_t.c.status == "complete"))
            return {r.path: dict(r._mapping) for r in rows}
    finally:
        db.close()


def test_batch_export_verifies_elsewhere_and_outlives_the_server(
    cli: Cli, drop: Path, tmp_path: Path, db_url: str
) -> None:
    batch_id = _new_batch(cli, drop, HOSTILE)  # monitor poll archives them
    out = tmp_path / "exports" / "batch.zip"
    out.parent.mkdir()
    result = cli.run("export", "--batch", str(batch_id), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"{len(HOSTILE) - 1} of {len(HOSTILE)} files" in result.stdout
    assert "1 files are listed but not archived" in result.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["batch.zip"]  # no temp file left

    lines = _sha256sum_elsewhere(out, tmp_path / "elsewhere")
    assert len(lines) == len(HOSTILE) - 1 + 3 and all(line.endswith(": OK") for line in lines)
    extracted = tmp_path / "elsewhere"
    manifest = json.loads((extracted / "manifest.json").read_text("utf-8"))
    assert manifest["target"]["name"] == "drop" and manifest["batch"]["id"] == batch_id
    assert manifest["summary"] == {
        "files": len(HOSTILE),
        "archived": len(HOSTILE) - 1,
        "missing": 1,
        "bytes": sum(len(d) for p, d in HOSTILE.items() if p != "ep01/missing.bin"),
    }
    captures = _captures(db_url)
    by_path = {f["path"]: f for f in manifest["files"]}
    assert set(by_path) == set(HOSTILE)
    for path, item in by_path.items():
        if path == "ep01/missing.bin":
            assert item["archived"] is False and item["name"] is None
            assert "skipped by the archive rules" in item["missing"]
            assert "max_file_size" in item["missing"]
            continue
        capture = captures[path]
        assert item["sha256"] == capture["sha256"]
        assert item["capture"]["url"] == capture["url"]
        assert item["capture"]["id"] == capture["id"]
        assert item["capture"]["fetched_at"] is not None
        assert item["size"] == capture["size"] == len(HOSTILE[path])
        assert (extracted / item["name"]).read_bytes() == HOSTILE[path]
    names = [f["name"] for f in manifest["files"] if f["name"]]
    assert len({n.casefold() for n in names}) == len(names)
    assert all(n.startswith("files/ep01/") and ".." not in n.split("/") for n in names)

    listing = list(csv.DictReader(io.StringIO((extracted / "listing.csv").read_text("utf-8"))))
    assert len(listing) == len(HOSTILE)
    assert {r["archived"] for r in listing} == {"yes", "no"}
    readme = (extracted / "README.txt").read_text("utf-8")
    assert "sha256sum -c SHA256SUMS" in readme and "ep01/missing.bin: skipped" in readme
    assert "\x1b" not in readme and "\x01" not in readme

    # The server deletes everything; the package is still made, from the archive.
    shutil.rmtree(drop / "ep01")
    cli("poll")
    again = tmp_path / "again.zip"
    cli("export", "--batch", str(batch_id), "--out", str(again))
    assert len(_sha256sum_elsewhere(again, tmp_path / "elsewhere2")) == len(lines)


def test_python_extraction_writes_nothing_outside(cli: Cli, drop: Path, tmp_path: Path) -> None:
    batch_id = _new_batch(cli, drop, HOSTILE)
    out = tmp_path / "batch.zip"
    cli("export", "--batch", str(batch_id), "--out", str(out))
    dest = tmp_path / "x" / "dest"
    dest.mkdir(parents=True)
    with zipfile.ZipFile(out) as zf:
        members = zf.namelist()
        for info in zf.infolist():
            assert info.external_attr >> 16 == 0o644  # nothing executable
        zf.extractall(dest)
    assert not [p for p in (tmp_path / "x").iterdir() if p != dest]
    assert {m.split("/")[0] for m in members} == {
        "files",
        "manifest.json",
        "listing.csv",
        "README.txt",
        "SHA256SUMS",
    }
    written = [p for p in dest.rglob("*") if p.is_file()]
    assert len(written) == len(HOSTILE) - 1 + 4
    assert all(p.resolve().is_relative_to(dest.resolve()) for p in written)


def test_out_is_never_overwritten_without_force(cli: Cli, drop: Path, tmp_path: Path) -> None:
    batch_id = _new_batch(cli, drop, {"ep01/a.txt": b"a"})
    out = tmp_path / "batch.zip"
    out.write_bytes(b"precious")
    result = cli.run("export", "--batch", str(batch_id), "--out", str(out))
    assert result.exit_code == 2 and "--force" in result.stderr
    assert out.read_bytes() == b"precious"
    cli("export", "--batch", str(batch_id), "--out", str(out), "--force")
    assert zipfile.is_zipfile(out)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_nothing_archived_is_an_error_and_writes_nothing(
    cli: Cli, drop: Path, tmp_path: Path
) -> None:
    files = {"ep01/a.txt": b"a", "ep01/b.txt": b"b"}
    batch_id = _new_batch(cli, drop, files, "--no-archive")
    out = tmp_path / "batch.zip"
    result = cli.run("export", "--batch", str(batch_id), "--out", str(out))
    assert result.exit_code == 1
    assert "none of the 2 files" in result.stderr and "not captured yet" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".batch.zip.*"))


def test_usage_errors(cli: Cli, tmp_path: Path) -> None:
    out = str(tmp_path / "x.zip")
    assert cli.run("export", "--out", out).exit_code == 2
    assert cli.run("export", "--day", "today", "--out", out).exit_code == 2
    assert cli.run("export", "--batch", "1", "--day", "today", "--out", out).exit_code == 2
    assert cli.run("export", "--batch", "999", "--out", out).exit_code == 1


def test_day_export_holds_the_days_added_and_modified_files(
    cli: Cli, drop: Path, tmp_path: Path
) -> None:
    _write(drop, "old.txt", b"from before")
    cli("poll")
    _write(drop, "ep02/new.txt", b"new today")
    _write(drop, "old.txt", b"changed today, a longer body")
    cli("poll")
    out = tmp_path / "day.zip"
    cli("export", "--day", "today", "--target", "drop", "--out", str(out))
    lines = _sha256sum_elsewhere(out, tmp_path / "elsewhere")
    assert len(lines) == 2 + 3
    manifest = json.loads((tmp_path / "elsewhere" / "manifest.json").read_text("utf-8"))
    changes = {f["path"]: f["change"] for f in manifest["files"]}
    # The first poll today was a baseline: old.txt was added today too, then modified.
    assert changes == {"ep02/new.txt": "added", "old.txt": "added"}
    body = (tmp_path / "elsewhere" / "files" / "old.txt").read_bytes()
    assert body == b"changed today, a longer body"
    assert manifest["day"]["timezone"] == "Europe/Paris"


def test_a_batch_seen_on_nginx_outlives_the_server(tmp_path: Path) -> None:
    """Issue 5's "done when": a batch from a real HTTP server, exported, verified elsewhere,
    and still exportable after the server deleted the files."""
    www = tmp_path / "www"
    www.mkdir()
    files = {
        "day12/instructions.txt": b"step 1\nstep 2\n",
        "day12/results.csv": b"a,b\n1,2\n",
        "day12/scan.bin": os.urandom(300_000),
    }
    with nginx(www, tmp_path / "nginx") as base:
        config = write_config(
            tmp_path / "monitor.toml",
            f"sqlite:///{tmp_path / 'm.db'}",
            f'[[target]]\nname = "web"\nkind = "http"\nurl = "{base}/"\nrate = 1000\n'
            "[target.archive]\nenabled = true\n",
        )
        cli = Cli(config, CliRunner(env={"COLUMNS": "200"}))
        batch_id = _new_batch(cli, www, files)
        shutil.rmtree(www / "day12")
        cli("poll")
    (polled,) = cli.json("snapshots", "web", "--limit", "1")
    assert polled["removed"] == 4  # the server deleted the three files and their folder
    out = tmp_path / "evidence.zip"
    cli("export", "--batch", str(batch_id), "--out", str(out))
    lines = _sha256sum_elsewhere(out, tmp_path / "elsewhere")
    assert len(lines) == 3 + 3 and all(line.endswith(": OK") for line in lines)
    manifest = json.loads((tmp_path / "elsewhere" / "manifest.json").read_text("utf-8"))
    for item in manifest["files"]:
        body = (tmp_path / "elsewhere" / item["name"]).read_bytes()
        assert body == files[item["path"]]
        capture = item["capture"]
        assert capture["url"] == f"{base}/{item['path']}"
        assert capture["http_status"] == 200 and capture["ip"] == "127.0.0.1"
        assert capture["headers"]["server"].startswith("nginx")


def test_big_files_stream_through_in_flat_memory(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    config = write_config(
        tmp_path / "monitor.toml",
        f"sqlite:///{tmp_path / 'm.db'}",
        f'[[target]]\nname = "drop"\nkind = "local"\npath = "{drop}"\n'
        "[target.archive]\nenabled = true\n",
    )
    cli = Cli(config, CliRunner())
    size = 48 * 2**20
    chunk = os.urandom(2**20)
    cli("poll")
    with open(drop / "big.bin", "wb") as file:
        for _ in range(size // len(chunk)):
            file.write(chunk)
    cli("poll")
    batch_id = int(cli.json("batches")[0]["batch"])
    out = tmp_path / "big.zip"
    tracemalloc.start()
    try:
        cli("export", "--batch", str(batch_id), "--out", str(out))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * 2**20, f"peak {peak} bytes for a {size}-byte file"
    with zipfile.ZipFile(out) as zf:
        assert zf.getinfo("files/big.bin").file_size == size


def test_a_corrupt_blob_stops_the_export(cli: Cli, drop: Path, tmp_path: Path) -> None:
    from monitor.archive.blobs import LocalBlobStore, open_blob_store
    from monitor.config import load_settings

    batch_id = _new_batch(cli, drop, {"ep01/a.txt": b"the original"})
    blobs = open_blob_store(load_settings(cli.config))
    assert isinstance(blobs, LocalBlobStore)
    path = blobs.path_of(hashlib.sha256(b"the original").hexdigest())
    path.chmod(0o600)
    path.write_bytes(b"the tampered")
    out = tmp_path / "batch.zip"
    result = cli.run("export", "--batch", str(batch_id), "--out", str(out))
    assert result.exit_code == 1 and "monitor verify" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".batch.zip.*"))


def test_names_unzip_would_cut_as_vms_versions_verify_elsewhere(
    cli: Cli, drop: Path, tmp_path: Path
) -> None:
    """Info-ZIP's unzip drops a trailing ``;`` and digits (a VMS version): "report.txt;1"
    would land on "report.txt", and its SHA256SUMS line would not verify."""
    files = {
        "ep01/report.txt": b"the report\n",
        "ep01/report.txt;1": b"its first version\n",
        "ep01/notes;": b"notes\n",
        "ep01/v;2/plan;12": b"plan\n",
    }
    batch_id = _new_batch(cli, drop, files)
    out = tmp_path / "batch.zip"
    cli("export", "--batch", str(batch_id), "--out", str(out))
    extracted = tmp_path / "elsewhere"
    lines = _sha256sum_elsewhere(out, extracted)
    assert len(lines) == len(files) + 3 and all(line.endswith(": OK") for line in lines)
    manifest = json.loads((extracted / "manifest.json").read_text("utf-8"))
    for item in manifest["files"]:
        assert (extracted / item["name"]).read_bytes() == files[item["path"]]


def test_a_hostile_batch_folder_gives_a_clean_readme(cli: Cli, drop: Path, tmp_path: Path) -> None:
    """The batch's folder is a server name: undecodable bytes and escape sequences in it
    must neither stop the export nor reach README.txt raw."""
    folder = "ep\udcff\x1b[2J\u202e"
    batch_id = _new_batch(cli, drop, {f"{folder}/a.txt": b"a\n"})
    out = tmp_path / "batch.zip"
    result = cli.run("export", "--batch", str(batch_id), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\u202e" not in result.output
    extracted = tmp_path / "elsewhere"
    assert len(_sha256sum_elsewhere(out, extracted)) == 1 + 3
    readme = (extracted / "README.txt").read_text("utf-8")
    assert "ep\\xff\\x1b[2J\\u202e" in readme.splitlines()[0]
    assert "\x1b" not in readme and "\u202e" not in readme
    manifest = json.loads((extracted / "manifest.json").read_text("utf-8"))
    assert manifest["batch"]["folder"] == folder  # the manifest keeps the name exact


def test_a_blob_that_fails_to_read_stops_the_export_and_says_so(
    cli: Cli, drop: Path, tmp_path: Path
) -> None:
    """A read error in the blob store (EIO, here from /proc/self/mem) names the blob and
    monitor verify, not the output file."""
    from monitor.archive.blobs import LocalBlobStore, open_blob_store
    from monitor.config import load_settings

    batch_id = _new_batch(cli, drop, {"ep01/a.txt": b"the original"})
    blobs = open_blob_store(load_settings(cli.config))
    assert isinstance(blobs, LocalBlobStore)
    path = blobs.path_of(hashlib.sha256(b"the original").hexdigest())
    path.unlink()
    path.symlink_to("/proc/self/mem")
    out = tmp_path / "batch.zip"
    result = cli.run("export", "--batch", str(batch_id), "--out", str(out))
    assert result.exit_code == 1, result.output
    assert "cannot read blob" in result.stderr and "monitor verify" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".batch.zip.*"))
