"""Archived bodies: downloads and previews, never rendered as a page.

- ``GET /api/blobs/{sha256}`` and ``GET /api/captures/{id}/body``: the body as an attachment
  (:func:`monitor.web.files.archived_body`); ``inline=true`` shows it in the browser only when
  its type, detected from its bytes, is PNG, JPEG, GIF or WebP. A blob is named after the
  newest capture that stored it, a capture after its own path.
- ``GET /api/blobs/{sha256}/preview``: the start of a text body as ``text/plain`` (UTF-8,
  undecodable bytes replaced), for the batch page; 404 for a body that is not text.

Every one carries ``nosniff`` and a sandboxing CSP, so not even an HTML body runs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import HTTPException, Path, Query, Request
from sqlalchemy import Connection, select
from starlette.responses import Response

from monitor.archive.blobs import BlobStore, open_blob_store
from monitor.store import archive_queries as aq
from monitor.store.models import Blob
from monitor.store.queries import capture_t
from monitor.web.api._base import MAX_ID, NOT_FOUND, api_router
from monitor.web.deps import StoreDep, web_state
from monitor.web.files import INLINE_TYPES, SANDBOX_CSP, archived_body, content_disposition

router = api_router()

#: How much of a text body a preview shows.
PREVIEW_BYTES = 64 * 1024
TEXT_TYPES = ("text/", "application/json", "application/xml")

Sha256 = Annotated[
    str, Path(pattern=r"^[0-9a-f]{64}$", description="The body's SHA-256, lowercase hex.")
]
Inline = Annotated[
    bool, Query(description="Show a PNG, JPEG, GIF or WebP in the browser; else ignored.")
]
BINARY = {"schema": {"type": "string", "format": "binary"}}
BODY_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The archived body: an attachment, or an image shown inline.",
        "content": {"application/octet-stream": BINARY, **{t: BINARY for t in INLINE_TYPES}},
    },
    **NOT_FOUND,
}
PREVIEW_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The start of a text body.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    },
    **NOT_FOUND,
}


def blob_store(request: Request) -> BlobStore:
    """The app's blob store, opened on first use."""
    extra = web_state(request).extra
    if "blob_store" not in extra:
        extra["blob_store"] = open_blob_store(web_state(request).settings)
    store: BlobStore = extra["blob_store"]
    return store


def _blob(conn: Connection, sha256: str) -> Blob:
    blob = aq.blobs_by_hash(conn, [sha256]).get(sha256)
    if blob is None:
        raise HTTPException(404, f"no archived body {sha256}")
    return blob


def _name_of(conn: Connection, sha256: str) -> str:
    stmt = (
        select(capture_t.c.path)
        .where(capture_t.c.sha256 == sha256)
        .order_by(capture_t.c.id.desc())
        .limit(1)
    )
    path = conn.execute(stmt).scalar()
    return str(path) if path is not None else sha256


def _serve(request: Request, blob: Blob, name: str, inline: bool) -> Response:
    chunks = blob_store(request).read(blob.sha256)  # BlobMissing (404) before any byte
    return archived_body(chunks, name=name, media_type=blob.mime, size=blob.size, inline=inline)


@router.get(
    "/blobs/{sha256}",
    response_class=Response,
    responses=BODY_RESPONSE,
    summary="An archived body",
)
def get_blob(request: Request, sha256: Sha256, store: StoreDep, inline: Inline = False) -> Response:
    """The body stored under ``sha256``."""
    with store.read() as conn:
        blob = _blob(conn, sha256)
        name = _name_of(conn, sha256)
    return _serve(request, blob, name, inline)


@router.get(
    "/captures/{capture_id}/body",
    response_class=Response,
    responses=BODY_RESPONSE,
    summary="The body one capture archived",
)
def get_capture_body(
    request: Request,
    capture_id: Annotated[int, Path(ge=1, le=MAX_ID, description="Capture id.")],
    store: StoreDep,
    inline: Inline = False,
) -> Response:
    """The body capture ``capture_id`` stored (404 if it stored none: failed or skipped)."""
    with store.read() as conn:
        row = conn.execute(
            select(capture_t.c.path, capture_t.c.sha256, capture_t.c.status).where(
                capture_t.c.id == capture_id
            )
        ).first()
        if row is None:
            raise HTTPException(404, f"no capture {capture_id}")
        if row.status != "complete" or row.sha256 is None:
            raise HTTPException(404, f"capture {capture_id} stored no body ({row.status})")
        blob = _blob(conn, str(row.sha256))
    return _serve(request, blob, str(row.path), inline)


@router.get(
    "/blobs/{sha256}/preview",
    response_class=Response,
    responses=PREVIEW_RESPONSE,
    summary="The start of a text body",
)
def get_preview(request: Request, sha256: Sha256, store: StoreDep) -> Response:
    """The first 64 KiB of a text body as ``text/plain``; 404 for any other type."""
    with store.read() as conn:
        blob = _blob(conn, sha256)
        name = _name_of(conn, sha256)
    if not (blob.mime or "").startswith(TEXT_TYPES):
        raise HTTPException(404, f"no text preview: the body is {blob.mime or 'of unknown type'}")
    head = bytearray()
    for chunk in blob_store(request).read(sha256):
        head += chunk[: PREVIEW_BYTES - len(head)]
        if len(head) >= PREVIEW_BYTES:
            break
    text = head.decode("utf-8", errors="replace")
    headers = {
        "Content-Disposition": content_disposition(name, inline=True),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX_CSP,
        "Cache-Control": "private, no-store",
        "X-Preview-Truncated": "true" if blob.size > PREVIEW_BYTES else "false",
    }
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)
