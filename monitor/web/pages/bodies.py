"""Archived bodies of a batch's files: the download route and the text previews.

``/batches/{id}/files/{version}/body`` serves the archived body of the batch's file that holds
that version through :func:`monitor.web.files.archived_body`: an attachment, unless
``?inline=1`` asks to show it and its detected type is PNG, JPEG, GIF or WebP.

:func:`text_preview` reads the first few KiB of a textual body from the blob store for the
batch page, as text: never rendered as HTML (the template escapes it), with control, bidi and
zero-width characters made visible.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from monitor.archive.blobs import BlobStore, open_blob_store
from monitor.archive.textdiff import is_textual
from monitor.errors import MonitorError
from monitor.views.batches import BatchFileRow, batch_file
from monitor.web.api._base import MAX_ID, BatchId
from monitor.web.deps import CurrentUser, SettingsDep, StoreDep, web_state
from monitor.web.files import archived_body, shows_inline
from monitor.web.pages._review import view_errors

router = APIRouter(include_in_schema=False)

#: Bytes of a text body shown on the batch page.
PREVIEW_BYTES = 4096
# What a <pre> must not show as is: control characters but tab and newline, bidi overrides,
# zero-width characters, lone surrogates.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)


@dataclass(frozen=True, slots=True)
class TextPreview:
    """The start of a text body."""

    text: str
    truncated: bool


def blob_store(request: Request) -> BlobStore:
    """The app's blob store, opened on first use; 503 when it cannot be opened."""
    state = web_state(request)
    found = state.extra.get("blob_store")
    if isinstance(found, BlobStore):
        return found
    try:
        opened = open_blob_store(state.settings)
    except MonitorError as exc:
        raise HTTPException(503, f"the archive cannot be read: {exc.message}") from exc
    state.extra["blob_store"] = opened
    return opened


def body_url(batch_id: int, file: BatchFileRow, *, inline: bool = False) -> str:
    url = f"/batches/{batch_id}/files/{file.version_id}/body"
    return url + "?inline=1" if inline else url


def shows_image(file: BatchFileRow) -> bool:
    """Whether the page may show the file's archived body in an <img>."""
    return file.archive.archived and shows_inline(file.archive.mime)


def may_be_text(file: BatchFileRow) -> bool:
    return file.archive.archived and bool(file.archive.size) and is_textual(file.archive.mime)


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def text_preview(store: BlobStore, sha256: str, cap: int = PREVIEW_BYTES) -> TextPreview | None:
    """The first ``cap`` bytes of a body as text; None when it is binary (holds NUL) or the
    store cannot read it."""
    data = bytearray()
    try:
        for chunk in store.read(sha256):
            data += chunk
            if len(data) > cap:
                break
    except MonitorError:
        return None
    truncated = len(data) > cap
    head = bytes(data[:cap])
    if b"\x00" in head:
        return None
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    text = decoder.decode(head, final=not truncated).replace("\r\n", "\n")
    return TextPreview(_INVISIBLE.sub(_visible, text), truncated)


@router.get("/batches/{batch_id}/files/{version_id}/body", name="batch_file_body")
def batch_file_body(
    request: Request,
    batch_id: BatchId,
    version_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    user: CurrentUser,
    settings: SettingsDep,
    store: StoreDep,
    inline: bool = False,
) -> Response:
    """The archived body of one file of a batch (an attachment unless a safe image)."""
    with view_errors(), store.read() as conn:
        file = batch_file(conn, settings, batch_id, version_id, zone=settings.zone)
    sha256 = file.archive.sha256
    if not file.archive.archived or sha256 is None:
        raise HTTPException(404, "this file's body is not archived")
    blobs = blob_store(request)
    if not blobs.exists(sha256):
        raise HTTPException(404, "the archived body is missing from the archive store")
    return archived_body(
        blobs.read(sha256),
        name=file.path,
        media_type=file.archive.mime,
        size=file.archive.size,
        inline=inline,
    )
