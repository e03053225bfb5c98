"""Search at ``/search?q=&target=``: every path ever seen that contains the words.

Results are paged (:data:`PER_PAGE`, ``?offset=``) and counted up to :data:`CAP` paths; past
that the page says it shows the first :data:`CAP`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from monitor.views._common import all_targets, resolve_target
from monitor.views.search import SearchResult, search_paths
from monitor.web.deps import CurrentUser, SettingsDep, StoreDep
from monitor.web.pages._overview import paging, render, view_errors, zone_of

router = APIRouter(include_in_schema=False)

PER_PAGE = 50
CAP = 1000


@router.get("/search", name="search")
def search(
    request: Request,
    user: CurrentUser,
    settings: SettingsDep,
    store: StoreDep,
    q: Annotated[str, Query(max_length=500)] = "",
    target: str = "",
    offset: Annotated[int, Query(ge=0, le=CAP)] = 0,
) -> Response:
    words = q.strip()
    result: SearchResult | None = None
    with view_errors(), store.read() as conn:
        names = [t.name for t in all_targets(conn, settings)]
        known = resolve_target(conn, settings, target) if target else None
        if words and (known is None or known.id is not None):
            result = search_paths(
                conn,
                words,
                zone=zone_of(request),
                target=target or None,
                offset=offset,
                limit=PER_PAGE,
                cap=CAP,
            )
    context = {
        "q": words,
        "target": target,
        "targets": names,
        "result": result,
        "cap": CAP,
        "searched": bool(words),
        "pages": None
        if result is None
        else paging(request, offset=offset, limit=PER_PAGE, total=result.total),
    }
    return render(request, "search.html", context)
