"""Polling: ``poll``, and ``snapshots`` to list a target's snapshots or accept a suspect one."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from monitor.cli.base import FormatOpt, app, app_of, err
from monitor.config import Settings, TargetConfig
from monitor.errors import ArchiveError, ConfigError
from monitor.output import Column, Format, emit, human_size
from monitor.poll import PollResult, accept_snapshot, poll_target, utc_now
from monitor.store import Store
from monitor.store import queries as q
from monitor.store.models import Snapshot

#: The columns a poll and a snapshot share: its status, the state it saw and what changed.
SNAPSHOT_COUNT_COLUMNS = [
    Column("status", "status"),
    Column("files", "files", "int"),
    Column("bytes", "size", "size"),
    Column("added", "added", "int"),
    Column("removed", "removed", "int"),
    Column("modified", "modified", "int"),
    Column("moved", "moved", "int"),
]


@app.command()
def poll(
    ctx: typer.Context,
    targets: Annotated[
        list[str] | None, typer.Argument(help="Targets to poll (default: all).")
    ] = None,
    fmt: FormatOpt = Format.table,
    no_archive: Annotated[
        bool, typer.Option("--no-archive", help="Do not archive the new files this time.")
    ] = False,
) -> None:
    """Poll targets once and record a snapshot of each; then archive the new files of the
    targets whose [target.archive] is enabled (a line per target on stderr).

    Example: monitor poll studio-drop
    """
    obj = app_of(ctx)
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
    archive_failed = False
    if not no_archive:
        archive_failed = _archive_after_poll(settings, store, chosen, results, rows)
    columns = [
        Column("target", "target"),
        Column("snapshot", "snapshot", "int"),
        *SNAPSHOT_COUNT_COLUMNS,
        Column("seconds", "seconds"),
        Column("detail", "detail", "name"),
    ]
    emit(rows, columns, fmt, zone=settings.zone)
    if archive_failed or any(r.status == "failed" for r in results):
        raise typer.Exit(1)


# -- the archive step: after the snapshots are recorded ---------------------------------------


def _archive_after_poll(
    settings: Settings,
    store: Store,
    targets: list[TargetConfig],
    results: list[PollResult],
    rows: list[dict[str, Any]],
) -> bool:
    """Archive what each polled target's rules select; True when a run failed.

    A held suspect (or failed) snapshot archives nothing. Each run's line goes to stderr;
    its counts go in the row (``archive`` in JSON).
    """
    from monitor.archive.archiver import archive_target
    from monitor.archive.blobs import open_blob_store

    wanted = [
        (t, r, row)
        for t, r, row in zip(targets, results, rows, strict=True)
        if t.archive.enabled and r.ok
    ]
    if not wanted:
        return False
    blobs = open_blob_store(settings)
    failed = False
    for target, _, row in wanted:
        try:
            report = asyncio.run(archive_target(store, settings, target, blobs))
        except ArchiveError as exc:
            err.print(f"{target.name}: archive stopped: {exc}", highlight=False)
            row["archive"] = {"error": str(exc)}
            failed = True
            continue
        err.print(f"{report.summary()} in {report.seconds:.2f} s", highlight=False)
        row["archive"] = {
            "archived": report.archived,
            "stored": report.stored,
            "bytes": report.bytes,
            "skipped": report.skipped,
            "failed": report.failed,
            "waiting": report.waiting,
            "seconds": round(report.seconds, 3),
            "sync_seconds": round(report.sync_seconds, 3),
        }
    return failed


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
    obj = app_of(ctx)
    obj.settings.target(target)
    with obj.read() as conn:
        tid = q.target_id(conn, target)
        snaps = q.list_snapshots(conn, tid, limit=limit)
        held = q.held_snapshots(conn, tid)
    rows = [_snapshot_row(s, held) for s in snaps]
    emit(
        rows,
        [
            Column("snapshot", "snapshot", "int"),
            Column("at", "at", "time"),
            *SNAPSHOT_COUNT_COLUMNS,
            Column("source", "source", "name"),
            Column("detail", "detail", "name"),
        ],
        fmt,
        zone=obj.zone,
        title=target,
    )


def _source_summary(info: dict[str, Any]) -> str:
    """What a snapshot recorded about the server, in a few words."""
    parts = [str(info[k]) for k in ("server", "ip", "root") if info.get(k)]
    if "requests" in info:
        parts.append(f"{int(info['requests']):,} requests, {human_size(int(info['bytes']))}")
    if info.get("tls_sha256"):
        parts.append(f"tls sha256 {str(info['tls_sha256'])[:16]}…")
    return "; ".join(parts)


def _snapshot_row(s: Snapshot, held: set[int]) -> dict[str, Any]:
    failed = q.failed_folders(s)
    detail = s.error or ""
    if failed:
        detail = "folders failed: " + ", ".join(f["path"] or "/" for f in failed[:3])
    if s.status == "suspect" and s.accepted_by:
        detail = f"accepted ({s.accepted_by})"
    elif s.id in held:
        detail = f"held, not applied: {detail}"
    info = json.loads(s.info) if s.info else {}
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
        "source": _source_summary(info),
        "info": info,
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
    obj = app_of(ctx)
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
