"""The ``local`` source: a folder on this machine (or a mounted share), walked by descriptor.

The walk is a plain synchronous function run in a worker thread (``asyncio.to_thread``), so a
large tree never blocks the event loop. It is iterative (no recursion limit) and costs one
``fstatat`` per entry; directory types come from ``d_type`` where the file system gives it.

Folders are opened by descriptor, never by path: the root once (symlinks in the root's own path
are followed: it is configuration), then each subfolder by its name relative to its parent's
descriptor with ``O_NOFOLLOW``, and listed with ``os.scandir(fd)``. A folder swapped for a
symlink after its parent was listed therefore cannot be entered, and path length never matters
(trees deeper than ``PATH_MAX`` are listed). Every listed entry was reached from the root
through real folders only (a folder moved out of the root while it is being listed is still
listed under its old path: it was inside when it was opened). The walk is depth first and keeps
the descriptors of the folders above the current one that still have subfolders to read: at most
one per level; a folder more than ``MAX_DEPTH`` levels down is listed but its contents fail (a
:class:`FolderFailure`).

What is listed:

- files, with their size and ``st_mtime_ns`` (full precision);
- directories, with ``size`` and ``mtime_ns`` left ``None``: a directory's mtime changes
  whenever a child does, so only its existence is tracked.

Symlinks are never followed into folders, so no walk can loop or leave the root:

- a link to a regular file inside the resolved root is listed as a file, under the link's own
  path, with the target's size and mtime (resolved with ``os.path.realpath``, checked to be
  inside the root, then ``lstat``-ed; ``include``/``exclude`` see it as a file). Residual race,
  metadata only: a folder on the resolved path swapped for a link out of the root between the
  check and the ``lstat`` can give the listed link the size and mtime of a file outside the
  root, until the next poll; never a name or anything else from outside;
- every other link is skipped and counted in ``skipped``: links to folders (even inside the
  root), links out of the root, dangling links, cycles of links, links to special files, and
  links that cannot be resolved (changed while being resolved, a path too long to resolve).

Special files (fifos, sockets, devices) are skipped and counted; they are never opened.

Failures are data. A folder that cannot be read (it cannot be opened or listed, or one of its
entries cannot be stat'ed) becomes a :class:`FolderFailure` and none of its contents are listed,
so the poll carries its previous entries forward; the walk goes on. A file or folder that
vanishes during the walk is simply not listed; so is a folder that changed under the walk: one
that is a link or a file by the time it is opened, or another folder (its ``(st_dev, st_ino)``
differs from what its parent's listing said). The next poll sees what is there then. Only the
root itself raises :class:`~monitor.errors.RootUnavailable`: missing, not a folder, unreadable,
or no longer the folder that was walked when the walk ends (removed or replaced meanwhile).

``include`` / ``exclude`` (``.gitignore``-like globs, case-sensitive):

- a pattern without ``/`` matches the entry's name at any depth (``*.tmp``, ``.DS_Store``);
- a pattern with ``/`` matches the whole path from the root (``ep01/sc*/retake_*``); a leading
  ``/`` only anchors (``/notes.txt`` is the top-level one); a trailing ``/`` makes the pattern
  match directories only (``cache/``, ``/tmp/``);
- ``*`` and ``?`` stay within one path segment, ``[abc]``/``[!abc]`` are character classes,
  ``**`` as a whole segment matches any number of segments: ``**/x`` (``x`` at any depth),
  ``a/**`` (everything inside ``a``, not ``a`` itself), ``a/**/b``;
- ``exclude`` wins over ``include`` and applies to files and directories: an excluded directory
  is neither listed nor descended into;
- ``include`` applies to files only: when it is not empty, a file is listed only if it matches
  one of its patterns; directories are still walked and listed (prune them with ``exclude``);
- every entry left out by these rules counts once in ``skipped`` (an excluded directory counts
  as one; what is inside it is never seen).

``max_entries``: entries are gathered folder by folder; the folder that crosses the cap is cut at
the cap (the rest of that folder counted in ``skipped``) and the walk stops with a
``FolderFailure("", "more than N entries; raise max_entries")``: ``""`` is the root, so the
snapshot is partial and nothing is reported removed.

Entries come sorted by path.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from stat import S_ISREG

from monitor.config import Defaults, LocalTarget
from monitor.errors import ConfigError, RootUnavailable
from monitor.sources.base import Entry, FolderFailure, Listing, ProgressCallback

#: Report progress after a folder once this many more entries were gathered.
PROGRESS_EVERY = 1000
#: How many folders deep below the root the walk reads; one descriptor stays open per level.
MAX_DEPTH = 256

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_CHILD_FLAGS = _DIR_FLAGS | os.O_NOFOLLOW
#: ``errno`` of opening a subfolder that is no longer one: gone, or now a link (ELOOP; ENOTDIR
#: on Linux with O_DIRECTORY; EMLINK on FreeBSD) or a file.
_REPLACED = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EMLINK})

_Report = Callable[[int, int], None]
_Key = tuple[int, int]
#: A subfolder still to read, as its parent's listing saw it: (name, path from the root,
#: (st_dev, st_ino)).
_Child = tuple[str, str, _Key]


class _Stopped(Exception):
    """The listing was cancelled; the worker thread stops at the next folder."""


def _translate_segment(segment: str) -> str:
    """One path segment of a glob → regex; ``*``, ``?`` and classes never match ``/``.

    Between two ``*`` the regex takes the first place the fixed-length part matches, in an
    atomic group: the same matches, but no backtracking over every way to split a name
    among the stars (``*?*?*?*?*?*?Z`` on a 40-character name took seconds).
    """
    pieces = _segment_pieces(segment)
    if len(pieces) == 1:
        return pieces[0]
    first, *middle, last = pieces
    return first + "".join(f"(?>[^/]*?{piece})" for piece in middle) + "[^/]*" + last


def _segment_pieces(segment: str) -> list[str]:
    """The regexes of a segment's parts between its ``*`` (runs of ``*`` count as one)."""
    pieces: list[str] = []
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        char = segment[i]
        i += 1
        if char == "*":
            if not (pieces and not out and segment[i - 2 : i - 1] == "*"):
                pieces.append("".join(out))
                out = []
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            start = i + 1 if segment[i : i + 1] == "!" else i
            start += 1 if segment[start : start + 1] == "]" else 0
            end = segment.find("]", start)
            if end < 0:
                out.append(re.escape(char))
                continue
            body, i = segment[i:end], end + 1
            negate = body.startswith("!")
            body = re.sub(r"([\\\[\]^&~|])", r"\\\1", body[1:] if negate else body)
            out.append(f"(?!/)[{'^' if negate else ''}{body}]")
        else:
            out.append(re.escape(char))
    pieces.append("".join(out))
    return pieces


def glob_to_regex(pattern: str) -> tuple[str, bool]:
    """A glob (see the module docstring) → (regex for the relative path, directories only)."""
    dirs_only = pattern.endswith("/")
    anchored = "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    if not body:
        raise ConfigError(f"glob pattern {pattern!r} is empty; write a name or a path pattern")
    segments = body.split("/")
    parts: list[str] = [] if anchored else ["(?:.*/)?"]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:.*/)?")
        else:
            parts.append(_translate_segment(segment) + ("" if last else "/"))
    return "".join(parts), dirs_only


def _compile(regexes: Sequence[str]) -> re.Pattern[str] | None:
    if not regexes:
        return None
    return re.compile("|".join(f"(?:{r})" for r in regexes), re.DOTALL)


@dataclass(frozen=True)
class GlobSet:
    """Compiled glob patterns: one regex for files, one for directories."""

    files: re.Pattern[str] | None
    dirs: re.Pattern[str] | None

    @classmethod
    def from_patterns(cls, patterns: Iterable[str], *, setting: str) -> GlobSet:
        file_rx: list[str] = []
        dir_rx: list[str] = []
        for pattern in patterns:
            regex, dirs_only = glob_to_regex(pattern)
            try:
                re.compile(regex, re.DOTALL)
            except re.error as exc:
                raise ConfigError(f"{setting}: glob pattern {pattern!r} is invalid: {exc}") from exc
            dir_rx.append(regex)
            if not dirs_only:
                file_rx.append(regex)
        return cls(files=_compile(file_rx), dirs=_compile(dir_rx))

    def matches(self, path: str, *, is_dir: bool) -> bool:
        regex = self.dirs if is_dir else self.files
        return regex is not None and regex.fullmatch(path) is not None


@dataclass(frozen=True)
class Rules:
    """``include`` / ``exclude`` of a target, ready to apply to relative paths."""

    include: GlobSet
    exclude: GlobSet
    active: bool

    @classmethod
    def from_target(cls, target: Defaults) -> Rules:
        """The rules of any target config (each kind's model extends :class:`Defaults`)."""
        return cls(
            include=GlobSet.from_patterns(target.include, setting="include"),
            exclude=GlobSet.from_patterns(target.exclude, setting="exclude"),
            active=bool(target.include or target.exclude),
        )

    def skips_dir(self, path: str) -> bool:
        return self.exclude.matches(path, is_dir=True)

    def skips_file(self, path: str) -> bool:
        if self.exclude.matches(path, is_dir=False):
            return True
        return self.include.files is not None and not self.include.matches(path, is_dir=False)


def _reason(exc: OSError) -> str:
    """A short sentence for a failed folder: "permission denied", "input/output error"."""
    if exc.errno in {errno.EACCES, errno.EPERM}:
        return "permission denied"
    if exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


def _inside(real: str, root_real: str) -> bool:
    prefix = root_real if root_real.endswith(os.sep) else root_real + os.sep
    return real == root_real or real.startswith(prefix)


def _root_problem(root: Path, exc: OSError) -> RootUnavailable:
    if exc.errno == errno.ENOENT:
        return RootUnavailable(f"cannot list {root}: no such folder")
    if exc.errno == errno.ENOTDIR:
        return RootUnavailable(f"cannot list {root}: not a folder")
    return RootUnavailable(f"cannot list {root}: {_reason(exc)}")


def open_root(root: Path) -> tuple[str, int, _Key]:
    """Resolve the root and open it as a folder: (real path, descriptor, (st_dev, st_ino)).

    The caller closes the descriptor. Raises RootUnavailable saying why the root cannot be opened.
    """
    try:
        root_real = os.path.realpath(root)
        fd = os.open(root_real, _DIR_FLAGS)
    except OSError as exc:
        raise _root_problem(root, exc) from exc
    try:
        info = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise _root_problem(root, exc) from exc
    return root_real, fd, (info.st_dev, info.st_ino)


@dataclass
class _Open:
    """A folder held open on the walk's chain, with the subfolders of it still to read."""

    fd: int
    depth: int
    children: list[_Child]


@dataclass
class Walk:
    """One synchronous walk of a local root; :meth:`run` returns the listing."""

    root: Path
    rules: Rules
    max_entries: int
    report: _Report | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    entries: list[Entry] = field(default_factory=list)
    failed: list[FolderFailure] = field(default_factory=list)
    skipped: int = 0
    folders: int = 0
    _root_real: str = ""
    _next_report: int = PROGRESS_EVERY

    def run(self) -> Listing:
        self._root_real, fd, key = open_root(self.root)
        chain = [_Open(fd, 0, [])]
        try:
            chain[0].children = self._read_root(fd)
            self._walk(chain)
        finally:
            for folder in chain:
                os.close(folder.fd)
        self._check_root(key)
        self.entries.sort(key=attrgetter("path"))
        return Listing(
            entries=self.entries,
            failed_folders=self.failed,
            info={"root": str(self.root)},
            skipped=self.skipped,
        )

    def _walk(self, chain: list[_Open]) -> None:
        """Depth first; ``chain`` holds the open folders that still have subfolders to read."""
        while chain:
            top = chain[-1]
            if not top.children:
                os.close(chain.pop().fd)
                continue
            if self.stop.is_set():
                raise _Stopped("listing cancelled")
            opened = self._read_child(top.fd, *top.children.pop(), top.depth + 1)
            if not top.children:  # its last subfolder is open: it is not needed any more
                os.close(chain.pop().fd)
            if opened is not None:
                chain.append(opened)
            if len(self.entries) > self.max_entries:
                self._cut_at_cap()
                return
            self._progress()

    def _read_root(self, fd: int) -> list[_Child]:
        children = self._read_folder(fd, "")
        if len(self.entries) > self.max_entries:
            self._cut_at_cap()
            return []
        self._progress()
        return children or []

    def _progress(self) -> None:
        if self.report is not None and len(self.entries) >= self._next_report:
            self.report(len(self.entries), self.folders)
            self._next_report = len(self.entries) + PROGRESS_EVERY

    def _read_child(
        self, parent_fd: int, name: str, rel: str, key: _Key, depth: int
    ) -> _Open | None:
        """Open a subfolder by name in its parent, never through a link; list it.

        Returns the folder, still open, if it has subfolders to read; None otherwise (read and
        closed, failed, vanished, or replaced since its parent was listed).
        """
        if depth > MAX_DEPTH:
            self.entries.append(Entry(rel, "dir"))
            self.failed.append(FolderFailure(rel, f"more than {MAX_DEPTH} folders deep"))
            return None
        fd = -1
        try:
            fd = os.open(name, _CHILD_FLAGS, dir_fd=parent_fd)
            info = os.fstat(fd)
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
            if exc.errno in _REPLACED:
                return None  # gone, or now a link or a file: not listed, like a vanished folder
            self.entries.append(Entry(rel, "dir"))
            self.failed.append(FolderFailure(rel, _reason(exc)))
            return None
        opened: _Open | None = None
        try:
            if (info.st_dev, info.st_ino) != key:
                return None  # another folder was put in its place: not listed, like a vanished one
            children = self._read_folder(fd, rel)
            if children:
                opened = _Open(fd, depth, children)
            return opened
        finally:
            if opened is None:
                os.close(fd)

    def _read_folder(self, fd: int, rel: str) -> list[_Child] | None:
        """List one open folder, all or nothing: its subfolders, or None if it failed."""
        mark = len(self.entries), self.skipped
        if rel:
            self.entries.append(Entry(rel, "dir"))
        try:
            with os.scandir(fd) as scan:
                items = [*scan]
            children = self._add_items(items, rel + "/" if rel else "")
        except OSError as exc:
            if not rel:
                raise RootUnavailable(f"cannot list {self.root}: {_reason(exc)}") from exc
            del self.entries[mark[0] + 1 :]  # the folder is listed, its contents fail
            self.skipped = mark[1]
            self.failed.append(FolderFailure(rel, _reason(exc)))
            return None
        self.folders += 1
        return children

    def _check_root(self, key: _Key) -> None:
        """The root must still be the folder that was walked, or the listing is not of it."""
        try:
            info = os.stat(self._root_real)
        except OSError as exc:
            raise _root_problem(self.root, exc) from exc
        if (info.st_dev, info.st_ino) != key:
            raise RootUnavailable(f"cannot list {self.root}: it was replaced during the listing")

    def _cut_at_cap(self) -> None:
        self.skipped += len(self.entries) - self.max_entries
        del self.entries[self.max_entries :]
        reason = f"more than {self.max_entries} entries; raise max_entries"
        self.failed.append(FolderFailure("", reason))

    def _add_items(self, items: list[os.DirEntry[str]], prefix: str) -> list[_Child]:
        """The hot loop: one ``fstatat`` per entry, types from d_type; OSError fails the folder.

        ``items`` come from ``os.scandir(fd)``: their ``stat`` is relative to the open folder.
        """
        append, rules, children = self.entries.append, self.rules, []
        filtered = rules.active
        for item in items:
            rel = prefix + item.name
            try:
                if item.is_file(follow_symlinks=False):
                    if filtered and rules.skips_file(rel):
                        self.skipped += 1
                        continue
                    info = item.stat(follow_symlinks=False)
                    if S_ISREG(info.st_mode):  # else replaced since it was read: as if vanished
                        append(Entry(rel, "file", info.st_size, info.st_mtime_ns))
                elif item.is_dir(follow_symlinks=False):
                    if filtered and rules.skips_dir(rel):
                        self.skipped += 1
                        continue
                    info = item.stat(follow_symlinks=False)
                    children.append((item.name, rel, (info.st_dev, info.st_ino)))
                elif item.is_symlink():
                    self._add_symlink(rel)
                else:
                    self.skipped += 1  # fifo, socket, device: never opened
            except FileNotFoundError:
                continue  # vanished since the folder was read
        return children

    def _add_symlink(self, rel: str) -> None:
        """List a link to a regular file inside the root; skip (and count) any other link."""
        if self.rules.active and self.rules.skips_file(rel):
            self.skipped += 1
            return
        try:
            real = os.path.realpath(os.path.join(self._root_real, rel))
            if not _inside(real, self._root_real):
                self.skipped += 1
                return
            info = os.stat(real, follow_symlinks=False)
        except OSError:
            # dangling, a cycle of links, a target we may not stat, a link changed while it
            # was resolved (EINVAL), or a path longer than the system allows
            self.skipped += 1
            return
        if S_ISREG(info.st_mode):
            self.entries.append(Entry(rel, "file", info.st_size, info.st_mtime_ns))
        else:
            self.skipped += 1  # a folder (never followed) or a special file


def _describe_root(root: Path) -> str:
    root_real, fd, _ = open_root(root)
    try:
        with os.scandir(fd) as scan:
            count = sum(1 for _ in scan)
    except OSError as exc:
        raise RootUnavailable(f"cannot list {root}: {_reason(exc)}") from exc
    finally:
        os.close(fd)
    shown = f"{root} (resolved: {root_real})" if root_real != str(root) else str(root)
    return f"local folder {shown}: {count} entries at the top level"


class LocalSource:
    """Lists a :class:`~monitor.config.LocalTarget`; see the module docstring for the rules."""

    def __init__(self, target: LocalTarget) -> None:
        self.target = target
        self.root = target.path
        self.rules = Rules.from_target(target)

    async def list(self, progress: ProgressCallback | None = None) -> Listing:
        """Walk the root in a worker thread; ``progress`` is always called on the loop."""
        loop = asyncio.get_running_loop()
        report: _Report | None = None
        if progress is not None:
            callback = progress

            def report(entries: int, folders: int) -> None:
                loop.call_soon_threadsafe(callback, entries, folders)

        walk = Walk(self.root, self.rules, self.target.max_entries, report)
        try:
            listing = await asyncio.to_thread(walk.run)
        except asyncio.CancelledError:
            walk.stop.set()
            raise
        if progress is not None:
            progress(len(listing.entries), walk.folders)
        return listing

    async def probe(self) -> str:
        """Check the root is a readable folder; describe it in one line."""
        return await asyncio.to_thread(_describe_root, self.root)

    def url_for(self, path: str) -> str:
        """A ``file://`` URL, percent-encoded from the exact bytes of the name."""
        return (self.root / path).as_uri() if path else self.root.as_uri()
