"""The dashboard at ``/``: every target's health, last poll, batches to review and arrivals."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from monitor.views.dashboard import Arrivals, dashboard
from monitor.web.deps import CurrentUser, SettingsDep, StoreDep
from monitor.web.pages._overview import Chart, Series, bar_chart, now_of, render, size, zone_of

router = APIRouter(include_in_schema=False)

#: Days the arrival charts cover, today included.
DAYS = 14


@router.get("/", name="dashboard")
def dashboard_page(
    request: Request, user: CurrentUser, settings: SettingsDep, store: StoreDep
) -> Response:
    with store.read() as conn:
        view = dashboard(conn, settings, now=now_of(request), zone=zone_of(request), days=DAYS)
    charts = {card.name: arrivals_chart(card.arrivals, card.name) for card in view.targets}
    context = {
        "board": view,
        "charts": charts,
        "total_chart": arrivals_chart(view.totals.arrivals, "every target"),
    }
    return render(request, "dashboard.html", context)


def arrivals_chart(arrivals: list[Arrivals], of: str) -> Chart:
    """Files added per day as bars, a tooltip per day."""
    titles = [
        f"{a.day.isoformat()}: {a.files:,} file{'' if a.files == 1 else 's'} added"
        f" ({size(a.bytes)})"
        for a in arrivals
    ]
    total = sum(a.files for a in arrivals)
    label = (
        f"Files added per day to {of} over the last {len(arrivals)} days: {total:,} in all, "
        f"at most {max((a.files for a in arrivals), default=0):,} on one day"
    )
    return bar_chart([Series("added", [a.files for a in arrivals], titles)], label=label)
