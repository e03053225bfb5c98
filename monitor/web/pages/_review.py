"""What the review pages (day diff, batches, archived bodies) share.

- :func:`view_errors`: a view's ``NotFound`` becomes 404, its ``UsageError`` 400.
- :func:`render`: a template with the helpers every review template uses: ``shown(path)``
  (a file name as text a page can show: control, bidi, zero-width and undecodable characters
  made visible; the overview pages' :func:`~monitor.web.pages._overview.shown`),
  ``size(n)`` (``1.5 KiB``), ``when(moment)`` (``2026-11-20 11:00``) and
  ``link(url, **query)`` (a URL with an encoded query).
- :func:`export`: CSV or JSON text as an attachment with a safe file name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import Response

from monitor.errors import NotFound, UsageError
from monitor.output import human_size
from monitor.web.deps import templates
from monitor.web.files import content_disposition
from monitor.web.pages._overview import shown


@contextmanager
def view_errors() -> Iterator[None]:
    """Turn the read model's errors into HTTP errors with the same message."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, exc.message) from exc
    except UsageError as exc:
        raise HTTPException(400, exc.message) from exc


def when(moment: datetime | None) -> str:
    """A moment as a person reads it (already in the configured zone): ``2026-11-20 11:00``."""
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def link(url: str, /, **query: Any) -> str:
    """``url`` with a query; list values repeat the key, None and '' are left out, undecodable
    bytes of file names (lone surrogates) are sent as their bytes."""
    pairs: list[str] = []
    for key, value in query.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None and item != "":
                text = quote(str(item), safe="", errors="surrogateescape")
                pairs.append(f"{quote(key)}={text}")
    return f"{url}?{'&'.join(pairs)}" if pairs else url


def size(value: int | None) -> str:
    return "-" if value is None else human_size(value)


HELPERS: dict[str, Any] = {"shown": shown, "size": size, "when": when, "link": link}


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    return templates.TemplateResponse(
        request, template, {**HELPERS, **context}, status_code=status_code
    )


def export(text: str, *, filename: str, media_type: str) -> Response:
    """CSV or JSON text to download, named ``filename`` (cleaned for the header)."""
    headers = {
        "Content-Disposition": content_disposition(filename),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    return Response(
        text.encode("utf-8"), media_type=f"{media_type}; charset=utf-8", headers=headers
    )
