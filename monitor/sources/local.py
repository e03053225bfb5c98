"""The ``local`` source: a folder on this machine (or a mounted share), walked with ``os.scandir``.

The walk is a plain synchronous function run in a worker thread (``asyncio.to_thread``), so a
large tree never blocks the event loop. It is iterative (no recursion limit) and costs one
``lstat`` per entry; directory types come from ``d_type`` where the file system gives it.

What is listed:

- files, with their size and ``st_mtime_ns`` (full precision);
- directories, with ``size`` and ``mtime_ns`` left ``None``: a directory's mtime changes
  whenever a child does, so only its existence is tracked.

Symlinks are resolved with ``os.path.realpath`` and never followed out of the root:

- a link whose target lies outside the resolved root is not listed (counted in ``skipped``);
- a link to a file inside the root is listed as a file, under the link's own path, with the
  target's size and mtime;
- a link to a directory inside the root is walked under the link's own path (so the same
  files may appear under two paths); a directory whose ``(st_dev, st_ino)`` is already on the
  chain of folders above it is skipped and counted, so loops cannot happen;
- dangling links, link cycles and links to special files are skipped and counted.

Special files (fifos, sockets, devices) are skipped and counted; they are never opened.

Failures are data. A folder that cannot be read (``scandir`` fails, or one of its entries cannot
be stat'ed) becomes a :class:`FolderFailure` and none of its contents are listed, so the poll
carries its previous entries forward; the walk goes on. A file or folder that vanishes during
the walk is simply not listed. Only the root itself (missing, not a folder, unreadable) raises
:class:`~monitor.errors.RootUnavailable`.

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
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path

from monitor.config import LocalTarget
from monitor.errors import ConfigError, RootUnavailable
from monitor.sources.base import Entry, FolderFailure, Listing, ProgressCallback

#: Report progress after a folder once this many more entries were gathered.
PROGRESS_EVERY = 1000

_Report = Callable[[int, int], None]
#: A folder still to read: (path on disk, path relative to the root, depth, (st_dev, st_ino)).
_Pending = tuple[str, str, int, tuple[int, int]]


class _Stopped(Exception):
    """The listing was cancelled; the worker thread stops at the next folder."""


def _translate_segment(segment: str) -> str:
    """One path segment of a glob → regex; ``*``, ``?`` and classes never match ``/``."""
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        char = segment[i]
        i += 1
        if char == "*":
            out.append("[^/]*")
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
    return "".join(out)


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
    def from_target(cls, target: LocalTarget) -> Rules:
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


def open_root(root: Path) -> tuple[str, os.stat_result]:
    """Resolve the root and check it is a folder; raise RootUnavailable saying why not."""
    root_real = os.path.realpath(root)
    try:
        info = os.stat(root_real)
    except FileNotFoundError as exc:
        raise RootUnavailable(f"cannot list {root}: no such folder") from exc
    except OSError as exc:
        raise RootUnavailable(f"cannot list {root}: {_reason(exc)}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise RootUnavailable(f"cannot list {root}: not a folder")
    return root_real, info


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
    _stack: list[_Pending] = field(default_factory=list)
    _next_report: int = PROGRESS_EVERY

    def run(self) -> Listing:
        self._root_real, info = open_root(self.root)
        self._stack.append((self._root_real, "", 0, (info.st_dev, info.st_ino)))
        chain: list[tuple[int, int]] = []
        on_chain: set[tuple[int, int]] = set()
        while self._stack:
            if self.stop.is_set():
                raise _Stopped("listing cancelled")
            fs_path, rel, depth, key = self._stack.pop()
            for gone in chain[depth:]:
                on_chain.discard(gone)
            del chain[depth:]
            if key in on_chain:
                self.skipped += 1  # a link back to a folder above: walking it would loop
                continue
            read = self._read_folder(fs_path, rel, depth)
            if len(self.entries) > self.max_entries:
                self._cut_at_cap()
                break
            if not read:
                continue
            chain.append(key)
            on_chain.add(key)
            if self.report is not None and len(self.entries) >= self._next_report:
                self.report(len(self.entries), self.folders)
                self._next_report = len(self.entries) + PROGRESS_EVERY
        self.entries.sort(key=attrgetter("path"))
        return Listing(
            entries=self.entries,
            failed_folders=self.failed,
            info={"root": str(self.root)},
            skipped=self.skipped,
        )

    def _cut_at_cap(self) -> None:
        self.skipped += len(self.entries) - self.max_entries
        del self.entries[self.max_entries :]
        reason = f"more than {self.max_entries} entries; raise max_entries"
        self.failed.append(FolderFailure("", reason))

    def _read_folder(self, fs_path: str, rel: str, depth: int) -> bool:
        """List one folder, all or nothing; False if it vanished or failed."""
        mark = len(self.entries), len(self._stack), self.skipped
        if rel:
            self.entries.append(Entry(rel, "dir"))
        try:
            with os.scandir(fs_path) as scan:
                items = [*scan]
            self._add_items(items, rel + "/" if rel else "", depth + 1)
        except (FileNotFoundError, NotADirectoryError) as exc:
            if not rel:
                raise RootUnavailable(f"cannot list {self.root}: no such folder") from exc
            self._undo(mark)  # vanished during the walk: not listed at all
            return False
        except OSError as exc:
            if not rel:
                raise RootUnavailable(f"cannot list {self.root}: {_reason(exc)}") from exc
            self._undo((mark[0] + 1, *mark[1:]))  # the folder is listed, its contents fail
            self.failed.append(FolderFailure(rel, _reason(exc)))
            return False
        self.folders += 1
        return True

    def _undo(self, mark: tuple[int, int, int]) -> None:
        del self.entries[mark[0] :]
        del self._stack[mark[1] :]
        self.skipped = mark[2]

    def _add_items(self, items: list[os.DirEntry[str]], prefix: str, depth: int) -> None:
        """The hot loop: one lstat per entry, types from d_type; OSError fails the folder."""
        append, push, rules = self.entries.append, self._stack.append, self.rules
        filtered = rules.active
        for item in items:
            rel = prefix + item.name
            try:
                if item.is_file(follow_symlinks=False):
                    if filtered and rules.skips_file(rel):
                        self.skipped += 1
                        continue
                    info = item.stat(follow_symlinks=False)
                    append(Entry(rel, "file", info.st_size, info.st_mtime_ns))
                elif item.is_dir(follow_symlinks=False):
                    if filtered and rules.skips_dir(rel):
                        self.skipped += 1
                        continue
                    info = item.stat(follow_symlinks=False)
                    push((item.path, rel, depth, (info.st_dev, info.st_ino)))
                elif item.is_symlink():
                    self._add_symlink(item.path, rel, depth)
                else:
                    self.skipped += 1  # fifo, socket, device: never opened
            except FileNotFoundError:
                continue  # vanished since the folder was read

    def _add_symlink(self, link: str, rel: str, depth: int) -> None:
        real = os.path.realpath(link)
        if not _inside(real, self._root_real):
            self.skipped += 1
            return
        try:
            info = os.stat(real)
        except OSError:
            self.skipped += 1  # dangling, a cycle of links, or a target we may not stat
            return
        if stat.S_ISDIR(info.st_mode):
            if self.rules.active and self.rules.skips_dir(rel):
                self.skipped += 1
                return
            self._stack.append((real, rel, depth, (info.st_dev, info.st_ino)))
        elif stat.S_ISREG(info.st_mode):
            if self.rules.active and self.rules.skips_file(rel):
                self.skipped += 1
                return
            self.entries.append(Entry(rel, "file", info.st_size, info.st_mtime_ns))
        else:
            self.skipped += 1


def _describe_root(root: Path) -> str:
    root_real, _ = open_root(root)
    try:
        with os.scandir(root_real) as scan:
            count = sum(1 for _ in scan)
    except OSError as exc:
        raise RootUnavailable(f"cannot list {root}: {_reason(exc)}") from exc
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
