"""lighttpd mod_dirlisting (``format "lighttpd"``).

::

    <div class="list"><table summary="Directory Listing" ...>
    <tr class="d"><td class="n"><a href="deep/">deep</a>/</td>
        <td class="m">2026-Sep-12 14:12:14</td><td class="s">- &nbsp;</td>...</tr>
    <tr><td class="n"><a href="plain.txt">plain.txt</a></td>
        <td class="m">2026-Nov-13 10:15:07</td><td class="s">1.2K</td>...</tr>

Times are to the second in the server's local time (read in :attr:`PageInput.zone`). Sizes
are never exact: one decimal of K, M, G… (1024-based), cut down rather than rounded; a file of
1 to 99 bytes shows as ``0.1K``, an empty one as ``0.0K``.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.sources.listings import ListedItem, Page, PageInput
from monitor.sources.listings.common import (
    html_tree,
    item_for,
    local_ns,
    month,
    or_none,
    parse_size,
    sniff,
    unique,
)

_TIME = re.compile(r"^\s*(\d{4})-([A-Za-z]{3})-(\d\d) (\d\d):(\d\d):(\d\d)\s*$")


def parse(page: PageInput) -> Page | None:
    """A lighttpd directory listing, or None."""
    if not sniff(page, b'summary="Directory Listing"', b'<div class="list">'):
        return None
    tree = html_tree(page)
    table = tree.css_first("div.list > table")
    if table is None or table.css_first("th.n, td.n") is None:
        return None
    items: list[ListedItem | None] = []
    for row in table.css("tbody > tr"):
        cells = {cell.attributes.get("class"): cell for cell in row.iter() if cell.tag == "td"}
        name = cells.get("n")
        anchor = name.css_first("a[href]") if name is not None else None
        if anchor is None:
            continue
        size, when = cells.get("s"), cells.get("m")
        printed = size.text() if size is not None else None
        items.append(
            item_for(
                anchor.attributes.get("href"),
                page,
                or_none(parse_size, printed) if printed is not None else None,
                or_none(time_of, when.text(), page.zone) if when is not None else None,
                size_text=printed,
            )
        )
    return Page("lighttpd", unique(items))


def time_of(text: str, zone: ZoneInfo) -> int:
    """Nanoseconds for lighttpd's ``2026-Nov-13 09:15:07`` in ``zone``."""
    found = _TIME.match(text)
    if found is None:
        raise ValueError(f"not a lighttpd time: {text!r}")
    year, mon, day, hour, minute, second = found.groups()
    wall = datetime(int(year), month(mon), int(day), int(hour), int(minute), int(second))
    return local_ns(wall, zone)
