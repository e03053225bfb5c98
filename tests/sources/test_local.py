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
from collections.abc import Callable, Iterator
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
from monitor.sources.local import MAX_DEPTH, GlobSet, LocalSource, Rules, Walk

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


def test_symlinks_to_folders_are_never_followed(root: Path) -> None:
    (root / "a").mkdir()
    put(root / "a" / "file.txt", 2)
    (root / "a" / "up").symlink_to("..")  # the root: an ancestor
    (root / "a" / "self").symlink_to(".")  # a itself
    (root / "x").mkdir()
    (root / "y").mkdir()
    put(root / "x" / "fx", 1)
    put(root / "y" / "fy", 3)
    (root / "x" / "to-y").symlink_to("../y")  # a sibling inside the root: not followed either
    (root / "y" / "to-x").symlink_to("../x")

    listing = run_list(source(root, max_entries=100))

    assert inventory(listing) == {
        "a": DIR,
        "a/file.txt": file(2),
        "x": DIR,
        "x/fx": file(1),
        "y": DIR,
        "y/fy": file(3),
    }
    assert listing.skipped == 4  # a/up, a/self, x/to-y, y/to-x
    assert listing.failed_folders == []


def test_symlinks_to_files_inside_the_root_are_listed_with_the_target_stat(root: Path) -> None:
    (root / "data").mkdir()
    put(root / "data" / "real.txt", 42, MTIME_NS + 7)
    (root / "link.txt").symlink_to("data/real.txt")
    (root / "abs-link.txt").symlink_to(root / "data" / "real.txt")
    (root / "alias").symlink_to("data")
    os.utime(root / "link.txt", ns=(1, 1), follow_symlinks=False)  # the link's own mtime

    listing = run_list(source(root))

    assert inventory(listing) == {
        "abs-link.txt": file(42, MTIME_NS + 7),
        "data": DIR,
        "data/real.txt": file(42, MTIME_NS + 7),
        "link.txt": file(42, MTIME_NS + 7),
    }
    assert listing.skipped == 1  # alias: a link to a folder, not followed


def test_dangling_and_cyclic_links_are_skipped(root: Path) -> None:
    put(root / "kept", 1)
    (root / "dead").symlink_to("nope")
    (root / "c1").symlink_to("c2")
    (root / "c2").symlink_to("c1")

    listing = run_list(source(root))

    assert inventory(listing) == {"kept": file(1)}
    assert listing.skipped == 3


def test_a_link_that_cannot_be_resolved_is_skipped_alone(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(root / "data.txt", 4)
    (root / "good").symlink_to("data.txt")
    (root / "flipping").symlink_to("data.txt")
    real_realpath = os.path.realpath

    def realpath(path: Any, *, strict: bool = False) -> Any:
        if os.fspath(path).endswith("/flipping"):  # replaced by a file while being resolved
            raise OSError(errno.EINVAL, "Invalid argument", path)
        return real_realpath(path, strict=strict)

    monkeypatch.setattr(os.path, "realpath", realpath)
    listing = run_list(source(root))

    assert inventory(listing) == {"data.txt": file(4), "good": file(4)}
    assert (listing.failed_folders, listing.skipped) == ([], 1)


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


def same_folder(fd: int, path: Path) -> bool:
    """Whether the descriptor the walk gave ``os.scandir`` is the folder at ``path``."""
    try:
        opened, named = os.stat(fd), os.stat(path)
    except OSError:
        return False
    return (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)


def before_open(monkeypatch: pytest.MonkeyPatch, actions: dict[str, Callable[[], None]]) -> None:
    """Run ``actions[name]`` just before the walk opens a folder called ``name``."""
    real_open = os.open

    def fake_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if isinstance(path, str) and path in actions:
            actions.pop(path)()
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", fake_open)


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
    def scandir(fd: int) -> Iterator[list[os.DirEntry[str]]]:
        with real_scandir(fd) as scan:
            items = list(scan)
        if same_folder(fd, root):
            (root / "gone.txt").unlink()  # deleted between readdir and stat
            (root / "gone-before-stat").rmdir()
        yield items

    monkeypatch.setattr(os, "scandir", scandir)
    # deleted after its parent was read, before it is opened
    before_open(monkeypatch, {"gone-dir": lambda: shutil.rmtree(root / "gone-dir")})
    listing = run_list(source(root))

    assert inventory(listing) == {"kept.txt": file(1)}
    assert (listing.failed_folders, listing.skipped) == ([], 0)


def test_folders_replaced_before_they_are_opened_are_not_listed(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    (outside / "deeper").mkdir(parents=True)
    put(outside / "SECRET", 1)
    put(outside / "deeper" / "SECRET", 1)
    for name in ("to-link", "to-folder", "to-file"):
        (root / name).mkdir()
        put(root / name / "inside", 1)
    put(root / "kept.txt", 1)

    def to_link() -> None:  # the swap of a reviewer's script: a link out of the root
        (root / "to-link").rename(tmp_path / "parked-link")
        (root / "to-link").symlink_to(outside)

    def to_folder() -> None:  # a real folder moved in: a different (st_dev, st_ino)
        (root / "to-folder").rename(tmp_path / "parked-folder")
        (outside / "deeper").rename(root / "to-folder")

    def to_file() -> None:
        (root / "to-file").rename(tmp_path / "parked-file")
        put(root / "to-file", 1)

    before_open(monkeypatch, {"to-link": to_link, "to-folder": to_folder, "to-file": to_file})
    listing = run_list(source(root))

    assert inventory(listing) == {"kept.txt": file(1)}
    assert (listing.failed_folders, listing.skipped) == ([], 0)


def test_a_folder_swapped_with_a_link_out_of_the_root_is_never_entered(
    tmp_path: Path, root: Path
) -> None:
    """A thread swaps ``sub`` between a real folder and a link out of the root while polling."""
    outside = tmp_path / "outside"
    outside.mkdir()
    put(outside / "SECRET", 1)
    (root / "sub").mkdir()
    put(root / "sub" / "inside", 1)
    put(root / "kept", 1)
    parked, link = tmp_path / "parked", tmp_path / "link"
    link.symlink_to(outside)
    swapped, done = threading.Event(), threading.Event()

    def swap() -> None:
        while not done.is_set():
            (root / "sub").rename(parked)
            link.rename(root / "sub")
            (root / "sub").rename(link)
            parked.rename(root / "sub")
            swapped.set()

    async def poll(src: LocalSource, times: int) -> list[Listing]:
        return [await src.list() for _ in range(times)]

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        assert swapped.wait(timeout=10), "the swapping thread did not start"
        listings = asyncio.run(poll(source(root), 1500))
    finally:
        done.set()
        swapper.join(timeout=10)

    seen = {entry.path for listing in listings for entry in listing.entries}
    assert seen <= {"kept", "sub", "sub/inside"}
    assert all(listing.failed_folders == [] for listing in listings)


def test_a_root_that_vanishes_before_it_is_read_is_unavailable(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_scandir = os.scandir

    def scandir(fd: int) -> Any:
        if same_folder(fd, root):
            os.rmdir(root)  # gone between the opening of the root and its reading
        return real_scandir(fd)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(RootUnavailable) as info:
        run_list(source(root))
    assert str(info.value) == f"cannot list {root}: no such folder"


def test_a_root_replaced_during_the_walk_is_unavailable(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "sub").mkdir()
    put(root / "sub" / "f", 1)

    def replace_root() -> None:
        root.rename(tmp_path / "old-root")
        root.mkdir()

    before_open(monkeypatch, {"sub": replace_root})
    with pytest.raises(RootUnavailable) as info:
        run_list(source(root))
    assert str(info.value) == f"cannot list {root}: it was replaced during the listing"


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
    def scandir(fd: int) -> Iterator[list[Any]]:
        with real_scandir(fd) as scan:
            items: list[Any] = sorted(scan, key=lambda item: item.name)
        if same_folder(fd, flaky):  # a-file, b-dir and c-fifo pass; d-bad fails
            items[-1] = FailingStat(items[-1])
        yield items

    monkeypatch.setattr(os, "scandir", scandir)
    listing = run_list(source(root))

    assert inventory(listing) == {"flaky": DIR, "kept.txt": file(1)}
    assert listing.failed_folders == [FolderFailure("flaky", "input/output error")]
    assert listing.skipped == 0  # c-fifo was counted, then undone with the rest of the folder


# --- depth and descriptors ----------------------------------------------------------------


def make_chain(root: Path, names: list[str]) -> None:
    """Nested folders ``names[0]/names[1]/...`` with ``bottom.txt`` (3 bytes) in the last one,
    made by descriptor so that the path may be longer than PATH_MAX."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        out = os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, b"abc")
        os.close(out)
        os.utime("bottom.txt", ns=(MTIME_NS, MTIME_NS), dir_fd=fd)
        os.symlink("bottom.txt", "link", dir_fd=fd)
    finally:
        os.close(fd)


def test_a_tree_deeper_than_path_max_is_listed(root: Path) -> None:
    names = [f"{i:02}" + "d" * 248 for i in range(20)]  # 20 levels of 250 bytes
    make_chain(root, names)
    deepest = "/".join(names)
    assert len(os.fsencode(root / deepest)) > 4096

    listing = run_list(source(root))

    expected = {"/".join(names[: i + 1]): DIR for i in range(len(names))}
    expected[f"{deepest}/bottom.txt"] = file(3)
    assert inventory(listing) == expected
    assert listing.failed_folders == []
    assert listing.skipped == 1  # the link: its path is too long for realpath to resolve


def test_folders_deeper_than_max_depth_fail(root: Path) -> None:
    make_chain(root, ["d"] * (MAX_DEPTH + 2))

    listing = run_list(source(root))

    too_deep = "/".join(["d"] * (MAX_DEPTH + 1))
    assert inventory(listing) == {"/".join(["d"] * n): DIR for n in range(1, MAX_DEPTH + 2)}
    assert listing.failed_folders == [
        FolderFailure(too_deep, f"more than {MAX_DEPTH} folders deep")
    ]


def open_descriptors() -> int:
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("no /proc/self/fd to count open descriptors")
    return len(os.listdir("/proc/self/fd"))


def walk_counting_descriptors(
    root: Path, monkeypatch: pytest.MonkeyPatch, max_entries: int = 100_000
) -> tuple[Walk, int]:
    """Walk synchronously; return the walk and the most descriptors it held open at once."""
    real_scandir = os.scandir
    baseline = open_descriptors()
    peak = 0

    def scandir(fd: int) -> Any:
        nonlocal peak
        peak = max(peak, open_descriptors() - baseline)
        return real_scandir(fd)

    monkeypatch.setattr(os, "scandir", scandir)
    target = LocalTarget(name="t", kind="local", path=root)
    walk = Walk(root, Rules.from_target(target), max_entries)
    try:
        walk.run()
    finally:
        monkeypatch.undo()
        assert open_descriptors() == baseline, "the walk left descriptors open"
    return walk, peak


def test_descriptors_are_one_per_level_at_most(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(300):  # wide: siblings never hold descriptors
        (root / "wide" / f"{i:03}" / "inner").mkdir(parents=True)
    comb = root / "comb"
    for _ in range(40):  # deep, with a side folder at every level: at most one held per level
        (comb / "leaf").mkdir(parents=True)
        comb = comb / "next"

    walk, peak = walk_counting_descriptors(root, monkeypatch)

    assert walk.failed == []
    assert walk.folders == 1 + 1 + 300 * 2 + 40 + 40  # root, wide, its 600, comb's 40 and 40
    assert 1 <= peak <= 1 + 40 + 1  # the root, the comb's levels, the folder being read


def test_descriptors_are_closed_when_the_walk_stops_early(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(10):
        (root / f"{i}" / "a" / "b" / "c").mkdir(parents=True)
        (root / f"{i}" / "a" / "side").mkdir()
        for j in range(5):
            put(root / f"{i}" / "a" / f"f{j}", 1)
    walk, _ = walk_counting_descriptors(root, monkeypatch, max_entries=20)  # cut at the cap
    assert walk.failed == [FolderFailure("", "more than 20 entries; raise max_entries")]

    real_scandir = os.scandir
    target = LocalTarget(name="t", kind="local", path=root)
    walk = Walk(root, Rules.from_target(target), 100_000)

    def scandir(fd: int) -> Any:
        if walk.folders >= 3:
            walk.stop.set()  # the poll is cancelled while the walk holds folders open
        return real_scandir(fd)

    baseline = open_descriptors()
    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(Exception, match="listing cancelled"):
        walk.run()
    monkeypatch.undo()
    assert open_descriptors() == baseline


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
        ("a*b*c", "axbxbyc", False, True),
        ("a*b*c", "axbxbyd", False, False),
        ("*b?*b", "abxcb", False, True),
        ("x**y", "xaay", False, True),
        ("[*]*", "*x", False, True),
        # a run of stars and ? over a long name: answered at once (a backtracking regex
        # tried every way to split the name among the stars, for hours)
        ("*?*?*?*?*?*?*?*?*?*?*?*?Z", "a" * 60, False, False),
        ("*?*?*?*?*?*?*?*?*?*?*?*?Z", "a" * 60 + "Z", False, True),
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
    known = ", ".join(sorted(SOURCES))
    assert str(info.value) == f"target 't': unknown source kind 'gopher' (known kinds: {known})"
