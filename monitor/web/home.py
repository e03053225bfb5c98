"""A placeholder for the dashboard at ``/``, until the real one replaces it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from monitor.web.deps import CurrentUser, templates

router = APIRouter()


@router.get("/", name="dashboard")
def dashboard(request: Request, user: CurrentUser) -> Response:
    return templates.TemplateResponse(request, "placeholder.html", {"title": "Dashboard"})
