"""Evidence: ``export`` (a batch or a day as a zip that checks itself) and ``gc``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.base import App, FormatOpt, app, app_of, err
from monitor.config import ArchiveRules
from monitor.errors import ConfigError, MonitorError, UsageError
from monitor.output import Column, Format, display_name, emit, human_size, to_json
from monitor.poll import utc_now
from monitor.sources import make_source
from monitor.store import queries as q
from monitor.timeparse import parse_day


@app.command()
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="The zip file to write.")],
    batch: Annotated[int | None, typer.Option(help="Export this batch.")] = None,
    day: Annotated[
        str | None, typer.Option(help="Export the files a target added or modified this day.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="The target of --day.")] = None,
    force: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
) -> None:
    """Write a batch, or a target's day, as a zip of evidence that checks itself.

    The zip holds the archived files under safe names (files/), manifest.json with each
    file's server path, hash and provenance, listing.csv with every file listed (archived
    or not), README.txt, and SHA256SUMS: check it with 'sha256sum -c SHA256SUMS'. Exits 1,
    writing nothing, when none of the files is archived.

    Example: monitor export --batch 12 --out batch-12.zip
    """
    from monitor.archive.blobs import open_blob_store
    from monitor.archive.export import (
        attach_captures,
        batch_selection,
        day_selection,
        export_zip,
    )

    obj = app_of(ctx)
    if (batch is None) == (day is None):
        raise UsageError("give --batch ID, or --day DATE with --target NAME")
    if day is not None and target is None:
        raise UsageError("--day needs --target")
    zone = obj.zone
    store = open_blob_store(obj.settings)
    with obj.read() as conn:
        if batch is not None:
            name = q.target_names(conn)[q.get_batch(conn, batch).target_id]
            if target is not None and target != name:
                raise UsageError(f"batch {batch} belongs to target {name!r}, not {target!r}")
            kind, url, rules = _describe(obj, name)
            selection = batch_selection(conn, batch, kind=kind, url=url, zone=zone)
        else:
            assert day is not None and target is not None
            kind, url, rules = _describe(obj, target)
            the_day = parse_day(day, zone)
            selection = day_selection(conn, target, the_day, kind=kind, url=url, zone=zone)
        attach_captures(conn, selection, store, rules)
    result = export_zip(selection, store, out, force=force, now=utc_now(), zone=zone)
    typer.echo(
        f"wrote {result.out}: {result.archived} of {result.files} files "
        f"({human_size(result.bytes)}) from {display_name(selection.title)}"
    )
    if result.missing:
        err.print(
            f"warning: {result.missing} files are listed but not archived; README.txt "
            "and manifest.json say why",
            highlight=False,
            markup=False,
        )


def _describe(obj: App, name: str) -> tuple[str, str, ArchiveRules | None]:
    """The target's kind, root URL and archive rules (None: no longer configured)."""
    try:
        cfg = obj.settings.target(name)
    except ConfigError:
        return "unknown (no longer configured)", "", None
    return cfg.kind, make_source(cfg).url_for(""), cfg.archive


GC_COLUMNS = [
    Column("kind", "removes"),
    Column("target", "target"),
    Column("path", "path", "name"),
    Column("sha256", "sha256"),
    Column("size", "size", "size"),
    Column("reason", "why", "name"),
]


@app.command()
def gc(
    ctx: typer.Context,
    apply: Annotated[bool, typer.Option(help="Remove for real (default: only show).")] = False,
    orphans: Annotated[
        bool,
        typer.Option(help="Also bodies in the store with no blob row."),
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Remove archived bodies nothing needs any more (a dry run unless --apply).

    Captures expire by each target's [target.archive] max_age, counted from when the file
    left the server (was removed or changed); the version a server has now keeps its newest
    copy. Then every blob that no capture and no version names is deleted; a blob another
    target still names is kept.

    Example: monitor gc --apply --format json
    """
    from monitor.archive.blobs import open_blob_store
    from monitor.archive.gc import collect_garbage

    obj = app_of(ctx)
    ages = {t.name: t.archive.max_age for t in obj.settings.targets}
    report = collect_garbage(
        obj.store(),
        open_blob_store(obj.settings),
        ages,
        now=utc_now(),
        zone=obj.zone,
        apply=apply,
        orphans=orphans,
    )
    rows = [r.as_row(obj.zone) for r in report.removals]
    if fmt is Format.json:
        typer.echo(
            to_json(
                {
                    "applied": report.applied,
                    "removals": rows,
                    "errors": report.errors,
                    "summary": report.summary(),
                }
            )
        )
    elif fmt is Format.csv:
        emit(rows, GC_COLUMNS, fmt, zone=obj.zone)
    else:
        if rows:
            emit(rows, GC_COLUMNS, fmt, zone=obj.zone)
        typer.echo(_gc_summary(report.summary(), apply))
    if report.errors:
        raise MonitorError(
            f"{len(report.errors)} bodies could not be deleted: "
            + "; ".join(f"{sha}: {why}" for sha, why in sorted(report.errors.items())[:5])
        )


def _gc_summary(summary: dict[str, int], applied: bool) -> str:
    verb = "removed" if applied else "dry run, would remove"
    text = (
        f"{verb}: {summary['captures']} expired captures, {summary['blobs']} blobs, "
        f"{summary['orphans']} orphan bodies ({human_size(summary['bytes'])})"
    )
    return text if applied else text + "; run with --apply to remove them"
