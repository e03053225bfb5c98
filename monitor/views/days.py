"""The day diff of one target: what changed on one local day, as lists and as a folder tree.

The diff is ``monitor diff TARGET --day D``'s (the same snapshots, the same
:func:`monitor.report.compute_diff`), and its entries have the same shape: with no filter and
no cap, :class:`DayDiff` dumped as JSON holds the ``monitor diff --format json`` object.
Filters (change kind, path substring or glob, minimum size, file type, folder) are applied
here; ``summary`` counts what passed them and ``total`` counts the whole day. Each list shows
at most ``limit`` changes and the tree at most ``tree_limit`` files; ``more`` counts the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field
from sqlalchemy import Connection

from monitor.config import Settings
from monitor.diff import StateDiff
from monitor.errors import ConfigError, UsageError
from monitor.report import compute_diff
from monitor.sources.local import GlobSet
from monitor.store.models import Snapshot
from monitor.store.queries import StoredVersion, day_bounds, snapshot_at
from monitor.views._common import Entry, Moment, TargetInfo, View, entry_of, resolve_target

ChangeKind = Literal["added", "removed", "modified", "moved"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("added", "removed", "modified", "moved")
_GLOB_CHARS = frozenset("*?[")


class DayFilters(View):
    """Which changes to keep (every condition given must hold)."""

    kinds: list[ChangeKind] | None = Field(
        default=None, description="Only these kinds of change (None: all)."
    )
    path: str | None = Field(
        default=None,
        description="A case-insensitive substring of the path, or a glob when it holds * ? or [ "
        "(as in watch rules: 'report*.pdf' matches the name in any folder, 'ep01/**' a subtree); "
        "a move matches by its new or old path.",
    )
    min_size: int | None = Field(default=None, ge=0, description="Only files this big or bigger.")
    types: list[str] = Field(
        default_factory=list, description="Only files with these extensions ('png', 'txt')."
    )
    folder: str | None = Field(default=None, description="Only changes under this folder.")


class SnapshotRef(View):
    """One end of a diff."""

    snapshot: int | None = Field(description="Snapshot id (None: before the first snapshot).")
    at: Moment | None = Field(description="When that snapshot's poll started.")


class Modified(View):
    """A path whose state changed."""

    path: str = Field(description="The path.")
    before: Entry
    after: Entry


class Moved(View):
    """A file that moved to a new path (same content, or the same size and mtime)."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    from_path: str = Field(alias="from", description="The old path.")
    to: str = Field(description="The new path.")
    entry: Entry


class Summary(View):
    """Counts of changes, as the ``summary`` of ``monitor diff --format json``."""

    added: int = Field(description="Entries added (files and folders).")
    removed: int = Field(description="Entries removed.")
    modified: int = Field(description="Entries modified.")
    moved: int = Field(description="Entries moved.")
    bytes_added: int = Field(description="Bytes of the files added.")


class Change(View):
    """One change in the folder tree."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    kind: ChangeKind = Field(description="added, removed, modified or moved.")
    entry: Entry = Field(description="The entry now (for a removal: as it was last seen).")
    before: Entry | None = Field(description="A modified entry's previous state.")
    from_path: str | None = Field(alias="from", description="A moved file's old path.")


class FolderNode(View):
    """A folder of the change tree, with the counts of every change under it."""

    name: str = Field(description="The folder's own name ('' for the target root).")
    path: str = Field(description="The folder's path ('' for the target root).")
    added: int = Field(description="Entries added under it.")
    removed: int = Field(description="Entries removed under it.")
    modified: int = Field(description="Entries modified under it.")
    moved: int = Field(description="Entries moved under it (by their new path).")
    bytes: int = Field(description="Bytes of the files changed under it (size as shown).")
    folders: list[FolderNode] = Field(description="Its sub-folders holding changes, by name.")
    more_folders: int = Field(description="Sub-folders left out by the tree's folder cap.")
    changes: list[Change] = Field(description="Changes of entries directly in it, by path.")
    more: int = Field(description="Changes directly in it left out by the tree's cap.")
    deeper: int = Field(
        description="Changes in sub-folders below the tree's depth (counted here, not shown: "
        "filter by this folder to see them)."
    )


class DayDiff(View):
    """What changed on one local day of one target."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    target: str = Field(description="Target name.")
    day: date = Field(description="The local day.")
    timezone: str = Field(description="The zone the day is in.")
    start: Moment = Field(description="The day's first midnight.")
    end: Moment = Field(description="The midnight that ends it.")
    from_state: SnapshotRef = Field(alias="from", description="The state the day starts from.")
    to: SnapshotRef = Field(description="The state the day ends at.")
    added: list[Entry] = Field(description="Entries added, by path.")
    removed: list[Entry] = Field(description="Entries removed, by path.")
    modified: list[Modified] = Field(description="Entries modified, by path.")
    moved: list[Moved] = Field(description="Files moved.")
    summary: Summary = Field(description="Counts of the changes that pass the filters.")
    total: Summary = Field(description="Counts of every change of the day.")
    more: Summary = Field(description="Changes that pass the filters but the lists leave out.")
    filters: DayFilters = Field(description="The filters applied.")
    tree: FolderNode = Field(description="The changes that pass the filters, by folder.")


@dataclass(slots=True)
class _Change:
    kind: ChangeKind
    version: StoredVersion
    before: StoredVersion | None = None

    @property
    def path(self) -> str:
        return self.version.path


def day_diff(
    conn: Connection,
    settings: Settings,
    name: str,
    day: date,
    *,
    zone: ZoneInfo,
    filters: DayFilters | None = None,
    limit: int = 500,
    tree_limit: int = 500,
    tree_depth: int = 4,
    tree_folders: int = 500,
) -> DayDiff:
    """The changes of target ``name`` on ``day`` (``monitor diff --day``), filtered.

    Each list holds at most ``limit`` changes. The tree holds folders down to ``tree_depth``
    levels below the ``folder`` filter (or the root), at most ``tree_folders`` folders (those
    nearest the root first), and at most ``tree_limit`` changes in all; its counts are never
    cut.
    """
    if min(limit, tree_limit, tree_depth, tree_folders) < 0:
        raise UsageError("limit, tree_limit, tree_depth and tree_folders must be 0 or more")
    filters = filters or DayFilters()
    target = resolve_target(conn, settings, name)
    start, end = day_bounds(day, zone)
    before, after = day_snapshots(conn, target.id, day, zone)
    diff = compute_diff(conn, target.id, before, after) if target.id else StateDiff()
    changes = _changes(diff)
    kept = [c for c in changes if _keep(c, filters, _matcher(filters.path))]
    shown = {kind: [c for c in kept if c.kind == kind][:limit] for kind in CHANGE_KINDS}
    summary = _summary(kept)
    base = len(filters.folder.strip("/").split("/")) if filters.folder else 0
    return DayDiff(
        target=target.name,
        day=day,
        timezone=zone.key,
        start=start,
        end=end,
        from_state=_ref(before, zone),
        to=_ref(after, zone),
        added=[entry_of(c.version, target, zone) for c in shown["added"]],
        removed=[entry_of(c.version, target, zone) for c in shown["removed"]],
        modified=[_modified(c, target, zone) for c in shown["modified"]],
        moved=[_moved(c, target, zone) for c in shown["moved"]],
        summary=summary,
        total=_summary(changes),
        more=_more(summary, shown),
        filters=filters,
        tree=_tree(kept, target, zone, _TreeCaps(tree_limit, base + tree_depth, tree_folders)),
    )


def day_snapshots(
    conn: Connection, target_id: int | None, day: date, zone: ZoneInfo
) -> tuple[Snapshot | None, Snapshot | None]:
    """The snapshots ``monitor diff --day`` compares: the last ones started before each of the
    day's two midnights."""
    if target_id is None:
        return None, None
    start, end = day_bounds(day, zone)
    tick = timedelta(microseconds=1)
    return snapshot_at(conn, target_id, start - tick), snapshot_at(conn, target_id, end - tick)


def _changes(diff: StateDiff) -> list[_Change]:
    found = [_Change("added", v) for v in diff.added]
    found += [_Change("removed", v) for v in diff.removed]
    found += [_Change("modified", new, old) for old, new in diff.modified]
    found += [_Change("moved", new, old) for old, new in diff.moved]
    return found


def _matcher(pattern: str | None) -> GlobSet | str | None:
    if not pattern:
        return None
    if _GLOB_CHARS.isdisjoint(pattern):
        return pattern.casefold()
    try:
        return GlobSet.from_patterns([pattern], setting="path filter")
    except ConfigError as exc:
        raise UsageError(exc.message) from exc


def _path_matches(path: str, is_dir: bool, matcher: GlobSet | str) -> bool:
    if isinstance(matcher, str):
        return matcher in path.casefold()
    return matcher.matches(path, is_dir=is_dir)


def _keep(change: _Change, filters: DayFilters, matcher: GlobSet | str | None) -> bool:
    v = change.version
    if filters.kinds is not None and change.kind not in filters.kinds:
        return False
    if filters.folder and not v.path.startswith(filters.folder.strip("/") + "/"):
        return False
    if filters.min_size is not None and (v.type != "file" or (v.size or 0) < filters.min_size):
        return False
    if filters.types:
        suffix = v.path.rpartition("/")[2].rpartition(".")
        wanted = {t.lower().lstrip(".") for t in filters.types}
        if v.type != "file" or not suffix[1] or suffix[2].lower() not in wanted:
            return False
    if matcher is None:
        return True
    paths = [v.path] + ([change.before.path] if change.kind == "moved" and change.before else [])
    return any(_path_matches(p, v.type == "dir", matcher) for p in paths)


def _summary(changes: list[_Change]) -> Summary:
    counts = {kind: 0 for kind in CHANGE_KINDS}
    for c in changes:
        counts[c.kind] += 1
    added = sum(
        c.version.size or 0 for c in changes if c.kind == "added" and c.version.type == "file"
    )
    return Summary(**counts, bytes_added=added)


def _more(summary: Summary, shown: dict[ChangeKind, list[_Change]]) -> Summary:
    added_bytes = sum(c.version.size or 0 for c in shown["added"] if c.version.type == "file")
    return Summary(
        added=summary.added - len(shown["added"]),
        removed=summary.removed - len(shown["removed"]),
        modified=summary.modified - len(shown["modified"]),
        moved=summary.moved - len(shown["moved"]),
        bytes_added=summary.bytes_added - added_bytes,
    )


def _ref(snapshot: Snapshot | None, zone: ZoneInfo) -> SnapshotRef:
    if snapshot is None:
        return SnapshotRef(snapshot=None, at=None)
    return SnapshotRef(snapshot=snapshot.id, at=snapshot.started_at.astimezone(zone))


def _modified(change: _Change, target: TargetInfo, zone: ZoneInfo) -> Modified:
    assert change.before is not None
    return Modified(
        path=change.path,
        before=entry_of(change.before, target, zone),
        after=entry_of(change.version, target, zone),
    )


def _moved(change: _Change, target: TargetInfo, zone: ZoneInfo) -> Moved:
    assert change.before is not None
    return Moved(
        from_path=change.before.path, to=change.path, entry=entry_of(change.version, target, zone)
    )


def _zero_counts() -> dict[str, int]:
    return {"added": 0, "removed": 0, "modified": 0, "moved": 0}


@dataclass
class _Node:
    name: str
    path: str
    counts: dict[str, int] = field(default_factory=_zero_counts)
    size: int = 0
    folders: dict[str, _Node] = field(default_factory=dict)
    changes: list[_Change] = field(default_factory=list)
    more: int = 0
    deeper: int = 0


@dataclass(frozen=True, slots=True)
class _TreeCaps:
    leaves: int
    depth: int
    folders: int


def _tree(
    changes: list[_Change], target: TargetInfo, zone: ZoneInfo, caps: _TreeCaps
) -> FolderNode:
    root = _Node("", "")
    shown = 0
    for change in sorted(changes, key=lambda c: c.path):
        node = root
        parts = change.path.split("/")[:-1]
        size = (change.version.size or 0) if change.version.type == "file" else 0
        _count(node, change.kind, size)
        for depth, part in enumerate(parts[: caps.depth]):
            child = node.folders.get(part)
            if child is None:
                child = node.folders[part] = _Node(part, "/".join(parts[: depth + 1]))
            node = child
            _count(node, change.kind, size)
        if len(parts) > caps.depth:
            node.deeper += 1
        elif shown < caps.leaves:
            node.changes.append(change)
            shown += 1
        else:
            node.more += 1
    return _frozen(root, target, zone, _shown_folders(root, caps.folders))


def _shown_folders(root: _Node, most: int) -> set[int]:
    """The nodes (by id) of the ``most`` folders nearest the root, by name within a level."""
    shown: set[int] = set()
    level = [root]
    while level and len(shown) < most:
        below = []
        for node in level:
            for name in sorted(node.folders):
                if len(shown) >= most:
                    return shown
                child = node.folders[name]
                shown.add(id(child))
                below.append(child)
        level = below
    return shown


def _count(node: _Node, kind: str, size: int) -> None:
    node.counts[kind] += 1
    node.size += size


def _frozen(node: _Node, target: TargetInfo, zone: ZoneInfo, shown: set[int]) -> FolderNode:
    children = [node.folders[k] for k in sorted(node.folders)]
    kept = [c for c in children if id(c) in shown]
    return FolderNode(
        name=node.name,
        path=node.path,
        added=node.counts["added"],
        removed=node.counts["removed"],
        modified=node.counts["modified"],
        moved=node.counts["moved"],
        bytes=node.size,
        folders=[_frozen(c, target, zone, shown) for c in kept],
        more_folders=len(children) - len(kept),
        changes=[_leaf(c, target, zone) for c in node.changes],
        more=node.more,
        deeper=node.deeper,
    )


def _leaf(change: _Change, target: TargetInfo, zone: ZoneInfo) -> Change:
    before = change.before
    return Change(
        kind=change.kind,
        entry=entry_of(change.version, target, zone),
        before=entry_of(before, target, zone) if change.kind == "modified" and before else None,
        from_path=before.path if change.kind == "moved" and before else None,
    )
