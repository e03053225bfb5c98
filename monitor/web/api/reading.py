"""The pages' data: dashboard, a target, its day diff, a file's history, search, the feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.responses import Response

from monitor.views.dashboard import Dashboard, dashboard
from monitor.views.days import ChangeKind, DayDiff, DayFilters, day_diff
from monitor.views.feed import Feed, newest_batches
from monitor.views.files import FileHistory, file_history
from monitor.views.search import SearchResult, search_paths
from monitor.views.targets import TargetPage, target_page
from monitor.web.api._base import (
    MAX_TEXT,
    NOT_FOUND,
    Day,
    DayFrom,
    DayTo,
    Limit,
    Offset,
    StorableText,
    TargetFilter,
    TargetName,
    api_router,
    now_of,
    raw_query_value,
    view_response,
    zone_of,
)
from monitor.web.deps import SettingsDep, StoreDep

router = api_router()

MAX_DAY_LIMIT = 100_000

ChartDays = Annotated[int, Query(description="Days the arrival charts cover.", ge=1, le=400)]
Kinds = Annotated[
    list[ChangeKind] | None, Query(alias="kind", description="Only these kinds of change.")
]
PathFilter = Annotated[
    StorableText | None,
    Query(
        max_length=1000,
        description="A case-insensitive substring of the path, or a glob when it holds * ? or [.",
    ),
]
MinSize = Annotated[
    int | None, Query(ge=0, le=2**62, description="Only files this big or bigger (bytes).")
]
Extensions = Annotated[
    list[StorableText] | None,
    Query(alias="ext", max_length=50, description="Only files with these extensions (png)."),
]
Folder = Annotated[
    StorableText | None, Query(max_length=1000, description="Only changes under this folder.")
]
DayLimit = Annotated[
    int, Query(ge=0, le=MAX_DAY_LIMIT, description="Changes each list shows at most.")
]
TreeLimit = Annotated[
    int, Query(ge=0, le=MAX_DAY_LIMIT, description="Changes the folder tree shows at most.")
]


def day_filters(
    kind: Kinds = None,
    path: PathFilter = None,
    min_size: MinSize = None,
    ext: Extensions = None,
    folder: Folder = None,
) -> DayFilters:
    """The day diff's filters from the query string (``kind`` and ``ext`` repeat)."""
    return DayFilters(
        kinds=list(dict.fromkeys(kind)) if kind else None,
        path=path or None,
        min_size=min_size,
        types=list(ext or []),
        folder=folder or None,
    )


#: The day diff's filters, read from the query string by :func:`day_filters`.
DayFilterQuery = Annotated[DayFilters, Depends(day_filters)]


@router.get("/dashboard", response_model=Dashboard, summary="The dashboard")
def get_dashboard(
    request: Request, store: StoreDep, settings: SettingsDep, days: ChartDays = 14
) -> Response:
    """Every target with its health, last poll, batches to review and arrivals per day."""
    with store.read() as conn:
        view = dashboard(conn, settings, now=now_of(request), zone=zone_of(request), days=days)
    return view_response(view)


@router.get("/targets/{name}", response_model=TargetPage, responses=NOT_FOUND, summary="A target")
def get_target(
    request: Request,
    name: TargetName,
    store: StoreDep,
    settings: SettingsDep,
    start: DayFrom = None,
    end: DayTo = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    """Changes per day from ``start`` to ``end`` (default: the 30 days up to today, at most
    400) and a page of the target's snapshots, newest first."""
    with store.read() as conn:
        view = target_page(
            conn, settings, name, now=now_of(request), zone=zone_of(request),
            start=start, end=end, offset=offset, limit=limit,
        )  # fmt: skip
    return view_response(view)


@router.get(
    "/targets/{name}/days/{day}",
    response_model=DayDiff,
    responses=NOT_FOUND,
    summary="What changed on one day",
)
def get_day(
    request: Request,
    name: TargetName,
    day: Day,
    store: StoreDep,
    settings: SettingsDep,
    filters: DayFilterQuery,
    limit: DayLimit = 500,
    tree_limit: TreeLimit = 500,
) -> Response:
    """The day diff (``monitor diff TARGET --day DAY``), filtered; each list holds at most
    ``limit`` changes (``more`` counts the rest), the folder tree at most ``tree_limit``."""
    with store.read() as conn:
        view = day_diff(
            conn, settings, name, day, zone=zone_of(request), filters=filters,
            limit=limit, tree_limit=tree_limit,
        )  # fmt: skip
    return view_response(view)


@router.get(
    "/targets/{name}/history",
    response_model=FileHistory,
    responses=NOT_FOUND,
    summary="Every version of one path",
)
def get_history(
    request: Request,
    name: TargetName,
    store: StoreDep,
    settings: SettingsDep,
    path: Annotated[
        StorableText,
        Query(
            min_length=1,
            max_length=4096,
            description="The path, relative to the target root. An undecodable byte of a name "
            "is sent as its percent-escape (%FF), as the name's bytes are.",
        ),
    ],
) -> Response:
    """Every version ``path`` had (``monitor history TARGET PATH``), with its batch and what
    the archive holds of it."""
    raw = raw_query_value(request, "path") or path
    with store.read() as conn:
        view = file_history(conn, settings, name, raw, zone=zone_of(request))
    return view_response(view)


@router.get(
    "/search", response_model=SearchResult, responses=NOT_FOUND, summary="Search every path"
)
def get_search(
    request: Request,
    store: StoreDep,
    q: Annotated[
        StorableText,
        Query(min_length=1, max_length=MAX_TEXT, description="A substring of the path."),
    ],
    target: TargetFilter = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    """Every path ever seen that contains ``q`` (case-insensitive), with when it was first
    seen and whether it is still there; of one target when ``target`` is given."""
    with store.read() as conn:
        view = search_paths(
            conn, q, zone=zone_of(request), target=target, offset=offset, limit=limit
        )
    return view_response(view)


@router.get("/feed", response_model=Feed, responses=NOT_FOUND, summary="The newest batches")
def get_feed(
    request: Request,
    store: StoreDep,
    target: TargetFilter = None,
    settled: Annotated[bool, Query(description="Settled batches only.")] = False,
    limit: Annotated[int, Query(ge=1, le=500, description="Batches at most.")] = 50,
) -> Response:
    """The newest batches across targets (or of one), newest first."""
    with store.read() as conn:
        view = newest_batches(
            conn, zone=zone_of(request), target=target, settled_only=settled, limit=limit
        )
    return view_response(view)
