"""A file's history at ``/targets/{name}/history?path=...``: every version it had.

The path is read from the raw query string with ``surrogateescape``, so a name with a byte
that is not UTF-8 (sent as ``%FF`` by :func:`~monitor.web.pages._overview.history_url`)
reaches the view as the store holds it. Archived bodies are downloaded through the JSON API
(``/api/captures/{id}/body``) when the view names a capture; else only the SHA-256 is shown.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from monitor.views.files import file_history
from monitor.web.deps import CurrentUser, SettingsDep, StoreDep
from monitor.web.pages._overview import render, view_errors, zone_of

router = APIRouter(include_in_schema=False)


def path_param(request: Request) -> str:
    """``?path=`` exactly as sent (undecodable bytes kept as lone surrogates)."""
    query = parse_qs(request.url.query, encoding="utf-8", errors="surrogateescape")
    values = query.get("path", [])
    if not values or not values[0].strip("/"):
        raise HTTPException(400, "say which file: ?path=folder/name.ext")
    return values[0]


@router.get("/targets/{name}/history", name="file_history")
def history(
    request: Request, name: str, user: CurrentUser, settings: SettingsDep, store: StoreDep
) -> Response:
    path = path_param(request)
    with view_errors(), store.read() as conn:
        view = file_history(conn, settings, name, path, zone=zone_of(request))
    return render(request, "history.html", {"view": view})
