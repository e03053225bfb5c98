"""Safe local names for hostile server paths (monitor.archive.safenames)."""

from __future__ import annotations

import unicodedata
import zipfile
from pathlib import Path

import pytest

from monitor.archive.safenames import MAX_SEGMENT_BYTES, SafeNames, clean_segment

HOSTILE = [
    "../../etc/passwd",
    "/abs",
    "/etc/shadow",
    "a\\b",
    "..\\..\\windows\\win.ini",
    "x\x00y.txt",
    "bell\x07\x1b[31mred",
    "CON.txt",
    "con",
    "aux",
    "Nul.tar.gz",
    "COM1",
    "lpt9.log",
    "conin$",
    "trailing dot.",
    "trailing space ",
    " leading space",
    "..",
    ".",
    "...",
    "a" * 300,
    "a" * 299 + "b",
    "é" * 200 + ".txt",
    "<script>alert(1)</script>.html",
    'q"u:o|t?e*s',
    "\u202egnp.exe",
    "zero\u200bwidth",
    "undecodable-\udcff\udcfe.bin",
    "Readme.txt",
    "README.TXT",
    "caf\u00e9",
    "cafe\u0301",
    "dir/file",
    "DIR/other",
    "dir",
    "deep/" * 40 + "leaf",
]

WINDOWS_DEVICES = {"con", "prn", "aux", "nul", "conin$", "conout$"} | {
    f"{p}{n}" for p in ("com", "lpt") for n in "0123456789¹²³"
}


def _segment_ok(segment: str) -> None:
    assert segment not in ("", ".", "..")
    assert len(segment.encode("utf-8")) <= MAX_SEGMENT_BYTES
    assert not segment.endswith((" ", ".")) and not segment.startswith(" ")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in segment)
    assert not any(c in '<>:"|?*\\/' for c in segment)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in segment)
    assert "\u202e" not in segment and "\u200b" not in segment
    assert segment.split(".")[0].rstrip(" ").lower() not in WINDOWS_DEVICES
    segment.encode("utf-8")  # valid UTF-8


def test_hostile_paths_get_safe_unique_names() -> None:
    names = SafeNames()
    given = {path: names.name_for(path) for path in HOSTILE}
    for path, name in given.items():
        assert not name.startswith("/"), path
        for segment in name.split("/"):
            _segment_ok(segment)
    keys = [unicodedata.normalize("NFC", n).casefold() for n in given.values()]
    assert len(set(keys)) == len(keys), "two paths share a name (ignoring case)"
    folders = {
        "/".join(n.split("/")[:i]).casefold()
        for n in given.values()
        for i in range(1, n.count("/") + 1)
    }
    assert not folders & set(keys), "a name is both a file and a folder"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("../../etc/passwd", "_/_/etc/passwd"),
        ("/abs", "abs"),
        ("a\\b", "a_b"),
        ("x\x00y.txt", "x%00y.txt"),
        ("CON.txt", "_CON.txt"),
        ("aux", "_aux"),
        ("<script>", "_script_"),
        ("undecodable-\udcff.bin", "undecodable-%FF.bin"),
        ("ep02/sc901/notes.txt", "ep02/sc901/notes.txt"),
        ("report.txt;1", "report.txt_1"),  # unzip would cut ";1" off (a VMS version)
        ("notes;", "notes_"),
        ("a;b.txt", "a;b.txt"),
    ],
)
def test_examples(path: str, name: str) -> None:
    assert SafeNames().name_for(path) == name


def test_long_names_are_cut_and_stay_distinct() -> None:
    names = SafeNames()
    one, two = names.name_for("a" * 300 + ".pdf"), names.name_for("a" * 299 + "b.pdf")
    assert one != two
    assert one.endswith(".pdf") and two.endswith(".pdf")
    assert len(one.encode()) <= MAX_SEGMENT_BYTES and "~" in one


def test_collisions_get_a_hash_and_answers_are_stable() -> None:
    names = SafeNames()
    first, second = names.name_for("report.txt"), names.name_for("REPORT.txt")
    assert first == "report.txt"
    assert second.startswith("REPORT~") and second.endswith(".txt")
    assert names.name_for("REPORT.txt") == second
    assert names.name_for("a:b") != names.name_for("a|b")


def test_files_of_one_folder_share_a_folder() -> None:
    names = SafeNames()
    assert names.name_for("Dir/a").rsplit("/", 1)[0] == names.name_for("Dir/b").rsplit("/", 1)[0]
    assert names.name_for("dir/c").split("/")[0] != "Dir"


def test_clean_segment_never_empty() -> None:
    for segment in ["", ".", "..", " ", ". .", "\u202e"]:
        assert clean_segment(segment) not in ("", ".", "..")


def test_python_extraction_stays_inside(tmp_path: Path) -> None:
    names = SafeNames()
    archive = tmp_path / "t.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for index, path in enumerate(HOSTILE):
            zf.writestr("files/" + names.name_for(path), f"{index}\n")
    dest = tmp_path / "out"
    dest.mkdir()
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p == archive or p.is_relative_to(dest / "files") for p in written)
    assert len([p for p in written if p != archive]) == len(HOSTILE)
