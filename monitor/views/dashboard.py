"""The dashboard: every target's health, last poll, batches to review and recent arrivals.

Health is read from the latest snapshots by the rules the daemon alerts by
(:mod:`monitor.alerts`): ``down`` after ``down_after`` failed polls in a row, ``stale`` when no
file arrived for ``stale_after``. From worst to best:

``never_polled``  the target has no snapshot yet
``down``          the last ``down_after`` polls (or more) failed
``failing``       the last poll failed, fewer than ``down_after`` in a row
``suspect``       the last listing was held as suspect (most files vanished at once)
``stale``         no new file for ``stale_after`` (targets that set it)
``partial``       the last listing missed folders that failed to list
``ok``            none of the above
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import Connection

from monitor.config import Defaults, Settings
from monitor.output import human_duration
from monitor.store.models import Snapshot
from monitor.store.queries import failed_folders
from monitor.views import _queries as vq
from monitor.views._common import Moment, TargetInfo, View, all_targets, local
from monitor.views.daily import day_counts

HealthState = Literal["never_polled", "down", "failing", "suspect", "stale", "partial", "ok"]
#: The states, worst first.
HEALTH_STATES: tuple[HealthState, ...] = (
    "never_polled", "down", "failing", "suspect", "stale", "partial", "ok",
)  # fmt: skip

_DEFAULTS = Defaults()


class Health(View):
    """How a target is doing, and why."""

    state: HealthState = Field(description="The worst state that applies (see the module doc).")
    reasons: list[str] = Field(description="Every problem that applies, one sentence each.")
    failures: int = Field(description="Polls that failed in a row, up to the latest.")
    failing_since: Moment | None = Field(description="When the first of those failures started.")
    last_arrival: Moment | None = Field(description="When a new file last arrived (None: never).")


class LastPoll(View):
    """The latest snapshot of a target."""

    snapshot: int = Field(description="Snapshot id.")
    status: str = Field(description="complete, partial, failed or suspect.")
    started_at: Moment = Field(description="When the poll started.")
    finished_at: Moment = Field(description="When it was recorded.")
    files: int = Field(description="Files the listing held.")
    bytes: int = Field(description="Bytes of those files.")
    failed_folders: int = Field(description="Folders whose listing failed.")
    error: str | None = Field(description="Why the poll failed or was held.")


class Pending(View):
    """Batches still to review (review status ``new``)."""

    open: int = Field(description="Still growing (not settled yet).")
    settled: int = Field(description="Settled: complete and quiet, ready to review.")


class Arrivals(View):
    """Files added on one local day (as ``monitor diff --day`` counts them)."""

    day: date = Field(description="The local day.")
    files: int = Field(description="Files added.")
    bytes: int = Field(description="Bytes of the files added.")


class TargetCard(View):
    """One target on the dashboard."""

    name: str = Field(description="Target name.")
    kind: str = Field(description="Source kind: local, http, ...")
    configured: bool = Field(description="False: only the database knows it (removed from config).")
    enabled: bool | None = Field(description="Polled by the daemon (None: not configured).")
    health: Health
    last_poll: LastPoll | None = Field(description="The latest snapshot (None: never polled).")
    files: int | None = Field(description="Files now (the latest applied snapshot).")
    bytes: int | None = Field(description="Bytes of those files.")
    pending: Pending
    arrivals: list[Arrivals] = Field(description="Files added per day, oldest day first.")


class Totals(View):
    """Sums over every target."""

    targets: int = Field(description="Targets shown.")
    files: int = Field(description="Files now, over every target.")
    bytes: int = Field(description="Bytes now, over every target.")
    pending: Pending
    health: dict[str, int] = Field(description="Targets in each health state.")
    arrivals: list[Arrivals] = Field(description="Files added per day over every target.")


class Dashboard(View):
    """The dashboard page."""

    generated_at: Moment = Field(description="The moment the health was judged at.")
    timezone: str = Field(description="The zone days and times are in.")
    days: list[date] = Field(description="The days the arrival charts cover, oldest first.")
    targets: list[TargetCard]
    totals: Totals


def dashboard(
    conn: Connection, settings: Settings, *, now: datetime, zone: ZoneInfo, days: int = 14
) -> Dashboard:
    """Every target (configured ones in config order, then unconfigured ones known to the
    database), with arrivals over the last ``days`` local days, today included."""
    today = now.astimezone(zone).date()
    start = today - timedelta(days=max(1, days) - 1)
    pending = vq.pending_batches(conn)
    cards = [
        _card(conn, t, pending.get(t.id or -1, {}), now=now, zone=zone, start=start, end=today)
        for t in all_targets(conn, settings)
    ]
    day_list = [a.day for a in cards[0].arrivals] if cards else []
    return Dashboard(
        generated_at=now.astimezone(zone),
        timezone=zone.key,
        days=day_list,
        targets=cards,
        totals=_totals(cards, day_list),
    )


def _card(
    conn: Connection,
    target: TargetInfo,
    pending: dict[str, int],
    *,
    now: datetime,
    zone: ZoneInfo,
    start: date,
    end: date,
) -> TargetCard:
    last, applied = vq.latest_snapshots(conn, target.id) if target.id else (None, None)
    arrivals = [
        Arrivals(day=d.day, files=d.files_added, bytes=d.bytes_added)
        for d in day_counts(conn, target.id, start, end, zone)
    ]
    return TargetCard(
        name=target.name,
        kind=target.kind,
        configured=target.config is not None,
        enabled=None if target.config is None else target.config.enabled,
        health=target_health(conn, target, now=now, zone=zone),
        last_poll=None if last is None else _last_poll(last, zone),
        files=None if applied is None else applied.files,
        bytes=None if applied is None else applied.total_bytes,
        pending=Pending(open=pending.get("open", 0), settled=pending.get("settled", 0)),
        arrivals=arrivals,
    )


def _last_poll(snap: Snapshot, zone: ZoneInfo) -> LastPoll:
    assert snap.id is not None
    return LastPoll(
        snapshot=snap.id,
        status=snap.status,
        started_at=snap.started_at.astimezone(zone),
        finished_at=snap.finished_at.astimezone(zone),
        files=snap.files,
        bytes=snap.total_bytes,
        failed_folders=len(failed_folders(snap)),
        error=snap.error,
    )


def target_health(conn: Connection, target: TargetInfo, *, now: datetime, zone: ZoneInfo) -> Health:
    """The health of one target at ``now`` (see the module doc for the states)."""
    last = vq.latest_snapshots(conn, target.id)[0] if target.id is not None else None
    if target.id is None or last is None or last.id is None:
        return Health(
            state="never_polled", reasons=["never polled"], failures=0,
            failing_since=None, last_arrival=None,
        )  # fmt: skip
    rules = target.config or _DEFAULTS
    failures, since = vq.failure_streak(conn, target.id)
    last_arrival, quiet = vq.quiet_since(conn, target.id)
    found: list[tuple[HealthState, str]] = []
    if failures:
        state: HealthState = "down" if failures >= rules.down_after else "failing"
        found.append((state, f"{failures} poll(s) failed in a row: {last.error or 'failed'}"))
    held = last.status == "suspect" and vq.is_held(conn, last.id)
    if held:
        found.append(("suspect", f"snapshot {last.id} is held: {last.error or 'suspect'}"))
    if rules.stale_after is not None and quiet is not None and now - quiet >= rules.stale_after:
        found.append(("stale", f"no new file for {human_duration(rules.stale_after)} or more"))
    if last.status == "partial":
        found.append(("partial", f"{len(failed_folders(last))} folder(s) failed to list"))
    found.sort(key=lambda item: HEALTH_STATES.index(item[0]))
    return Health(
        state=found[0][0] if found else "ok",
        reasons=[reason for _, reason in found],
        failures=failures,
        failing_since=local(since, zone) if failures else None,
        last_arrival=local(last_arrival, zone),
    )


def _totals(cards: list[TargetCard], days: list[date]) -> Totals:
    health = {state: 0 for state in HEALTH_STATES}
    for card in cards:
        health[card.health.state] += 1
    arrivals = [
        Arrivals(
            day=day,
            files=sum(c.arrivals[i].files for c in cards),
            bytes=sum(c.arrivals[i].bytes for c in cards),
        )
        for i, day in enumerate(days)
    ]
    return Totals(
        targets=len(cards),
        files=sum(c.files or 0 for c in cards),
        bytes=sum(c.bytes or 0 for c in cards),
        pending=Pending(
            open=sum(c.pending.open for c in cards),
            settled=sum(c.pending.settled for c in cards),
        ),
        health=health,
        arrivals=arrivals,
    )
