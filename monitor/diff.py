"""The diff engine: a listing against the current versions, and two states against each other.

It decides what a poll changes (never removing what sits under a folder that failed to list),
whether a listing looks wrong (``suspect``: too many files gone at once), and how removed and
added files pair up as moves. It reads and writes nothing itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TypeVar

from monitor.sources.base import Entry, Listing
from monitor.store.queries import HasEntryState as HasState
from monitor.store.queries import StoredVersion

A = TypeVar("A", bound=HasState)
B = TypeVar("B", bound=HasState)


def same_state(old: HasState, new: HasState) -> bool:
    """True when ``new`` describes the same state of the path as ``old``."""
    return (
        old.type == new.type
        and old.size == new.size
        and old.mtime_ns == new.mtime_ns
        and (old.etag == new.etag or old.etag is None or new.etag is None)
    )


@dataclass(slots=True)
class PollChanges:
    """What applying a listing would do to the current versions."""

    added: list[Entry] = field(default_factory=list)
    removed: list[StoredVersion] = field(default_factory=list)
    modified: list[tuple[StoredVersion, Entry]] = field(default_factory=list)
    moved: list[tuple[StoredVersion, Entry]] = field(default_factory=list)
    #: Paths not in the listing but kept because a folder above them failed to list.
    carried: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.modified)


def compare(current: dict[str, StoredVersion], listing: Listing) -> PollChanges:
    """Changes that ``listing`` makes to ``current``; moves are paired among added/removed."""
    changes = PollChanges()
    seen: set[str] = set()
    for entry in listing.entries:
        if entry.path in seen:  # a source that repeats a path: the first one counts
            continue
        seen.add(entry.path)
        old = current.get(entry.path)
        if old is None:
            changes.added.append(entry)
        elif not same_state(old, entry):
            changes.modified.append((old, entry))
    failed = {f.path for f in listing.failed_folders}
    for path, old in current.items():
        if path in seen:
            continue
        if failed and _under_any(path, failed):
            changes.carried += 1
        else:
            changes.removed.append(old)
    changes.moved, changes.removed, changes.added = pair_moves(changes.removed, changes.added)
    return changes


def _under_any(path: str, folders: set[str]) -> bool:
    """True when ``path`` is one of ``folders`` or lies under one ("" is the root)."""
    if "" in folders or path in folders:
        return True
    end = path.find("/")
    while end != -1:
        if path[:end] in folders:
            return True
        end = path.find("/", end + 1)
    return False


def pair_moves(removed: list[A], added: list[B]) -> tuple[list[tuple[A, B]], list[A], list[B]]:
    """Pair removed and added files that are one file under a new path.

    Two files pair when they share a known SHA-256, or else the same size and mtime and no
    other removed or added file has that size and mtime. Directories never pair.
    Returns (moves, removed left over, added left over).
    """
    if not removed or not added:
        return [], removed, added
    moves: list[tuple[A, B]] = []
    taken_r: set[int] = set()
    taken_a: set[int] = set()
    by_hash: dict[str, int] = {}
    for i, r in enumerate(removed):
        digest = getattr(r, "sha256", None)
        if r.type == "file" and digest:
            by_hash.setdefault(digest, i)
    for j, a in enumerate(added):
        digest = getattr(a, "sha256", None)
        found = by_hash.pop(digest, None) if digest and a.type == "file" else None
        if found is not None:
            i = found
            moves.append((removed[i], a))
            taken_r.add(i)
            taken_a.add(j)

    def key(x: HasState) -> tuple[int, int] | None:
        if x.type != "file" or x.size is None or x.mtime_ns is None:
            return None
        return (x.size, x.mtime_ns)

    r_keys = Counter(k for i, r in enumerate(removed) if i not in taken_r and (k := key(r)))
    a_keys = Counter(k for j, a in enumerate(added) if j not in taken_a and (k := key(a)))
    unique_r = {
        key(r): i
        for i, r in enumerate(removed)
        if i not in taken_r and r_keys.get(key(r) or (-1, -1)) == 1
    }
    for j, a in enumerate(added):
        k = key(a)
        if j in taken_a or k is None or a_keys[k] != 1 or k not in unique_r:
            continue
        i = unique_r[k]
        moves.append((removed[i], a))
        taken_r.add(i)
        taken_a.add(j)
    return (
        moves,
        [r for i, r in enumerate(removed) if i not in taken_r],
        [a for j, a in enumerate(added) if j not in taken_a],
    )


def is_suspect(
    current: dict[str, StoredVersion], changes: PollChanges, ratio: float, min_removed: int
) -> bool:
    """True when the listing loses more than ``ratio`` of the current files at once, and at
    least ``min_removed`` of them (a tiny target losing its one file is not an alarm)."""
    files = sum(1 for v in current.values() if v.type == "file")
    lost = sum(1 for v in changes.removed if v.type == "file")
    return files > 0 and lost >= min_removed and lost / files > ratio


@dataclass(slots=True)
class StateDiff:
    """The difference between two states of a target (see :func:`diff_states`)."""

    added: list[StoredVersion] = field(default_factory=list)
    removed: list[StoredVersion] = field(default_factory=list)
    modified: list[tuple[StoredVersion, StoredVersion]] = field(default_factory=list)
    moved: list[tuple[StoredVersion, StoredVersion]] = field(default_factory=list)

    def reversed(self) -> StateDiff:
        return StateDiff(
            added=self.removed,
            removed=self.added,
            modified=[(after, before) for before, after in self.modified],
            moved=[(new, old) for old, new in self.moved],
        )


def diff_states(ended: list[StoredVersion], started: list[StoredVersion]) -> StateDiff:
    """Pair versions that ended and started between two snapshots into a diff."""
    starts = {v.path: v for v in started}
    result = StateDiff()
    for old in ended:
        new = starts.pop(old.path, None)
        if new is None:
            result.removed.append(old)
        elif not same_state(old, new):
            result.modified.append((old, new))
    added = [v for v in started if v.path in starts]
    result.moved, result.removed, result.added = pair_moves(result.removed, added)
    return result
