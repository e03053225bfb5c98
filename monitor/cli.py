"""The ``monitor`` command: thin commands over the engine.

Exit codes: 0 ok, 1 the work failed (a target unreachable, a check failed, the database
refused), 2 bad usage or bad config. Library errors become messages here and nowhere else.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection
from typer.core import TyperGroup

from monitor import __version__
from monitor.batches import review_batch
from monitor.config import DEFAULT_CONFIG_NAME, Settings, TargetConfig, load_settings
from monitor.errors import ConfigError, MonitorError
from monitor.output import Column, Format, display_name, emit, human_size, to_json
from monitor.poll import PollResult, accept_snapshot, poll_target, utc_now
from monitor.report import compute_diff, diff_report, diff_rows, entry, mtime_of
from monitor.sources import make_source
from monitor.store import Store, open_store, upgrade_schema
from monitor.store import queries as q
from monitor.store.models import REVIEW_STATUSES, Snapshot
from monitor.timeparse import parse_day, parse_moment

err = Console(stderr=True, soft_wrap=True)


class MonitorGroup(TyperGroup):
    """Turns the project's errors into a message and an exit code, for every command."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            err.print(f"[bold red]config error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from exc
        except MonitorError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(1) from exc


app = typer.Typer(
    cls=MonitorGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Watch file servers and learn what arrived, changed and vanished.",
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@dataclass
class App:
    """What every command needs, opened on first use."""

    config_path: Path
    _settings: Settings | None = None
    _store: Store | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    def store(self, *, upgrade: bool | None = None) -> Store:
        if self._store is None:
            self._store = open_store(self.settings.database_url, upgrade=upgrade)
            with self._store.write() as conn:
                q.register_targets(
                    conn, [(t.name, t.kind) for t in self.settings.targets], utc_now()
                )
        return self._store

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.store().read() as conn:
            yield conn

    @property
    def zone(self) -> Any:
        return self.settings.zone

    def reviewer(self, given: str | None) -> str:
        return given or self.settings.reviewer or getpass.getuser()


def _app(ctx: typer.Context) -> App:
    obj = ctx.find_object(App)
    assert obj is not None
    return obj


FormatOpt = Annotated[
    Format, typer.Option("--format", "-f", help="table for people, json or csv for scripts.")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"filedrop-monitor {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Option("--config", "-c", envvar="MONITOR_CONFIG", help="The config file."),
    ] = Path(DEFAULT_CONFIG_NAME),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Watch file servers and learn what arrived, changed and vanished.

    Example: monitor --config monitor.toml poll
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = App(config)


# -- setting up --------------------------------------------------------------------------------

_STARTER = """\
# filedrop-monitor configuration (see config.example.toml for every setting)
data_dir = "monitor-data"
timezone = "{zone}"

[defaults]
every = "30m"
settle = "1h"

[[target]]
name = "{name}"
kind = "local"
path = "{path}"
"""


@app.command()
def init(
    ctx: typer.Context,
    watch: Annotated[Path, typer.Option(help="Folder the first target watches.")] = Path("drop"),
    name: Annotated[str, typer.Option(help="Name of the first target.")] = "drop",
    timezone: Annotated[str, typer.Option(help="Time zone for day boundaries.")] = "UTC",
    force: Annotated[bool, typer.Option(help="Overwrite an existing config file.")] = False,
) -> None:
    """Write a starter config with one local target and create the database.

    Example: monitor init --watch ./drop --timezone Europe/Paris
    """
    obj = _app(ctx)
    if obj.config_path.exists() and not force:
        raise ConfigError(f"{obj.config_path} exists already (use --force to overwrite it)")
    path = watch.expanduser()
    text = _STARTER.format(zone=timezone, name=name, path=str(path).replace("\\", "\\\\"))
    obj.config_path.write_text(text, encoding="utf-8")
    settings = obj.settings
    target = settings.targets[0]
    if isinstance(target.path, Path):
        target.path.mkdir(parents=True, exist_ok=True)
    obj.store()
    typer.echo(f"wrote {obj.config_path}; database {settings.database_url}")
    typer.echo(f"watching {target.path}: put files there, then run 'monitor poll'")


@app.command()
def check(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Validate the config, open the database and check that every target can be listed.

    Example: monitor check
    """
    obj = _app(ctx)
    settings = obj.settings
    obj.store()
    rows = []
    for target in settings.targets:
        try:
            detail = asyncio.run(make_source(target).probe())
            status = "ok"
        except MonitorError as exc:
            detail, status = exc.message, "failed"
        rows.append(
            {"target": target.name, "kind": target.kind, "status": status, "detail": detail}
        )
    columns = [
        Column("target", "target"),
        Column("kind", "kind"),
        Column("status", "status"),
        Column("detail", "detail", "name"),
    ]
    emit(rows, columns, fmt, zone=settings.zone, title=f"config {obj.config_path}: ok")
    if any(r["status"] != "ok" for r in rows):
        raise typer.Exit(1)


# -- polling -----------------------------------------------------------------------------------


@app.command()
def poll(
    ctx: typer.Context,
    targets: Annotated[
        list[str] | None, typer.Argument(help="Targets to poll (default: all).")
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Poll targets once and record a snapshot of each.

    Example: monitor poll studio-drop
    """
    obj = _app(ctx)
    settings = obj.settings
    chosen = (
        [settings.target(n) for n in targets]
        if targets
        else [t for t in settings.targets if t.enabled]
    )
    if not chosen:
        raise ConfigError(f"{obj.config_path}: no targets to poll; add a [[target]]")
    store = obj.store()
    results = [_poll_one(store, t) for t in chosen]
    rows = [_poll_row(r) for r in results]
    columns = [
        Column("target", "target"),
        Column("snapshot", "snapshot", "int"),
        Column("status", "status"),
        Column("files", "files", "int"),
        Column("bytes", "size", "size"),
        Column("added", "added", "int"),
        Column("removed", "removed", "int"),
        Column("modified", "modified", "int"),
        Column("moved", "moved", "int"),
        Column("seconds", "seconds"),
        Column("detail", "detail", "name"),
    ]
    emit(rows, columns, fmt, zone=settings.zone)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


def _poll_one(store: Store, target: TargetConfig) -> PollResult:
    if not err.is_terminal:
        return asyncio.run(poll_target(store, target))
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{target.name}: listing", total=None)

        def update(entries: int, folders: int) -> None:
            progress.update(
                task, description=(f"{target.name}: {entries:,} entries in {folders:,} folders")
            )

        return asyncio.run(poll_target(store, target, progress=update))


def _poll_row(r: PollResult) -> dict[str, Any]:
    detail = r.error or ""
    if r.failed_folders:
        names = ", ".join(f.path or "/" for f in r.failed_folders[:3])
        more = f" and {len(r.failed_folders) - 3} more" if len(r.failed_folders) > 3 else ""
        detail = f"folders failed: {names}{more}"
    if r.confirmed:
        detail = f"confirms suspect snapshot {r.confirmed}"
    return {
        "target": r.target,
        "snapshot": r.snapshot_id,
        "status": r.status,
        "files": r.files,
        "dirs": r.dirs,
        "bytes": r.total_bytes,
        "added": r.added,
        "removed": r.removed,
        "modified": r.modified,
        "moved": r.moved,
        "seconds": f"{r.seconds:.2f}",
        "batches": r.batches,
        "settled": r.settled,
        "detail": detail,
        "failed_folders": [{"path": f.path, "reason": f.reason} for f in r.failed_folders],
    }


# -- reading the history -----------------------------------------------------------------------


@app.command()
def targets(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """List configured targets with their last snapshot.

    Example: monitor targets --format json
    """
    obj = _app(ctx)
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


class SnapshotsGroup(TyperGroup):
    """``monitor snapshots TARGET`` lists; ``monitor snapshots accept ID`` accepts."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


snapshots_app = typer.Typer(
    cls=SnapshotsGroup,
    no_args_is_help=True,
    help="List a target's snapshots, or accept a suspect one.",
)
app.add_typer(snapshots_app, name="snapshots")


@snapshots_app.command("list")
def snapshots_list(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Target name.")],
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    fmt: FormatOpt = Format.table,
) -> None:
    """List a target's snapshots, newest first.

    Example: monitor snapshots studio-drop --limit 10
    """
    obj = _app(ctx)
    obj.settings.target(target)
    with obj.read() as conn:
        snaps = q.list_snapshots(conn, q.target_id(conn, target), limit=limit)
    rows = [_snapshot_row(s) for s in snaps]
    emit(
        rows,
        [
            Column("snapshot", "snapshot", "int"),
            Column("at", "at", "time"),
            Column("status", "status"),
            Column("files", "files", "int"),
            Column("bytes", "size", "size"),
            Column("added", "added", "int"),
            Column("removed", "removed", "int"),
            Column("modified", "modified", "int"),
            Column("moved", "moved", "int"),
            Column("detail", "detail", "name"),
        ],
        fmt,
        zone=obj.zone,
        title=target,
    )


def _snapshot_row(s: Snapshot) -> dict[str, Any]:
    failed = q.failed_folders(s)
    detail = s.error or ""
    if failed:
        detail = "folders failed: " + ", ".join(f["path"] or "/" for f in failed[:3])
    if s.status == "suspect":
        detail = (
            f"accepted ({s.accepted_by})"
            if s.accepted_by
            else (
                "held, not applied: " + detail
                if s.held_listing is not None or not s.applied
                else detail
            )
        )
    return {
        "snapshot": s.id,
        "at": s.started_at,
        "finished": s.finished_at,
        "status": s.status,
        "applied": s.applied,
        "files": s.files,
        "dirs": s.dirs,
        "bytes": s.total_bytes,
        "added": s.added,
        "removed": s.removed,
        "modified": s.modified,
        "moved": s.moved,
        "skipped": s.skipped,
        "detail": detail,
        "failed_folders": failed,
        "accepted_by": s.accepted_by,
    }


@snapshots_app.command("accept")
def snapshots_accept(
    ctx: typer.Context,
    snapshot: Annotated[int, typer.Argument(help="ID of a held suspect snapshot.")],
    by: Annotated[str | None, typer.Option(help="Who accepts it.")] = None,
) -> None:
    """Apply a held suspect snapshot: its listing is right after all.

    Example: monitor snapshots accept 42
    """
    obj = _app(ctx)
    store = obj.store()
    with store.read() as conn:
        snap = q.get_snapshot(conn, snapshot)
        name = q.target_names(conn)[snap.target_id]
    result = accept_snapshot(
        store, snapshot, obj.settings.target(name), actor=obj.reviewer(by), now=utc_now()
    )
    typer.echo(
        f"snapshot {snapshot} of {name} accepted: {result.added} added, "
        f"{result.removed} removed, {result.modified} modified, {result.moved} moved"
    )


def _snapshot_for(conn: Connection, tid: int, at: str | None, zone: Any) -> Snapshot | None:
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
    obj = _app(ctx)
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
    obj = _app(ctx)
    cfg = obj.settings.target(target)
    zone = obj.zone
    modes = sum(x is not None for x in (day, since or until, from_snapshot or to_snapshot))
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
    s = report["summary"]
    title = (
        f"{target}: snapshot {report['from']['snapshot']} -> {report['to']['snapshot']}: "
        f"{s['added']} added, {s['removed']} removed, {s['modified']} modified, "
        f"{s['moved']} moved, {human_size(s['bytes_added'])} added"
    )
    emit(
        diff_rows(report),
        [
            Column("change", "change"),
            Column("path", "path", "name"),
            Column("type", "type"),
            Column("size", "size", "size"),
            Column("mtime", "modified"),
            Column("detail", "detail", "name"),
        ],
        fmt,
        zone=zone,
        title=title,
    )


def _diff_bounds(
    conn: Connection,
    tid: int,
    day: str | None,
    since: str | None,
    until: str | None,
    a: int | None,
    b: int | None,
    zone: Any,
) -> tuple[Snapshot | None, Snapshot | None]:
    if a is not None or b is not None:
        after = q.get_snapshot(conn, b) if b is not None else q.latest_snapshot(conn, tid)
        before = q.get_snapshot(conn, a) if a is not None else None
        for snap in (before, after):
            if snap is not None and snap.target_id != tid:
                raise MonitorError(f"snapshot {snap.id} belongs to another target")
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
    fmt: FormatOpt = Format.table,
) -> None:
    """Show every version a path had and when each was seen.

    Example: monitor history studio-drop ep02/sc901/notes.txt
    """
    obj = _app(ctx)
    with obj.read() as conn:
        spans = q.history(conn, q.target_id(conn, target), path.strip("/"))
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
    emit(
        rows,
        [
            Column("first_snapshot", "snapshot", "int"),
            Column("seen", "seen", "time"),
            Column("gone", "gone", "time"),
            Column("type", "type"),
            Column("size", "size", "size"),
            Column("mtime", "modified", "time"),
        ],
        fmt,
        zone=obj.zone,
        title=display_name(path),
    )


# -- batches and reviews -----------------------------------------------------------------------


def _batch_row(b: Any, names: dict[int, str]) -> dict[str, Any]:
    return {
        "batch": b.id,
        "target": names.get(b.target_id, "?"),
        "folder": b.folder or "/",
        "status": b.status,
        "review": b.review,
        "files": b.files,
        "bytes": b.total_bytes,
        "opened": b.opened_at,
        "last_change": b.last_change_at,
        "settled": b.settled_at,
        "reviewed_by": b.reviewed_by,
        "note": b.note,
    }


BATCH_COLUMNS = [
    Column("batch", "batch", "int"),
    Column("target", "target"),
    Column("folder", "folder", "name"),
    Column("status", "status"),
    Column("review", "review"),
    Column("files", "files", "int"),
    Column("bytes", "size", "size"),
    Column("opened", "opened", "time"),
    Column("last_change", "last change", "time"),
    Column("reviewed_by", "by"),
]


@app.command()
def batches(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Option(help="Only this target.")] = None,
    status: Annotated[str | None, typer.Option(help="open or settled.")] = None,
    review: Annotated[str | None, typer.Option(help="new, reviewed, flagged or dismissed.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 100,
    fmt: FormatOpt = Format.table,
) -> None:
    """List batches of new files, newest first.

    Example: monitor batches --review new
    """
    obj = _app(ctx)
    with obj.read() as conn:
        tid = q.target_id(conn, target) if target else None
        found = q.list_batches(conn, target=tid, status=status, review=review, limit=limit)
        names = q.target_names(conn)
    emit([_batch_row(b, names) for b in found], BATCH_COLUMNS, fmt, zone=obj.zone)


@app.command()
def batch(
    ctx: typer.Context,
    batch_id: Annotated[int, typer.Argument(metavar="ID", help="Batch ID.")],
    fmt: FormatOpt = Format.table,
) -> None:
    """Show one batch: its files and its review trail.

    Example: monitor batch 7
    """
    obj = _app(ctx)
    with obj.read() as conn:
        b = q.get_batch(conn, batch_id)
        names = q.target_names(conn)
        files = q.batch_files(conn, batch_id)
        events = q.review_events(conn, batch_id)
    url_for = make_source(obj.settings.target(names[b.target_id])).url_for
    file_rows = [
        {
            **entry(v, url_for, obj.zone),
            "mtime": mtime_of(v),
            "change": bf.change,
            "present": v.gone_snapshot is None,
        }
        for bf, v in files
    ]
    event_rows = [e.model_dump() for e in events]
    if fmt is Format.json:
        typer.echo(
            to_json(
                {
                    **_batch_row(b, names),
                    "files": [
                        {**r, "mtime": r["mtime"].isoformat() if r["mtime"] else None}
                        for r in file_rows
                    ],
                    "events": [
                        {**e, "at": e["at"].astimezone(obj.zone).isoformat()} for e in event_rows
                    ],
                }
            )
        )
        return
    emit([_batch_row(b, names)], BATCH_COLUMNS, fmt, zone=obj.zone, title=f"batch {batch_id}")
    emit(
        file_rows,
        [
            Column("change", "change"),
            Column("path", "path", "name"),
            Column("size", "size", "size"),
            Column("mtime", "modified", "time"),
        ],
        fmt,
        zone=obj.zone,
        title="files",
    )
    if fmt is Format.table and event_rows:
        emit(
            event_rows,
            [
                Column("at", "at", "time"),
                Column("actor", "by", "name"),
                Column("from_status", "from"),
                Column("to_status", "to"),
                Column("note", "note", "name"),
            ],
            fmt,
            zone=obj.zone,
            title="review",
        )


@app.command()
def review(
    ctx: typer.Context,
    batch_id: Annotated[int, typer.Argument(metavar="ID", help="Batch ID.")],
    status: Annotated[str, typer.Option(help="new, reviewed, flagged or dismissed.")],
    note: Annotated[str | None, typer.Option(help="Why.")] = None,
    by: Annotated[str | None, typer.Option(help="Reviewer (default: config or login).")] = None,
) -> None:
    """Set a batch's review status, with a note; every change is kept.

    Example: monitor review 7 --status flagged --note "credentials in config.ini"
    """
    if status not in REVIEW_STATUSES:
        raise typer.BadParameter(f"use one of {', '.join(REVIEW_STATUSES)}", param_hint="--status")
    obj = _app(ctx)
    with obj.store().write() as conn:
        review_batch(
            conn, batch_id=batch_id, status=status, actor=obj.reviewer(by), now=utc_now(), note=note
        )
    typer.echo(f"batch {batch_id}: {status}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the database schema up to date (SQLite does this by itself on start).

    Example: monitor db upgrade
    """
    obj = _app(ctx)
    store = obj.store(upgrade=True)
    upgrade_schema(store)
    typer.echo(f"database schema is current ({store.dialect})")


def main() -> None:
    app(prog_name="monitor")
