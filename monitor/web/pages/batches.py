"""The batches list and a batch's page, their review forms and their exports.

- ``GET /batches``: batches newest first, filtered by ``target``, ``review`` (new, reviewed,
  flagged, dismissed) and ``status`` (open, settled), 50 a page (``offset``); each row has a
  checkbox for the bulk form.
- ``POST /batches/review``: the bulk form: ``batch`` (repeated ids), ``status``, ``note``; one
  review event per batch; back to the list (``back``).
- ``GET /batches/{id}``: its files with previews of archived bodies, the review form, the
  review trail, and the next and previous batches still to review.
- ``POST /batches/{id}/review``: ``status`` (the button pressed) and ``note``; a note alone
  is added without changing the status; back to the batch.
- ``GET /batches/{id}.csv`` / ``.json``: every file of the batch (JSON: with the batch and its
  trail).

Forms post and redirect (303), so everything works without script; ``static/review.js``
adds the keyboard shortcuts.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import Field

from monitor.config import Settings
from monitor.output import to_json
from monitor.store import Store
from monitor.store.models import BATCH_STATUSES, REVIEW_STATUSES
from monitor.views._common import all_targets
from monitor.views.batches import (
    BatchDetail,
    add_note,
    batch_detail,
    batch_list,
    review,
    review_many,
)
from monitor.views.feed import BatchFileExportRow, batch_rows, csv_text
from monitor.web.api._base import MAX_ID, BatchId, Offset
from monitor.web.deps import CurrentUser, SettingsDep, StoreDep, web_state
from monitor.web.pages._overview import history_url
from monitor.web.pages._review import export, link, render, view_errors
from monitor.web.pages.bodies import (
    blob_store,
    body_url,
    may_be_text,
    shows_image,
    text_preview,
)

router = APIRouter(include_in_schema=False)

#: Batches a page of the list holds.
PAGE = 50
#: Files a batch page holds.
FILES_PAGE = 200
#: Text previews a batch page shows at most (each reads a blob).
TEXT_PREVIEWS = 20
#: The buttons of the review form: status, label, key.
REVIEW_BUTTONS = [
    ("reviewed", "Reviewed", "r"),
    ("flagged", "Flagged", "f"),
    ("dismissed", "Dismissed", "d"),
    ("new", "Back to new", None),
]


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


@router.get("/batches", name="batches")
def batches_page(
    request: Request,
    user: CurrentUser,
    settings: SettingsDep,
    store: StoreDep,
    target: str | None = None,
    review: str | None = None,
    status: str | None = None,
    offset: Offset = 0,
) -> Response:
    query = {
        "target": target or None,
        "review": _choice(review, REVIEW_STATUSES),
        "status": _choice(status, BATCH_STATUSES),
    }
    with view_errors(), store.read() as conn:
        targets = [t.name for t in all_targets(conn, settings) if t.id is not None]
        if query["target"] is not None and query["target"] not in targets:
            raise HTTPException(404, f"no target named {target!r} has batches")
        page = batch_list(
            conn,
            zone=settings.zone,
            target=query["target"],
            review=query["review"],
            status=query["status"],
            offset=max(0, offset),
            limit=PAGE,
        )
    here = link("/batches", **query, offset=page.offset or None)
    context = {
        "page": page,
        "query": query,
        "targets": targets,
        "reviews": REVIEW_STATUSES,
        "statuses": BATCH_STATUSES,
        "here": here,
        "previous_page": link("/batches", **query, offset=max(0, page.offset - PAGE) or None)
        if page.offset > 0
        else None,
        "next_page": link("/batches", **query, offset=page.offset + PAGE)
        if page.offset + PAGE < page.total
        else None,
    }
    return render(request, "batches.html", context)


def _back(value: str, default: str) -> str:
    """A page of this site to return to (never another site: ``//host`` or ``/\\host``)."""
    if value.startswith("/") and not value.startswith(("//", "/\\")) and "\n" not in value:
        return value
    return default


@router.post("/batches/review", name="review_batches")
def review_batches(
    request: Request,
    user: CurrentUser,
    store: StoreDep,
    settings: SettingsDep,
    status: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    batch: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None, Form()] = None,
    back: Annotated[str, Form()] = "/batches",
) -> Response:
    """The bulk form of the list: one status and one note for every batch ticked."""
    if not batch:
        raise HTTPException(400, "Tick at least one batch to review.")
    if status not in REVIEW_STATUSES:
        raise HTTPException(400, "Choose the status to give the batches.")
    with view_errors(), store.write() as conn:
        review_many(
            conn,
            batch,
            status=status,
            actor=user,
            now=web_state(request).clock(),
            zone=settings.zone,
            note=note.strip() or None,
        )
    return RedirectResponse(_back(back, "/batches"), status_code=303)


@router.get("/batches/{batch_id}.csv", name="batch_csv")
def batch_csv(
    batch_id: BatchId, user: CurrentUser, settings: SettingsDep, store: StoreDep
) -> Response:
    with view_errors(), store.read() as conn:
        rows = batch_rows(conn, settings, batch_id, zone=settings.zone)
    text = csv_text(rows, BatchFileExportRow, zone=settings.zone)
    return export(text, filename=f"batch-{batch_id}.csv", media_type="text/csv")


@router.get("/batches/{batch_id}.json", name="batch_json")
def batch_json(
    batch_id: BatchId, user: CurrentUser, settings: SettingsDep, store: StoreDep
) -> Response:
    with view_errors(), store.read() as conn:
        detail = batch_detail(conn, settings, batch_id, zone=settings.zone, limit=1)
        rows = batch_rows(conn, settings, batch_id, zone=settings.zone)
    data = {
        "batch": detail.batch.model_dump(mode="json"),
        "files": [r.model_dump(mode="json") for r in rows],
        "events": [e.model_dump(mode="json") for e in detail.events],
    }
    return export(
        to_json(data) + "\n", filename=f"batch-{batch_id}.json", media_type="application/json"
    )


@router.get("/batches/{batch_id}", name="batch")
def batch_page(
    request: Request,
    batch_id: BatchId,
    user: CurrentUser,
    settings: SettingsDep,
    store: StoreDep,
    offset: Offset = 0,
) -> Response:
    detail = _detail(store, settings, batch_id, max(0, offset))
    context = {
        "detail": detail,
        "b": detail.batch,
        "buttons": REVIEW_BUTTONS,
        "history": lambda path: history_url(detail.batch.target, path),
        "body_url": lambda file, inline=False: body_url(batch_id, file, inline=inline),
        "shows_image": shows_image,
        "previews": _previews(request, detail),
        "previous_page": link(f"/batches/{batch_id}", offset=max(0, offset - FILES_PAGE) or None)
        if detail.files.offset > 0
        else None,
        "next_page": link(f"/batches/{batch_id}", offset=detail.files.offset + FILES_PAGE)
        if detail.files.offset + FILES_PAGE < detail.files.total
        else None,
    }
    return render(request, "batch.html", context)


def _detail(store: Store, settings: Settings, batch_id: int, offset: int) -> BatchDetail:
    with view_errors(), store.read() as conn:
        return batch_detail(
            conn, settings, batch_id, zone=settings.zone, offset=offset, limit=FILES_PAGE
        )


def _previews(request: Request, detail: BatchDetail) -> dict[int, Any]:
    """Text previews of the first archived text bodies, by version id."""
    texts = [f for f in detail.files.items if may_be_text(f)][:TEXT_PREVIEWS]
    if not texts:
        return {}
    try:
        blobs = blob_store(request)
    except HTTPException:
        return {}
    found: dict[int, Any] = {}
    for file in texts:
        if file.archive.sha256 is not None:
            found[file.version_id] = text_preview(blobs, file.archive.sha256)
    return found


@router.post("/batches/{batch_id}/review", name="review_batch")
def review_batch(
    request: Request,
    batch_id: BatchId,
    user: CurrentUser,
    settings: SettingsDep,
    store: StoreDep,
    status: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """The batch page's form: a status (the button pressed) with an optional note, or a note."""
    text = note.strip() or None
    if status and status not in REVIEW_STATUSES:
        raise HTTPException(400, f"unknown review status {status!r}")
    if not status and text is None:
        raise HTTPException(400, "Choose a status or write a note.")
    now, zone = web_state(request).clock(), settings.zone
    with view_errors(), store.write() as conn:
        if status:
            review(conn, batch_id, status=status, actor=user, now=now, zone=zone, note=text)
        else:
            add_note(conn, batch_id, note=note, actor=user, now=now, zone=zone)
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)
