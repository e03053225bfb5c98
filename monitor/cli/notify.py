"""Alerts by hand: ``digest`` (show or send one day's digest) and ``alerts`` (the outbox)."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from typing import Annotated, Any

import typer

from monitor.cli.base import App, FormatOpt, app, app_of
from monitor.digest import build_digest, digest_day, enqueue_digest
from monitor.errors import MonitorError, NotifyError
from monitor.notify import deliver_due, list_alerts, render_alert
from monitor.notify.outbox import get_alert
from monitor.notify.render import subject_of
from monitor.output import Column, Format, emit, short_time, to_json
from monitor.poll import utc_now
from monitor.store import queries as q
from monitor.store.models import Alert
from monitor.timeparse import parse_day


@app.command()
def digest(
    ctx: typer.Context,
    day: Annotated[
        str | None,
        typer.Option(help="YYYY-MM-DD, today or yesterday (default: yesterday)."),
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="Write it to the outbox and send it now.")
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show the daily digest of one day, or send it (it is written to the outbox once per day).

    Example: monitor digest --day 2026-11-23 --send
    """
    obj = app_of(ctx)
    settings, now = obj.settings, utc_now()
    the_day = parse_day(day, settings.zone, now=now) if day else digest_day(settings, now)
    if send:
        _send_digest(obj, the_day, now, fmt)
        return
    payload = build_digest(obj.store(), settings, the_day)
    if fmt is Format.json:
        typer.echo(to_json(payload))
        return
    key = f"digest:{the_day.isoformat()}"
    message = render_alert("digest", payload, settings, alert_id=0, key=key)
    typer.echo(f"{message.subject}\n\n{message.text.rstrip()}")


def _send_digest(obj: App, day: date, now: datetime, fmt: Format) -> None:
    store, settings = obj.store(), obj.settings
    alert_id = enqueue_digest(store, settings, day, now=now)
    result: dict[str, Any] = {"day": day.isoformat(), "alert": alert_id, "sent": False}
    if alert_id is None:
        result["detail"] = "an empty day, and [notify] digest_empty = 'skip': nothing to send"
    else:
        report = asyncio.run(deliver_due(store, settings, clock=utc_now, only=[alert_id]))
        with store.read() as conn:
            alert = get_alert(conn, alert_id)
        assert alert is not None
        result["sent"] = alert.sent_at is not None
        result["detail"] = _delivery_detail(alert, report.channels, obj)
    if fmt is Format.json:
        typer.echo(to_json(result))
    else:
        typer.echo(f"digest {day.isoformat()}: {result['detail']}")
    if alert_id is not None and not result["sent"]:
        raise typer.Exit(1)


def _delivery_detail(alert: Alert, channels: list[str], obj: App) -> str:
    zone = obj.zone
    if alert.sent_at is not None:
        return f"sent {short_time(alert.sent_at, zone)} (alert {alert.id})"
    if not channels:
        raise NotifyError(
            f"no channel configured (set [notify.smtp] or [notify] apprise); "
            f"the digest waits in the outbox as alert {alert.id}"
        )
    if alert.gave_up_at is not None:
        return f"given up {short_time(alert.gave_up_at, zone)}: {alert.last_error}"
    if alert.last_error:
        when = short_time(alert.next_attempt_at, zone)
        return f"not sent: {alert.last_error} (next try {when}, alert {alert.id})"
    return f"not sent: alert {alert.id} is being sent by another process, or waits until " + (
        short_time(alert.next_attempt_at, zone)
    )


def _status(alert: Alert) -> str:
    if alert.sent_at is not None:
        return "sent"
    if alert.gave_up_at is not None:
        return "given up"
    # a try that found only channels down is not counted, but it did fail
    return "retrying" if alert.attempts or alert.last_error else "pending"


def _alert_row(alert: Alert, names: dict[int, str], obj: App) -> dict[str, Any]:
    try:
        subject = subject_of(alert.kind, json.loads(alert.payload), obj.settings)
    except (MonitorError, ValueError):
        subject = None
    return {
        "alert": alert.id,
        "kind": alert.kind,
        "target": names.get(alert.target_id) if alert.target_id is not None else None,
        "subject": subject,
        "created": alert.created_at,
        "status": _status(alert),
        "sent": alert.sent_at,
        "attempts": alert.attempts,
        "next_attempt": alert.next_attempt_at,
        "gave_up": alert.gave_up_at,
        "delivered": json.loads(alert.delivered) if alert.delivered else [],
        "last_error": alert.last_error,
    }


@app.command()
def alerts(
    ctx: typer.Context,
    pending: Annotated[
        bool, typer.Option("--pending", help="Only alerts not sent yet (and not given up).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="Newest alerts shown.")] = 50,
    fmt: FormatOpt = Format.table,
) -> None:
    """List the outbox, newest first: what each alert says, and whether it was sent.

    Example: monitor alerts --pending --format json
    """
    obj = app_of(ctx)
    with obj.read() as conn:
        names = q.target_names(conn)
        rows = [_alert_row(a, names, obj) for a in list_alerts(conn, pending=pending, limit=limit)]
    columns = [
        Column("alert", "alert", "int"),
        Column("kind", "kind"),
        Column("subject", "subject", "name"),
        Column("created", "created", "time"),
        Column("status", "status"),
        Column("sent", "sent", "time"),
        Column("attempts", "tries", "int"),
        Column("next_attempt", "next try", "time"),
        Column("last_error", "last error", "name"),
    ]
    emit(rows, columns, fmt, zone=obj.zone)
