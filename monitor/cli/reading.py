"""Reading the history: ``targets``, ``ls``, ``diff`` and ``history``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy import Connection

from monitor.archive.textdiff import Step, bodies_of, steps, terminal_safe
from monitor.cli.base import App, FormatOpt, app, app_of
from monitor.errors import MonitorError, UsageError
from monitor.output import Column, Format, display_name, emit, human_size, iso, to_json
from monitor.poll import utc_now
from monitor.report import compute_diff, diff_report, diff_rows, entry, mtime_of
from monitor.sources import make_source
from monitor.store import queries as q
from monitor.store.models import Snapshot
from monitor.timeparse import parse_day, parse_moment


@app.command()
def targets(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """List configured targets with their last snapshot.

    Example: monitor targets --format json
    """
    obj = app_of(ctx)
    rows = []
    with obj.read() as conn:
        for target in obj.settings.targets:
            tid = q.target_id(conn, target.name)
            last = q.latest_snapshot(conn, tid)
            applied = q.latest_snapshot(conn, tid, applied_only=True)
            open_batches = len(q.list_batches(conn, target=tid, status="open"))
            new = len(q.list_batches(conn, target=tid, review="new"))
            rows.append(
                {
                    "target": target.name,
                    "kind": target.kind,
                    "enabled": target.enabled,
                    "last_poll": last.started_at if last else None,
                    "status": last.status if last else None,
                    "files": applied.files if applied else None,
                    "bytes": applied.total_bytes if applied else None,
                    "open_batches": open_batches,
                    "unreviewed_batches": new,
                }
            )
    emit(
        rows,
        [
            Column("target", "target"),
            Column("kind", "kind"),
            Column("last_poll", "last poll", "time"),
            Column("status", "status"),
            Column("files", "files", "int"),
            Column("bytes", "size", "size"),
            Column("open_batches", "open batches", "int"),
            Column("unreviewed_batches", "to review", "int"),
        ],
        fmt,
        zone=obj.zone,
    )


def _snapshot_for(conn: Connection, tid: int, at: str | None, zone: ZoneInfo) -> Snapshot | None:
    if at is None:
        return q.latest_snapshot(conn, tid)
    return q.snapshot_at(conn, tid, parse_moment(at, zone))


@app.command()
def ls(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Target name.")],
    at: Annotated[str | None, typer.Option(help="A time: '2026-11-24 18:00', ISO 8601.")] = None,
    prefix: Annotated[str, typer.Option(help="Only paths under this folder.")] = "",
    fmt: FormatOpt = Format.table,
) -> None:
    """List a target's files as they were at a time (default: now).

    Example: monitor ls studio-drop --at "2026-11-20 18:00" --prefix ep02
    """
    obj = app_of(ctx)
    cfg = obj.settings.target(target)
    url_for = make_source(cfg).url_for
    with obj.read() as conn:
        tid = q.target_id(conn, target)
        snap = _snapshot_for(conn, tid, at, obj.zone)
        versions = q.state_at(conn, tid, snap.id) if snap and snap.id else []
    folder = prefix.strip("/")
    rows = [
        {**entry(v, url_for, obj.zone), "mtime": mtime_of(v)}
        for v in versions
        if not folder or v.path == folder or v.path.startswith(folder + "/")
    ]
    emit(
        rows,
        [
            Column("path", "path", "name"),
            Column("type", "type"),
            Column("size", "size", "size"),
            Column("mtime", "modified", "time"),
        ],
        fmt,
        zone=obj.zone,
        title=f"{target} at snapshot {snap.id} ({len(rows):,} entries)" if snap else None,
    )


DIFF_COLUMNS = [
    Column("change", "change"),
    Column("path", "path", "name"),
    Column("type", "type"),
    Column("size", "size", "size"),
    Column("mtime", "modified"),
    Column("detail", "detail", "name"),
]


@app.command()
def diff(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Target name.")],
    day: Annotated[
        str | None, typer.Option(help="A day: end of the day before vs end of it.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From the state at this time.")] = None,
    until: Annotated[
        str | None, typer.Option(help="To the state at this time (default now).")
    ] = None,
    from_snapshot: Annotated[int | None, typer.Option(help="From this snapshot.")] = None,
    to_snapshot: Annotated[int | None, typer.Option(help="To this snapshot.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show what was added, removed, modified and moved between two moments (default: today).

    Example: monitor diff studio-drop --day 2026-11-23 --format json
    """
    obj = app_of(ctx)
    cfg = obj.settings.target(target)
    zone = obj.zone
    modes = sum(
        any(x is not None for x in group)
        for group in ((day,), (since, until), (from_snapshot, to_snapshot))
    )
    if modes > 1:
        raise typer.BadParameter("use one of --day, --since/--until, --from-snapshot/--to-snapshot")
    with obj.read() as conn:
        tid = q.target_id(conn, target)
        before, after = _diff_bounds(conn, tid, day, since, until, from_snapshot, to_snapshot, zone)
        changes = compute_diff(conn, tid, before, after)
    report = diff_report(
        target, before, after, changes, url_for=make_source(cfg).url_for, zone=zone
    )
    if fmt is Format.json:
        typer.echo(to_json(report))
        return
    emit(diff_rows(report), DIFF_COLUMNS, fmt, zone=zone, title=_diff_title(target, report))


def _diff_title(target: str, report: dict[str, Any]) -> str:
    s = report["summary"]
    return (
        f"{target}: snapshot {report['from']['snapshot'] or 'start'} -> "
        f"{report['to']['snapshot'] or 'start'}: "
        f"{s['added']} added, {s['removed']} removed, {s['modified']} modified, "
        f"{s['moved']} moved, {human_size(s['bytes_added'])} added"
    )


def _diff_bounds(
    conn: Connection,
    tid: int,
    day: str | None,
    since: str | None,
    until: str | None,
    a: int | None,
    b: int | None,
    zone: ZoneInfo,
) -> tuple[Snapshot | None, Snapshot | None]:
    if a is not None or b is not None:
        after = q.get_snapshot(conn, b) if b is not None else q.latest_snapshot(conn, tid)
        before = q.get_snapshot(conn, a) if a is not None else None
        for snap in (before, after):
            if snap is not None and snap.target_id != tid:
                raise UsageError(f"snapshot {snap.id} belongs to another target")
        return before, after
    if since is not None or until is not None:
        end = parse_moment(until, zone) if until else utc_now()
        start = parse_moment(since, zone) if since else end - timedelta(days=1)
        return q.snapshot_at(conn, tid, start), q.snapshot_at(conn, tid, end)
    the_day = parse_day(day or "today", zone)
    start, end = q.day_bounds(the_day, zone)
    return _before(conn, tid, start), _before(conn, tid, end)


def _before(conn: Connection, tid: int, moment: datetime) -> Snapshot | None:
    snap = q.snapshot_at(conn, tid, moment - timedelta(microseconds=1))
    return snap


@app.command()
def history(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Target name.")],
    path: Annotated[str, typer.Argument(help="Path relative to the target root.")],
    content: Annotated[
        bool,
        typer.Option(
            "--content", help="Also show how the archived body changed (a diff for text)."
        ),
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show every version a path had and when each was seen.

    With --content, each change of the archived body too: a unified diff between
    consecutive text versions, sizes and hashes for binary ones.

    Example: monitor history studio-drop ep02/sc901/notes.txt --content
    """
    obj = app_of(ctx)
    if content and fmt is Format.csv:
        raise UsageError("--content shows diffs: use --format table or json")
    with obj.read() as conn:
        spans = q.history(conn, q.target_id(conn, target), path.strip("/"))
        changes = _content_steps(obj, conn, spans, path) if content else None
    if not spans:
        raise MonitorError(f"{target}: {display_name(path)!r} was never seen")
    rows = [
        {
            "path": s.version.path,
            "type": s.version.type,
            "size": s.version.size,
            "mtime": mtime_of(s.version),
            "seen": s.seen_at,
            "gone": s.gone_at,
            "first_snapshot": s.version.first_snapshot,
            "gone_snapshot": s.version.gone_snapshot,
        }
        for s in spans
    ]
    if changes is not None and fmt is Format.json:
        typer.echo(to_json(_content_report(target, rows, changes, obj.zone)))
        return
    emit(rows, HISTORY_COLUMNS, fmt, zone=obj.zone, title=display_name(path))
    if changes is not None:
        _print_steps(changes)


HISTORY_COLUMNS = [
    Column("first_snapshot", "snapshot", "int"),
    Column("seen", "seen", "time"),
    Column("gone", "gone", "time"),
    Column("type", "type"),
    Column("size", "size", "size"),
    Column("mtime", "modified", "time"),
]


def _content_steps(obj: App, conn: Connection, spans: list[q.VersionSpan], path: str) -> list[Step]:
    from monitor.archive.blobs import open_blob_store

    files = [s.version for s in spans if s.version.type == "file"]
    return steps(open_blob_store(obj.settings), bodies_of(conn, files, path.strip("/")))


def _content_report(
    target: str, rows: list[dict[str, Any]], changes: list[Step], zone: ZoneInfo
) -> dict[str, Any]:
    """``history --content --format json``: the versions, and each change of the body."""
    return {
        "target": target,
        "versions": [
            {k: iso(v, zone) if isinstance(v, datetime) else v for k, v in row.items()}
            for row in rows
        ],
        "changes": [
            {
                "from": c.before.label,
                "to": c.after.label,
                "kind": c.kind,
                "summary": c.summary,
                "diff": c.lines,
            }
            for c in changes
        ],
    }


def _print_steps(changes: list[Step]) -> None:
    """Each change of the body; every line escaped (file content is hostile)."""
    console = Console(highlight=False, soft_wrap=True)
    if not changes:
        console.print("(one archived version at most: nothing to compare)", style="dim")
    for c in changes:
        console.print(Text(terminal_safe(c.summary), style="bold"))
        for line in c.lines:
            console.print(Text(terminal_safe(line), style=_DIFF_STYLES.get(line[:1], "")))


_DIFF_STYLES = {"+": "green", "-": "red", "@": "cyan"}
