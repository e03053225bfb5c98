"""The archive: ``verify`` re-hashes the blob store, ``archived`` lists captures with provenance."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from sqlalchemy import select

from monitor.cli.base import FormatOpt, app, app_of, err
from monitor.errors import UsageError
from monitor.output import Column, Format, emit, human_size
from monitor.poll import utc_now
from monitor.store import queries as q
from monitor.store.models import CAPTURE_STATUSES


@app.command()
def verify(
    ctx: typer.Context,
    target: Annotated[
        str | None, typer.Option(help="Only the blobs of this target's archived files.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every blob, not only those with a problem.")
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Re-hash the archived files in the blob store; list any missing or not matching its hash.

    Exits 1 when a blob is missing, corrupt or unreadable. Good blobs get their verified
    time set. Blobs in the store that the database does not record are listed as unrecorded.

    Example: monitor verify --target studio-drop
    """
    from monitor.archive.blobs import open_blob_store
    from monitor.archive.verify import PROBLEMS, verify_blobs

    obj = app_of(ctx)
    if target is not None:
        obj.settings.target(target)
    store = obj.store()
    blobs = open_blob_store(obj.settings)
    t0 = time.perf_counter()
    checks = verify_blobs(store, blobs, now=utc_now(), target=target)
    seconds = time.perf_counter() - t0
    rows = [
        {
            "sha256": c.sha256,
            "status": c.status,
            "size": c.size,
            "found_size": c.found_size,
            "found_sha256": c.found_sha256,
            "detail": c.detail,
        }
        for c in checks
        if show_all or c.status != "ok"
    ]
    emit(
        rows,
        [
            Column("sha256", "sha256"),
            Column("status", "status"),
            Column("size", "size", "size"),
            Column("detail", "detail", "name"),
        ],
        fmt,
        zone=obj.zone,
        title=f"blobs in {blobs.describe()}",
    )
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("ok", *PROBLEMS, "unrecorded")}
    checked = sum(c.found_size or 0 for c in checks if c.status == "ok")
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "ok")
    err.print(
        f"verified {len(checks) - counts['unrecorded']} blobs ({human_size(checked)}) "
        f"in {seconds:.1f} s: {summary}",
        highlight=False,
    )
    if any(counts[s] for s in PROBLEMS):
        raise typer.Exit(1)


@app.command()
def archived(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Target name.")],
    path: Annotated[str | None, typer.Argument(help="Only this file, or files under it.")] = None,
    status: Annotated[str | None, typer.Option(help="Only captures with this status.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 100,
    fmt: FormatOpt = Format.table,
) -> None:
    """List a target's archive captures (one per try) with their provenance.

    JSON adds the response headers, the TLS certificate's SHA-256 and the detected type.

    Example: monitor archived studio-drop ep02/ --status complete --format json
    """
    from monitor.archive.records import blob_t, capture_t

    obj = app_of(ctx)
    obj.settings.target(target)
    if status is not None and status not in CAPTURE_STATUSES:
        raise UsageError(f"--status: one of {', '.join(CAPTURE_STATUSES)}, got {status!r}")
    with obj.read() as conn:
        tid = q.target_id(conn, target)
        stmt = (
            select(capture_t, blob_t.c.mime, blob_t.c.description, blob_t.c.verified_at)
            .select_from(capture_t.outerjoin(blob_t, blob_t.c.sha256 == capture_t.c.sha256))
            .where(capture_t.c.target_id == tid)
            .order_by(capture_t.c.id.desc())
        )
        if status is not None:
            stmt = stmt.where(capture_t.c.status == status)
        rows = [_capture_row(dict(r._mapping)) for r in conn.execute(stmt)]
    folder = (path or "").strip("/")
    if folder:  # "/" is the root: everything
        rows = [r for r in rows if r["path"] == folder or r["path"].startswith(folder + "/")]
    emit(
        rows[:limit],
        [
            Column("fetched_at", "fetched", "time"),
            Column("path", "path", "name"),
            Column("status", "status"),
            Column("size", "size", "size"),
            Column("sha256_short", "sha256"),
            Column("mime", "type", "name"),
            Column("http_status", "http", "int"),
            Column("ip", "ip"),
            Column("detail", "detail", "name"),
        ],
        fmt,
        zone=obj.zone,
        title=target,
    )


def _capture_row(row: dict[str, Any]) -> dict[str, Any]:
    sha = row["sha256"]
    headers = json.loads(row["headers"]) if row["headers"] else None
    return {
        "id": row["id"],
        "version_id": row["version_id"],
        "path": row["path"],
        "status": row["status"],
        "url": row["url"],
        "fetched_at": row["fetched_at"],
        "http_status": row["http_status"],
        "ip": row["ip"],
        "tls_fingerprint": row["tls_fingerprint"],
        "size": row["size"],
        "expected_size": row["expected_size"],
        "sha256": sha,
        "sha256_short": f"{sha[:16]}…" if sha else None,
        "mime": row["mime"],
        "type": row["description"],
        "verified_at": row["verified_at"],
        "headers": headers,
        "attempts": row["attempts"],
        "next_attempt_at": row["next_attempt_at"],
        "detail": row["error"] or "",
    }
