"""``monitor history TARGET PATH --content``: how an archived body changed, safe to print."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.archive.textdiff import Body, is_textual, step, terminal_safe
from tests.conftest import Cli, write_config

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


class Bodies:
    """An in-memory stand-in for the blob store's read, for the unit tests."""

    def __init__(self, **bodies: bytes) -> None:
        self.bodies = bodies

    def read(self, sha256: str) -> Iterator[bytes]:
        data = self.bodies[sha256]
        for start in range(0, len(data), 4):
            yield data[start : start + 4]


def _body(name: str, data: bytes, mime: str | None = "text/plain") -> Body:
    return Body(f"notes.txt @ {name}", name, len(data), mime)


def test_text_versions_give_a_unified_diff() -> None:
    store = Bodies(a=b"one\ntwo\nthree\n", b=b"one\n2\nthree\n")
    got = step(store, _body("a", store.bodies["a"]), _body("b", store.bodies["b"]))
    assert got.kind == "text"
    assert got.lines[:2] == ["--- notes.txt @ a", "+++ notes.txt @ b"]
    assert "-two" in got.lines and "+2" in got.lines


@pytest.mark.parametrize(
    ("old", "new", "mime", "kind"),
    [
        (b"a\n", b"a\n", "text/plain", "same"),
        (b"a\x00b", b"a\x00c", "application/octet-stream", "binary"),
        (b"\xff\xfe bad utf-8", b"fine", None, "binary"),
        (PNG, PNG + b"x", "image/png", "binary"),
        (b"x" * 50, b"y" * 50, "text/plain", "too large"),
    ],
)
def test_what_cannot_be_diffed_says_why(
    old: bytes, new: bytes, mime: str | None, kind: str
) -> None:
    store = Bodies(a=old, b=new)
    before, after = _body("a", old, mime), _body("b", new, mime)
    if old == new:
        after = before
    got = step(store, before, after, cap=40)
    assert got.kind == kind and got.lines == []
    if kind == "binary":
        assert f"sizes {len(old)} -> {len(new)}" in got.summary and "sha256 a -> b" in got.summary


def test_a_byte_order_mark_added_shows_in_the_diff() -> None:
    """Bodies that differ only by a UTF-8 byte order mark must not give an empty diff."""
    store = Bodies(a=b"one\ntwo\n", b=b"\xef\xbb\xbfone\ntwo\n")
    got = step(store, _body("a", store.bodies["a"]), _body("b", store.bodies["b"]))
    assert got.kind == "text"
    assert "-one" in got.lines and "+\ufeffone" in got.lines
    assert "+\\ufeffone" in [terminal_safe(line) for line in got.lines]


def test_a_version_not_archived() -> None:
    got = step(Bodies(), Body("p @ 1", None, 3, missing="no capture"), _body("b", b"x"))
    assert got.kind == "not archived" and "p @ 1 not archived: no capture" in got.summary


def test_terminal_safe() -> None:
    assert terminal_safe("a\tb") == "a\tb"
    assert terminal_safe("\x1b[2J\r\x07") == "\\x1b[2J\\x0d\\x07"
    assert terminal_safe("\u202eexe.txt") == "\\u202eexe.txt"
    assert is_textual("application/json") and is_textual(None) and not is_textual("image/png")


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    drop = tmp_path / "drop"
    drop.mkdir()
    config = write_config(
        tmp_path / "monitor.toml",
        db_url,
        f'[[target]]\nname = "drop"\nkind = "local"\npath = "{drop}"\n'
        "[target.archive]\nenabled = true\n",
    )
    return Cli(config, CliRunner(env={"COLUMNS": "200"}))


def _versions(cli: Cli, path: str, *bodies: bytes, no_archive: int | None = None) -> None:
    drop = cli.config.parent / "drop"
    for index, body in enumerate(bodies):
        (drop / path).write_bytes(body)
        cli("poll", *(["--no-archive"] if index == no_archive else []))


def test_history_content_of_a_modified_text_file(cli: Cli) -> None:
    hostile = b"line 1\n\x1b[2J\x1b]0;pwned\x07 \xe2\x80\xae evil\nline 3\n"
    _versions(cli, "notes.txt", b"line 1\nline 2\nline 3\n", hostile)
    out = cli("history", "drop", "notes.txt", "--content")
    assert "-line 2" in out and "+\\x1b[2J\\x1b]0;pwned\\x07 \\u202e evil" in out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    report = cli.json("history", "drop", "notes.txt", "--content")
    (change,) = report["changes"]
    assert change["kind"] == "text"
    assert "+\x1b[2J\x1b]0;pwned\x07 \u202e evil" in change["diff"]  # JSON keeps it exact
    assert len(report["versions"]) == 2


def test_history_content_of_a_binary_file(cli: Cli) -> None:
    _versions(cli, "scan.png", PNG, PNG + b"more")
    out = cli("history", "drop", "scan.png", "--content")
    assert f"binary, sizes {len(PNG)} -> {len(PNG) + 4}, sha256 " in out


def test_history_content_says_what_was_not_archived(cli: Cli) -> None:
    _versions(cli, "notes.txt", b"one\n", b"two\n", b"three\n", no_archive=1)
    report = cli.json("history", "drop", "notes.txt", "--content")
    kinds = [c["kind"] for c in report["changes"]]
    assert kinds == ["not archived", "not archived"]
    assert "no capture" in report["changes"][0]["summary"]


def test_history_content_usage(cli: Cli) -> None:
    _versions(cli, "notes.txt", b"one\n")
    assert "nothing to compare" in cli("history", "drop", "notes.txt", "--content")
    assert cli.run("history", "drop", "notes.txt", "--content", "--format", "csv").exit_code == 2


def test_a_body_missing_from_the_store_is_said(cli: Cli) -> None:
    from monitor.archive.blobs import LocalBlobStore, open_blob_store
    from monitor.config import load_settings

    _versions(cli, "notes.txt", b"one\n", b"two\n")
    blobs = open_blob_store(load_settings(cli.config))
    assert isinstance(blobs, LocalBlobStore)
    path = blobs.path_of(hashlib.sha256(b"one\n").hexdigest())
    path.unlink()
    report = cli.json("history", "drop", "notes.txt", "--content")
    (change,) = report["changes"]
    assert change["kind"] == "unreadable" and "is not in" in change["summary"]


def test_a_body_that_fails_to_read_is_said(cli: Cli) -> None:
    """A read error in the blob store (EIO, here from /proc/self/mem) is an unreadable
    change, not a traceback."""
    from monitor.archive.blobs import LocalBlobStore, open_blob_store
    from monitor.config import load_settings

    _versions(cli, "notes.txt", b"one\n", b"two\n")
    blobs = open_blob_store(load_settings(cli.config))
    assert isinstance(blobs, LocalBlobStore)
    path = blobs.path_of(hashlib.sha256(b"one\n").hexdigest())
    path.unlink()
    path.symlink_to("/proc/self/mem")
    report = cli.json("history", "drop", "notes.txt", "--content")
    (change,) = report["changes"]
    assert change["kind"] == "unreadable" and "Input/output error" in change["summary"]
    assert "cannot read an archived body" in cli("history", "drop", "notes.txt", "--content")
