"""A target's page at ``/targets/{name}``: changes per day as charts, and its snapshots.

``?days=`` picks the range (the days up to today, :data:`RANGES` offered as presets);
``?offset=`` pages the snapshots, :data:`SNAPSHOTS_PER_PAGE` at a time, newest first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from monitor.views.daily import MAX_DAYS, DayCounts
from monitor.views.targets import target_page
from monitor.web.api._base import MAX_OFFSET
from monitor.web.deps import CurrentUser, SettingsDep, StoreDep
from monitor.web.pages._overview import (
    Chart,
    Series,
    bar_chart,
    now_of,
    paging,
    render,
    size,
    view_errors,
    zone_of,
)

router = APIRouter(include_in_schema=False)

#: The range presets, in days up to today.
RANGES = (14, 30, 90)
SNAPSHOTS_PER_PAGE = 25


@router.get("/targets/{name}", name="target")
def target(
    request: Request,
    name: str,
    user: CurrentUser,
    settings: SettingsDep,
    store: StoreDep,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    now = now_of(request)
    zone = zone_of(request)
    end = now.astimezone(zone).date()
    with view_errors(), store.read() as conn:
        view = target_page(
            conn,
            settings,
            name,
            now=now,
            zone=zone,
            start=end - timedelta(days=days - 1),
            end=end,
            offset=offset,
            limit=SNAPSHOTS_PER_PAGE,
        )
    snaps = view.snapshots
    context = {
        "view": view,
        "days": days,
        "ranges": RANGES,
        "files_chart": files_chart(view.days),
        "bytes_chart": bytes_chart(view.days),
        "changed_days": [d for d in reversed(view.days) if _changed(d)],
        "pages": paging(request, offset=snaps.offset, limit=snaps.limit, total=snaps.total),
    }
    return render(request, "target.html", context)


def _changed(day: DayCounts) -> bool:
    return bool(day.added or day.removed or day.modified or day.moved)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def files_chart(days: list[DayCounts]) -> Chart:
    """Files added, removed and modified per day, side by side."""
    series = [
        Series(
            kind,
            [getattr(d, f"files_{kind}") for d in days],
            [f"{d.day}: {_plural(getattr(d, f'files_{kind}'), 'file')} {kind}" for d in days],
        )
        for kind in ("added", "removed", "modified")
    ]
    totals = ", ".join(f"{sum(s.values):,} {s.kind}" for s in series)
    label = f"Files added, removed and modified per day, {days[0].day} to {days[-1].day}: {totals}"
    return bar_chart(series, label=label, height=60, bar=4)


def bytes_chart(days: list[DayCounts]) -> Chart:
    """Bytes of the files added, removed and modified per day, side by side."""
    series = [
        Series(
            kind,
            [getattr(d, f"bytes_{kind}") for d in days],
            [f"{d.day}: {size(getattr(d, f'bytes_{kind}'))} {kind}" for d in days],
        )
        for kind in ("added", "removed", "modified")
    ]
    totals = ", ".join(f"{size(sum(s.values))} {s.kind}" for s in series)
    label = f"Bytes added, removed and modified per day, {days[0].day} to {days[-1].day}: {totals}"
    return bar_chart(series, label=label, height=60, bar=4)
