"""What the overview pages (dashboard, target, file history, search, feed) share.

- :func:`render`: a template with the helpers every overview template uses (``shown``,
  ``size``, ``count``, ``when``, the URL builders), so no template formats anything itself.
- :func:`view_errors`: the views' :class:`~monitor.errors.NotFound` becomes a 404 page and
  their :class:`~monitor.errors.UsageError` a 400.
- :func:`bar_chart`: the geometry of a server-rendered SVG bar chart (heights proportional
  to the values, one ``<title>`` per bar).
- :func:`paging`: the links of a paged list.

File names are hostile: :func:`shown` makes a name printable (control, bidi-override and
zero-width characters and undecodable bytes become visible escapes); the template's autoescape
does the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import Response

from monitor.errors import NotFound, UsageError
from monitor.output import human_size
from monitor.web.deps import templates, web_state

# Control characters, undecodable bytes (lone surrogates), line/paragraph separators, bidi
# marks, overrides and isolates, zero-width characters and the BOM.
_HIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(name: str) -> str:
    """A name as text a page can show: every invisible or reordering character escaped
    (``\\u202e``, ``\\n``, an undecodable byte as ``\\xff``); HTML escaping is the template's."""

    def escape(m: re.Match[str]) -> str:
        ch = m.group(0)
        code = ord(ch)
        if ch in _NAMED:
            return _NAMED[ch]
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
            return f"\\x{code - 0xDC00:02x}"
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _HIDDEN.sub(escape, name)


def count(value: int | None) -> str:
    """1234 -> '1,234'."""
    return "-" if value is None else f"{value:,}"


def size(value: int | None) -> str:
    """Bytes for people: '1.5 KiB' (exact bytes go in a title)."""
    return human_size(value)


def when(moment: datetime | None) -> str:
    """A moment (already in the configured zone) as '2026-11-24 13:00:05'."""
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def target_url(name: str) -> str:
    return f"/targets/{quote(name, safe='')}"


def day_url(name: str, day: date) -> str:
    return f"{target_url(name)}/days/{day.isoformat()}"


def history_url(name: str, path: str) -> str:
    """The file history of ``path``; an undecodable byte is sent as itself (``%FF``)."""
    return f"{target_url(name)}/history?path={quote(path, safe='/', errors='surrogateescape')}"


def batches_url(name: str, review: str = "new") -> str:
    return "/batches?" + urlencode({"target": name, "review": review})


HELPERS: dict[str, Any] = {
    "shown": shown,
    "count": count,
    "size": size,
    "when": when,
    "target_url": target_url,
    "day_url": day_url,
    "history_url": history_url,
    "batches_url": batches_url,
}


def zone_of(request: Request) -> ZoneInfo:
    return web_state(request).settings.zone


def now_of(request: Request) -> datetime:
    """The app's clock (tests control it)."""
    return web_state(request).clock()


def render(
    request: Request, template: str, context: Mapping[str, Any], status_code: int = 200
) -> Response:
    return templates.TemplateResponse(
        request, template, {**HELPERS, **context}, status_code=status_code
    )


@contextmanager
def view_errors() -> Iterator[None]:
    """A view's NotFound as a 404, its UsageError (a bad range, a bad page) as a 400."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except UsageError as exc:
        raise HTTPException(400, str(exc)) from exc


@dataclass(frozen=True)
class Bar:
    """One bar: its box in the chart's coordinates and its tooltip."""

    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart: ``viewBox="0 0 {width} {height}"``, bars growing up from the bottom."""

    width: float
    height: float
    bars: list[Bar]
    label: str
    most: int


@dataclass(frozen=True)
class Series:
    """One kind of bar (added, removed, ...) with a value and a tooltip per slot."""

    kind: str
    values: Sequence[int]
    titles: Sequence[str]


def bar_chart(
    series: Sequence[Series], *, label: str, height: float = 40.0, bar: float = 6.0
) -> Chart:
    """Bars side by side per slot (one per series), a gap between slots; every bar's height is
    ``value / most * height`` where ``most`` is the biggest value of the chart."""
    slots = max((len(s.values) for s in series), default=0)
    most = max((v for s in series for v in s.values), default=0)
    gap = bar
    slot = bar * len(series) + gap
    bars = []
    for i in range(slots):
        for j, s in enumerate(series):
            value = s.values[i]
            tall = 0.0 if most == 0 else round(value / most * height, 3)
            bars.append(
                Bar(
                    x=round(i * slot + gap / 2 + j * bar, 3),
                    y=round(height - tall, 3),
                    width=bar,
                    height=tall,
                    kind=s.kind,
                    title=s.titles[i],
                )
            )
    return Chart(width=slots * slot, height=height, bars=bars, label=label, most=most)


@dataclass(frozen=True)
class PageLinks:
    """Where a paged list is: rows ``first``..``last`` of ``total``, and its neighbours."""

    first: int
    last: int
    total: int
    previous: str | None
    next: str | None


def paging(request: Request, *, offset: int, limit: int, total: int) -> PageLinks:
    """Links to the pages before and after, keeping the request's other query parameters."""

    def at(where: int) -> str:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
        if where:
            params.append(("offset", str(where)))
        return request.url.path + ("?" + urlencode(params) if params else "")

    last = min(offset + limit, total)
    return PageLinks(
        first=offset + 1 if total and offset < total else 0,
        last=last if offset < total else 0,
        total=total,
        previous=at(max(0, offset - limit)) if offset > 0 else None,
        next=at(offset + limit) if offset + limit < total else None,
    )
