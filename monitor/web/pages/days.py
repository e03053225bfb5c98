"""The day diff page of a target, and its CSV and JSON exports.

``/targets/{name}/days/{YYYY-MM-DD}`` shows what changed that local day (the same diff as
``monitor diff --day``) as a folder tree with counts and bytes per folder, filtered by a GET
form: ``kind`` (repeated: added, removed, modified, moved), ``path`` (substring or glob),
``min_size`` (``10k``, ``2MiB`` or bytes), ``ext`` (``png, txt``) and ``folder``.
``/targets/{name}/days/today`` redirects to today's date.

``….csv`` and ``….json`` export the same filtered changes: the JSON is the object
``monitor diff --format json`` prints, the CSV its ``--format csv`` rows plus ``url`` (a cell
a spreadsheet would run as a formula starts with a quote).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from monitor.config import Settings
from monitor.config.values import parse_size
from monitor.output import to_json
from monitor.store import Store
from monitor.views.days import CHANGE_KINDS, DayDiff, DayFilters, day_diff
from monitor.views.feed import ChangeRow, csv_text, day_rows
from monitor.web.api._base import FIRST_DAY, LAST_DAY
from monitor.web.deps import CurrentUser, SettingsDep, StoreDep, web_state
from monitor.web.pages._overview import history_url
from monitor.web.pages._review import export, link, render, view_errors

router = APIRouter(include_in_schema=False)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Changes the page lists in its tree at most (the counts are never cut).
TREE_LIMIT = 1000
#: Changes an export holds at most.
EXPORT_LIMIT = 10_000_000
#: The JSON export's keys: the object ``monitor diff --format json`` prints.
DIFF_KEYS = ("target", "from", "to", "added", "removed", "modified", "moved", "summary")


def parse_day(text: str) -> date:
    """A ``YYYY-MM-DD`` day of a URL; 404 for anything else."""
    try:
        if _DAY.fullmatch(text) and FIRST_DAY <= (day := date.fromisoformat(text)) <= LAST_DAY:
            return day
    except ValueError:
        pass
    raise HTTPException(404, f"not a day: {text!r} (use YYYY-MM-DD, {FIRST_DAY} to {LAST_DAY})")


def parse_filters(request: Request) -> DayFilters:
    """The filters of the page's GET form; 400 when one cannot be used."""
    params = request.query_params
    kinds = [k for k in params.getlist("kind") if k]
    unknown = sorted(set(kinds) - set(CHANGE_KINDS))
    if unknown:
        raise HTTPException(
            400, f"unknown change kind {unknown[0]!r}; use {', '.join(CHANGE_KINDS)}"
        )
    min_size = None
    if params.get("min_size", "").strip():
        try:
            min_size = parse_size(params["min_size"])
        except ValueError as exc:
            raise HTTPException(400, f"minimum size: {exc}") from exc
    types = [t for t in re.split(r"[\s,;]+", params.get("ext", "")) if t.strip(".")]
    return DayFilters(
        kinds=kinds or None,
        path=params.get("path") or None,
        min_size=min_size,
        types=types,
        folder=params.get("folder", "").strip("/") or None,
    )


def filter_query(request: Request) -> dict[str, Any]:
    """The form's values as they came, to keep in links (exports, days, folders)."""
    params = request.query_params
    query: dict[str, Any] = {"kind": params.getlist("kind")}
    for key in ("path", "min_size", "ext", "folder"):
        query[key] = params.get(key)
    return query


def _diff(
    request: Request, store: Store, settings: Settings, name: str, day: date, **caps: int
) -> DayDiff:
    filters = parse_filters(request)
    with view_errors(), store.read() as conn:
        return day_diff(
            conn,
            settings,
            name,
            day,
            zone=settings.zone,
            filters=filters,
            **caps,
        )


@router.get("/targets/{name}/days/{day}.csv", name="day_csv")
def day_csv(
    request: Request,
    name: str,
    day: str,
    user: CurrentUser,
    settings: SettingsDep,
    store: StoreDep,
) -> Response:
    diff = _diff(request, store, settings, name, parse_day(day), limit=EXPORT_LIMIT, tree_limit=0)
    text = csv_text(day_rows(diff), ChangeRow, zone=settings.zone)
    return export(text, filename=f"{name}-{day}.csv", media_type="text/csv")


@router.get("/targets/{name}/days/{day}.json", name="day_json")
def day_json(
    request: Request,
    name: str,
    day: str,
    user: CurrentUser,
    settings: SettingsDep,
    store: StoreDep,
) -> Response:
    diff = _diff(request, store, settings, name, parse_day(day), limit=EXPORT_LIMIT, tree_limit=0)
    data = diff.model_dump(mode="json")
    report = {key: data[key] for key in DIFF_KEYS}
    return export(
        to_json(report) + "\n", filename=f"{name}-{day}.json", media_type="application/json"
    )


@router.get("/targets/{name}/days/{day}", name="day")
def day_page(
    request: Request,
    name: str,
    day: str,
    user: CurrentUser,
    settings: SettingsDep,
    store: StoreDep,
) -> Response:
    if day == "today":
        today = web_state(request).clock().astimezone(settings.zone).date()
        target = link(f"/targets/{_seg(name)}/days/{today.isoformat()}", **filter_query(request))
        return RedirectResponse(target, status_code=303)
    the_day = parse_day(day)
    diff = _diff(request, store, settings, name, the_day, limit=0, tree_limit=TREE_LIMIT)
    query = filter_query(request)
    base = f"/targets/{_seg(name)}/days"
    today = web_state(request).clock().astimezone(settings.zone).date()
    context = {
        "diff": diff,
        "query": query,
        "kinds": CHANGE_KINDS,
        "base": base,
        "target_url": f"/targets/{_seg(name)}",
        "history": lambda path: history_url(name, path),
        "previous_day": link(f"{base}/{the_day - timedelta(days=1)}", **query),
        "next_day": link(f"{base}/{the_day + timedelta(days=1)}", **query)
        if the_day < today
        else None,
        "folder_url": lambda folder: link(f"{base}/{the_day}", **{**query, "folder": folder}),
        "csv_url": link(f"{base}/{the_day}.csv", **query),
        "json_url": link(f"{base}/{the_day}.json", **query),
        "filtered": any(v for v in query.values()),
    }
    return render(request, "day.html", context)


def _seg(name: str) -> str:
    """A target name as one URL path segment."""
    return quote(name, safe="")
