"""The local source against real folders: inventory, hostile names, symlinks, failures, rules."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import pytest

import monitor
from monitor.config import LocalTarget
from monitor.errors import ConfigError, RootUnavailable
from monitor.sources import SOURCES, make_source
from monitor.sources.base import FolderFailure, Listing, ProgressCallback
from monitor.sources.local import GlobSet, LocalSource

MTIME_NS = 1_700_000_000_123_456_789  # nanoseconds that a float timestamp would round off
PROJECT_ROOT = Path(monitor.__file__).resolve().parent.parent


def put(path: Path | bytes, size: int = 0, mtime_ns: int = MTIME_NS) -> None:
    """Create a file of ``size`` bytes with an exact mtime (``path`` may be raw bytes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"x" * size)
    finally:
        os.close(fd)
    os.utime(path, ns=(MTIME_NS, mtime_ns))


def source(root: Path, **settings: Any) -> LocalSource:
    return LocalSource(LocalTarget(name="t", kind="local", path=root, **settings))


def run_list(src: LocalSource, progress: ProgressCallback | None = None) -> Listing:
    return asyncio.run(src.list(progress))


def inventory(listing: Listing) -> dict[str, tuple[str, int | None, int | None]]:
    """path → (type, size, mtime_ns), checking there are no duplicate paths and it is sorted."""
    paths = [e.path for e in listing.entries]
    assert paths == sorted(paths)
    assert len(set(paths)) == len(paths)
    return {e.path: (e.type, e.size, e.mtime_ns) for e in listing.entries}


def file(size: int = 0, mtime_ns: int = MTIME_NS) -> tuple[str, int | None, int | None]:
    return ("file", size, mtime_ns)


DIR: tuple[str, int | None, int | None] = ("dir", None, None)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


# --- inventory -----------------------------------------------------------------------------


def test_lists_exact_inventory_with_nested_and_empty_folders(root: Path) -> None:
    put(root / "a.txt", 5, MTIME_NS)
    (root / "sub" / "deeper").mkdir(parents=True)
    put(root / "sub" / "b.bin", 0, MTIME_NS + 1)
    put(root / "sub" / "deeper" / "c.dat", 1000, 1_600_000_000_000_000_001)
    (root / "empty").mkdir()
    (root / "sub" / "empty too").mkdir()

    listing = run_list(source(root))

    assert inventory(listing) == {
        "a.txt": file(5),
        "empty": DIR,
        "sub": DIR,
        "sub/b.bin": file(0, MTIME_NS + 1),
        "sub/deeper": DIR,
        "sub/deeper/c.dat": file(1000, 1_600_000_000_000_000_001),
        "sub/empty too": DIR,
    }
    assert listing.failed_folders == []
    assert listing.skipped == 0
    assert listing.info == {"root": str(root)}


def test_empty_root_lists_nothing(root: Path) -> None:
    listing = run_list(source(root))
    assert (listing.entries, listing.failed_folders, listing.skipped) == ([], [], 0)


HOSTILE_NAMES = [
    "new\nline.txt",
    "ctrl\x01\x1b[31m\t.txt",
    "<script>alert(1)<script>.html",
    "<img src=x onerror=alert(1)>",
    "参考資料.pdf",
    "리테이크_메모.txt",
    "100% #1 ?a=b&c.txt",
    "back\\slash 'quote\" .txt",
    " leading and trailing space ",
    "a" * 251 + ".bin",  # 255 bytes, the longest name ext4 allows
    "가" * 85,  # 255 bytes of UTF-8
]


def test_hostile_names_are_listed_exactly(root: Path) -> None:
    for name in HOSTILE_NAMES:
        put(root / name, len(name))
    (root / "참고자료\n<b>").mkdir()
    put(root / "참고자료\n<b>" / "작업지시.txt", 7)
    put(os.path.join(os.fsencode(root), b"bad\xff.bin"), 3)
    os.mkdir(os.path.join(os.fsencode(root), b"dir\xfe\xc3"))
    put(os.path.join(os.fsencode(root), b"dir\xfe\xc3", b"in\x80side"), 4)

    listing = run_list(source(root))

    expected = {name: file(len(name)) for name in HOSTILE_NAMES}
    expected |= {
        "참고자료\n<b>": DIR,
        "참고자료\n<b>/작업지시.txt": file(7),
        "bad\udcff.bin": file(3),
        "dir\udcfe\udcc3": DIR,
        "dir\udcfe\udcc3/in\udc80side": file(4),
    }
    assert inventory(listing) == expected
    assert os.fsencode("dir\udcfe\udcc3/in\udc80side") == b"dir\xfe\xc3/in\x80side"


def test_url_for_round_trips_the_exact_bytes(root: Path) -> None:
    for name in HOSTILE_NAMES:
        put(root / name)
    put(os.path.join(os.fsencode(root), b"bad\xff.bin"))
    src = source(root)
    listing = run_list(src)
    assert len(listing.entries) == len(HOSTILE_NAMES) + 1

    for entry in listing.entries:
        url = src.url_for(entry.path)
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.query, parts.fragment) == ("file", "", "", "")
        assert unquote_to_bytes(parts.path) == os.fsencode(root / entry.path)
        assert url.isascii() and "\n" not in url and " " not in url
    assert src.url_for("") == root.as_uri()
    assert src.url_for("100% #1 ?a=b&c.txt").endswith("/100%25%20%231%20%3Fa%3Db%26c.txt")


# --- symlinks and special files ------------------------------------------------------------


def test_symlinks_out_of_the_root_are_skipped(tmp_path: Path, root: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    put(outside / "secret.txt", 6)
    put(root / "inside.txt", 1)
    (root / "out-dir").symlink_to(outside)
    (root / "out-file").symlink_to(outside / "secret.txt")
    (root / "escape").symlink_to("../outside/secret.txt")
    (root / "root-sibling").symlink_to("../root-other")  # a prefix of the root, not inside it
    (tmp_path / "root-other").mkdir()

    listing = run_list(source(root))

    assert inventory(listing) == {"inside.txt": file(1)}
    assert listing.skipped == 4
    assert listing.failed_folders == []


def test_symlink_loops_terminate_and_are_skipped(root: Path) -> None:
    (root / "a").mkdir()
    put(root / "a" / "file.txt", 2)
    (root / "a" / "up").symlink_to("..")  # the root: an ancestor
    (root / "a" / "self").symlink_to(".")  # a itself
    (root / "x").mkdir()
    (root / "y").mkdir()
    put(root / "x" / "fx", 1)
    put(root / "y" / "fy", 3)
    (root / "x" / "to-y").symlink_to("../y")  # x -> y -> x: the second step is a loop
    (root / "y" / "to-x").symlink_to("../x")

    listing = run_list(source(root, max_entries=100))  # a loop would hit the cap and fail fast

    assert inventory(listing) == {
        "a": DIR,
        "a/file.txt": file(2),
        "x": DIR,
        "x/fx": file(1),
        "x/to-y": DIR,
        "x/to-y/fy": file(3),
        "y": DIR,
        "y/fy": file(3),
        "y/to-x": DIR,
        "y/to-x/fx": file(1),
    }
    assert listing.skipped == 4  # a/up, a/self, x/to-y/to-x, y/to-x/to-y
    assert listing.failed_folders == []


def test_symlinks_inside_the_root_are_listed_with_the_target_stat(root: Path) -> None:
    (root / "data").mkdir()
    put(root / "data" / "real.txt", 42, MTIME_NS + 7)
    (root / "link.txt").symlink_to("data/real.txt")
    (root / "abs-link.txt").symlink_to(root / "data" / "real.txt")
    (root / "alias").symlink_to("data")
    os.utime(root / "link.txt", ns=(1, 1), follow_symlinks=False)  # the link's own mtime

    listing = run_list(source(root))

    assert inventory(listing) == {
        "abs-link.txt": file(42, MTIME_NS + 7),
        "alias": DIR,
        "alias/real.txt": file(42, MTIME_NS + 7),
        "data": DIR,
        "data/real.txt": file(42, MTIME_NS + 7),
        "link.txt": file(42, MTIME_NS + 7),
    }
    assert listing.skipped == 0


def test_dangling_and_cyclic_links_are_skipped(root: Path) -> None:
    put(root / "kept", 1)
    (root / "dead").symlink_to("nope")
    (root / "c1").symlink_to("c2")
    (root / "c2").symlink_to("c1")

    listing = run_list(source(root))

    assert inventory(listing) == {"kept": file(1)}
    assert listing.skipped == 3


def test_special_files_are_skipped_never_opened(root: Path) -> None:
    os.mkfifo(root / "pipe")  # opening it for reading would block forever
    (root / "to-pipe").symlink_to("pipe")
    put(root / "kept", 1)

    listing = run_list(source(root))

    assert inventory(listing) == {"kept": file(1)}
    assert listing.skipped == 2


def test_a_root_that_is_a_symlink_is_listed_through_it(tmp_path: Path, root: Path) -> None:
    put(root / "f", 1)
    link = tmp_path / "link-to-root"
    link.symlink_to(root)
    src = source(link)
    listing = run_list(src)
    assert inventory(listing) == {"f": file(1)}
    assert listing.info == {"root": str(link)}
    assert src.url_for("f") == (link / "f").as_uri()


# --- the root and failing folders ----------------------------------------------------------


def test_missing_root_raises_root_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(RootUnavailable) as info:
        run_list(source(missing))
    assert str(info.value) == f"cannot list {missing}: no such folder"
    with pytest.raises(RootUnavailable):
        asyncio.run(source(missing).probe())


def test_dangling_root_link_raises_root_unavailable(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(RootUnavailable, match="no such folder"):
        run_list(source(link))


def test_root_that_is_a_file_raises_root_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "file.txt"
    put(path, 1)
    with pytest.raises(RootUnavailable) as info:
        run_list(source(path))
    assert str(info.value) == f"cannot list {path}: not a folder"


def test_probe_describes_the_root(root: Path) -> None:
    put(root / "a")
    (root / "b").mkdir()
    assert asyncio.run(source(root).probe()) == f"local folder {root}: 2 entries at the top level"


LIST_IN_CHILD = """
import asyncio, json, os, sys
from pathlib import Path
from monitor.config import LocalTarget
from monitor.errors import RootUnavailable
from monitor.sources.local import LocalSource

root = Path(sys.argv[1])
out = {}
try:
    os.listdir(root / "locked")
    out["locked"] = "readable"
except PermissionError:
    out["locked"] = "denied"

def listing(path):
    return asyncio.run(LocalSource(LocalTarget(name="t", kind="local", path=path)).list())

result = listing(root)
out["entries"] = [[e.path, e.type, e.size] for e in result.entries]
out["failed"] = sorted([f.path, f.reason] for f in result.failed_folders)
out["skipped"] = result.skipped
try:
    listing(root / "locked")
    out["root_error"] = None
except RootUnavailable as exc:
    out["root_error"] = str(exc)
print(json.dumps(out))
"""


def unprivileged_command() -> list[str]:
    """Run as root without the capabilities that let root read any folder."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip(
            "running as root and setpriv (util-linux) is missing: cannot drop root's "
            "DAC override to make a folder unreadable"
        )
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


@contextmanager
def modes(*changes: tuple[Path, int]) -> Iterator[None]:
    for path, mode in changes:
        path.chmod(mode)
    try:
        yield
    finally:
        for path, _ in changes:
            path.chmod(0o755)


def test_unreadable_folders_fail_alone_and_the_rest_is_listed(root: Path) -> None:
    put(root / "ok.txt", 2)
    (root / "sub").mkdir()
    put(root / "sub" / "deep.txt", 4)
    (root / "locked" / "inner").mkdir(parents=True)
    put(root / "locked" / "secret.txt", 1)
    (root / "noexec").mkdir()  # readable but not searchable: names but no stat
    put(root / "noexec" / "hidden.txt", 1)
    command = [*unprivileged_command(), sys.executable, "-c", LIST_IN_CHILD, str(root)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}

    with modes((root / "locked", 0o000), (root / "noexec", 0o644)):
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["locked"] == "denied", "the child could still read the locked folder"
    assert out["entries"] == [
        ["locked", "dir", None],
        ["noexec", "dir", None],
        ["ok.txt", "file", 2],
        ["sub", "dir", None],
        ["sub/deep.txt", "file", 4],
    ]
    assert out["failed"] == [["locked", "permission denied"], ["noexec", "permission denied"]]
    assert out["skipped"] == 0
    assert out["root_error"] == f"cannot list {root / 'locked'}: permission denied"


def test_entries_that_vanish_during_the_walk_are_not_listed(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(root / "kept.txt", 1)
    put(root / "gone.txt", 1)
    (root / "gone-dir").mkdir()
    put(root / "gone-dir" / "f", 1)
    (root / "gone-before-stat").mkdir()
    real_scandir = os.scandir

    @contextmanager
    def scandir(path: str) -> Iterator[list[os.DirEntry[str]]]:
        if path == os.path.realpath(root / "gone-dir"):
            shutil.rmtree(path)  # deleted after its parent was read, before it is
        with real_scandir(path) as scan:
            items = list(scan)
        if path == os.path.realpath(root):
            (root / "gone.txt").unlink()  # deleted between readdir and lstat
            (root / "gone-before-stat").rmdir()
        yield items

    monkeypatch.setattr(os, "scandir", scandir)
    listing = run_list(source(root))

    assert inventory(listing) == {"kept.txt": file(1)}
    assert (listing.failed_folders, listing.skipped) == ([], 0)


def test_a_root_that_vanishes_before_it_is_read_is_unavailable(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_scandir = os.scandir

    def scandir(path: str) -> Any:
        os.rmdir(path)  # gone between the check of the root and its reading
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(RootUnavailable) as info:
        run_list(source(root))
    assert str(info.value) == f"cannot list {root}: no such folder"


class FailingStat:
    """A real directory entry whose ``lstat`` fails with an I/O error (a flaky disk)."""

    def __init__(self, entry: os.DirEntry[str]) -> None:
        self.entry = entry
        self.name = entry.name
        self.path = entry.path

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        return self.entry.is_file(follow_symlinks=follow_symlinks)

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        return self.entry.is_dir(follow_symlinks=follow_symlinks)

    def is_symlink(self) -> bool:
        return self.entry.is_symlink()

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        raise OSError(errno.EIO, "Input/output error", self.path)


def test_a_folder_fails_as_a_whole(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(root / "kept.txt", 1)
    flaky = root / "flaky"
    (flaky / "b-dir").mkdir(parents=True)
    put(flaky / "a-file", 1)
    put(flaky / "b-dir" / "inner", 1)
    os.mkfifo(flaky / "c-fifo")
    put(flaky / "d-bad", 1)
    real_scandir = os.scandir

    @contextmanager
    def scandir(path: str) -> Iterator[list[Any]]:
        with real_scandir(path) as scan:
            items: list[Any] = sorted(scan, key=lambda item: item.name)
        if path == os.path.realpath(flaky):  # a-file, b-dir and c-fifo pass; d-bad fails
            items[-1] = FailingStat(items[-1])
        yield items

    monkeypatch.setattr(os, "scandir", scandir)
    listing = run_list(source(root))

    assert inventory(listing) == {"flaky": DIR, "kept.txt": file(1)}
    assert listing.failed_folders == [FolderFailure("flaky", "input/output error")]
    assert listing.skipped == 0  # c-fifo was counted, then undone with the rest of the folder


# --- include / exclude ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "expected"),
    [
        ("*.tmp", "a.tmp", False, True),
        ("*.tmp", "x/y/a.tmp", False, True),
        ("*.tmp", "a.tmp/b", False, False),
        ("/top.txt", "top.txt", False, True),
        ("/top.txt", "a/top.txt", False, False),
        ("ep*/sc?", "ep01/sc1", True, True),
        ("ep*/sc?", "ep01/sc12", True, False),
        ("ep*/sc?", "x/ep01/sc1", True, False),
        ("ep*/sc?", "ep01/x/sc1", True, False),
        ("**/x", "x", False, True),
        ("**/x", "a/b/x", False, True),
        ("a/**", "a", True, False),
        ("a/**", "a/b/c", False, True),
        ("a/**/b", "a/b", False, True),
        ("a/**/b", "a/x/y/b", False, True),
        ("a/**/b", "a/xb", False, False),
        ("cache/", "cache", True, True),
        ("cache/", "cache", False, False),
        ("cache/", "x/cache", True, True),
        ("/cache/", "x/cache", True, False),
        ("[!a]*", "b.txt", False, True),
        ("[!a]*", "a.txt", False, False),
        ("[*].txt", "*.txt", False, True),
        ("[*].txt", "a.txt", False, False),
        ("[]]", "]", False, True),
        ("[", "[", False, True),
        ("a*b", "a/b", False, False),
        ("*.txt", "line\nbreak.txt", False, True),
        ("?", "\n", False, True),
        ("100%", "100%", False, True),
        ("참고*", "ep/참고자료", True, True),
        ("*", "x/y", False, True),
    ],
)
def test_glob_semantics(pattern: str, path: str, is_dir: bool, expected: bool) -> None:
    globs = GlobSet.from_patterns([pattern], setting="exclude")
    assert globs.matches(path, is_dir=is_dir) is expected


@pytest.mark.parametrize("pattern", ["", "/", "[z-a]"])
def test_bad_glob_patterns_are_config_errors(root: Path, pattern: str) -> None:
    with pytest.raises(ConfigError, match="glob pattern"):
        source(root, exclude=[pattern])


def make_rules_tree(root: Path) -> None:
    put(root / "top.txt", 1)
    put(root / "notes.tmp", 1)
    put(root / "cache", 1)  # a file named like the excluded folders
    (root / "ep01" / "sc001").mkdir(parents=True)
    (root / "ep01" / "cache").mkdir()
    put(root / "ep01" / "top.txt", 1)
    put(root / "ep01" / "sc001" / "a.png", 2)
    put(root / "ep01" / "sc001" / "a.tmp", 2)
    put(root / "ep01" / "cache" / "x.png", 3)
    (root / "ep02").mkdir()
    put(root / "ep02" / "b.png", 4)


def test_exclude_skips_files_and_prunes_folders(root: Path) -> None:
    make_rules_tree(root)
    listing = run_list(source(root, exclude=["*.tmp", "cache/", "/top.txt"]))
    assert inventory(listing) == {
        "cache": file(1),
        "ep01": DIR,
        "ep01/sc001": DIR,
        "ep01/sc001/a.png": file(2),
        "ep01/top.txt": file(1),
        "ep02": DIR,
        "ep02/b.png": file(4),
    }
    assert listing.skipped == 4  # notes.tmp, a.tmp, top.txt, the ep01/cache folder


def test_include_applies_to_files_only(root: Path) -> None:
    make_rules_tree(root)
    listing = run_list(source(root, include=["*.png"]))
    assert inventory(listing) == {
        "ep01": DIR,
        "ep01/cache": DIR,
        "ep01/cache/x.png": file(3),
        "ep01/sc001": DIR,
        "ep01/sc001/a.png": file(2),
        "ep02": DIR,
        "ep02/b.png": file(4),
    }
    assert listing.skipped == 5  # top.txt, notes.tmp, cache, ep01/top.txt, a.tmp


def test_exclude_wins_over_include(root: Path) -> None:
    make_rules_tree(root)
    listing = run_list(source(root, include=["*.png", "/top.txt"], exclude=["ep01/**"]))
    assert inventory(listing) == {
        "ep01": DIR,
        "ep02": DIR,
        "ep02/b.png": file(4),
        "top.txt": file(1),
    }
    assert listing.skipped == 2 + 3  # notes.tmp, cache; ep01/sc001, ep01/cache, ep01/top.txt


# --- limits and progress -------------------------------------------------------------------


def test_max_entries_cuts_the_listing_and_marks_the_root_failed(root: Path) -> None:
    for i in range(5):
        put(root / f"f{i}", i)
    listing = run_list(source(root, max_entries=3))
    assert len(listing.entries) == 3
    assert set(inventory(listing)) < {f"f{i}" for i in range(5)}
    assert listing.failed_folders == [FolderFailure("", "more than 3 entries; raise max_entries")]
    assert listing.skipped == 2


def test_max_entries_equal_to_the_count_is_complete(root: Path) -> None:
    (root / "d").mkdir()
    for i in range(4):
        put(root / "d" / f"f{i}", i)
    listing = run_list(source(root, max_entries=5))
    assert len(listing.entries) == 5
    assert (listing.failed_folders, listing.skipped) == ([], 0)


def test_progress_is_reported_on_the_loop_thread(root: Path) -> None:
    for folder in ("a", "b", "c"):
        (root / folder).mkdir()
        for i in range(900):
            put(root / folder / f"{i:04}.png")
    calls: list[tuple[int, int]] = []
    threads: set[int] = set()

    def progress(entries: int, folders: int) -> None:
        calls.append((entries, folders))
        threads.add(threading.get_ident())

    listing = run_list(source(root), progress)

    assert len(listing.entries) == 2703
    # root (0 entries), a (901), b (1802: reported), c (2703: under 1802 + 1000), then the end
    assert calls == [(1802, 3), (2703, 4)]
    assert threads == {threading.get_ident()}


# --- registry ------------------------------------------------------------------------------


def test_registry_makes_a_local_source(root: Path) -> None:
    target = LocalTarget(name="t", kind="local", path=root)
    assert isinstance(make_source(target), LocalSource)
    assert SOURCES["local"] is LocalSource


def test_registry_rejects_an_unknown_kind(root: Path) -> None:
    target = LocalTarget.model_construct(name="t", kind="gopher", path=root)
    with pytest.raises(ConfigError) as info:
        make_source(target)
    assert str(info.value) == "target 't': unknown source kind 'gopher' (known kinds: local)"
