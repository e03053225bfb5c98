"""Serving archived bodies: what a watched server sent is never run or rendered by the UI.

Use :func:`archived_body` for every download or preview of an archived file::

    store = open_blob_store(...)
    return archived_body(store.read(sha256), name=path, media_type=blob.mime,
                         size=blob.size, inline=True)

- The body is an attachment (``Content-Disposition: attachment``, ``application/octet-stream``)
  unless ``inline`` is asked for *and* its type (detected from the bytes) is PNG, JPEG, GIF or
  WebP; SVG (which can hold script) and everything else is never inline.
- ``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: sandbox`` (no script, no
  same origin, nothing loaded) on every one.
- The file name is the last segment of the server's path, cleaned for a header: an ASCII
  ``filename="..."`` (anything else becomes ``_``) and the real name in ``filename*``
  (RFC 6266 / RFC 5987, UTF-8, percent-encoded); control characters, quotes, ``/`` and ``\\``
  never reach the header.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterable, Iterable
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

#: Types shown in the page (in ``<img>``) and opened in the browser: raster images only.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
SANDBOX_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'none'"
FALLBACK_NAME = "download"
MAX_NAME_CHARS = 150
# Control characters, surrogates (undecodable bytes), bidi overrides, zero-width characters.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)
# What the quoted ASCII name keeps; ``%`` too is replaced (some browsers decode it).
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9!#$&'()*+,\-.^_`{|}~ =@\[\]]")
_RFC5987_SAFE = "!#$&+-.^_`|~"


def header_file_name(path: str) -> str:
    """The name to offer for a server path: its last segment, with nothing a header or a file
    system could misread (``../../etc/passwd`` → ``passwd``; ``..`` → ``download``)."""
    last = re.split(r"[/\\]", path)[-1]
    text = unicodedata.normalize("NFC", _UNSAFE.sub("_", last))
    text = text.replace('"', "_").strip(" .")
    if len(text) > MAX_NAME_CHARS:
        _, dot, suffix = text.rpartition(".")
        keep = suffix if dot and len(suffix) <= 16 else ""
        text = text[: MAX_NAME_CHARS - len(keep) - 1].rstrip(" .") + ("." + keep if keep else "")
    return text or FALLBACK_NAME


def content_disposition(path: str, *, inline: bool = False) -> str:
    """``attachment; filename="ascii"; filename*=UTF-8''percent-encoded``."""
    name = header_file_name(path)
    ascii_name = _NOT_PLAIN.sub("_", name)
    encoded = quote(name, safe=_RFC5987_SAFE)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"


def shows_inline(media_type: str | None) -> bool:
    """Whether a body of this type (detected from its bytes) may be shown in the page."""
    return (media_type or "").split(";")[0].strip().lower() in INLINE_TYPES


def archived_body(
    body: bytes | Iterable[bytes] | AsyncIterable[bytes],
    *,
    name: str,
    media_type: str | None = None,
    size: int | None = None,
    inline: bool = False,
) -> Response:
    """A response for an archived body named by the server path ``name``.

    ``media_type`` is the type detected from the bytes (never from the name); ``inline`` asks
    to show it in the browser, granted only for :data:`INLINE_TYPES`. A sync iterable (a blob
    store's ``read``) is streamed from a thread.
    """
    show = inline and shows_inline(media_type)
    kind = (media_type or "").split(";")[0].strip().lower() if show else "application/octet-stream"
    headers = {
        "Content-Disposition": content_disposition(name, inline=show),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX_CSP,
        "Cache-Control": "private, no-store",
    }
    if isinstance(body, bytes):
        return Response(body, media_type=kind, headers=headers)
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(body, media_type=kind, headers=headers)
