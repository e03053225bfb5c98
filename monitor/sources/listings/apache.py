"""Apache mod_autoindex, in its three layouts (``format "apache"``).

- no ``IndexOptions``: ``<ul><li><a href="x"> x</a></li>`` — links only, no sizes or times;
- ``FancyIndexing``: a ``<pre>`` with a header of sort links (``?C=N;O=D``), icons, then one
  line per entry ``<img> <a href="x">x</a>   2026-11-13 09:15  1.2K  description``;
- ``FancyIndexing HTMLTable``: the same columns as table cells.

The link text is cut at ``NameWidth`` (23 by default, ``..&gt;``); names come from the href.
Times are to the minute (``%Y-%m-%d %H:%M``; Apache 2.2 printed ``13-Nov-2026 09:15``) in
the server's local time, read in :attr:`PageInput.zone`. Sizes come from ``apr_strfsize``:
exact bytes below 973, above that ``1.0K``…``9.9K``, ``10K``…``972K``, ``1.0M``… (1024-based,
one decimal below ten units); ``-`` for folders. Apache says ``charset=ISO-8859-1`` unless
``IndexOptions Charset=`` is set, over names that are UTF-8: see :func:`.common.decode`.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from selectolax.lexbor import LexborHTMLParser, LexborNode

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

_DATE = r"\d{4}-\d\d-\d\d \d\d:\d\d|\d\d-[A-Za-z]{3}-\d{4} \d\d:\d\d"
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d)")
_OLD = re.compile(r"(\d\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d)")
_TAIL = re.compile(rf"^\s*(?P<date>{_DATE})?\s*(?P<size>-|\d+(?:\.\d)?[KMGTPE]?)?(?=\s|$)")


def parse(page: PageInput) -> Page | None:
    """An Apache autoindex page in any of its layouts, or None."""
    if not sniff(page, b"Index of "):
        return None
    tree = html_tree(page)
    title = tree.css_first("title")
    if title is None or not title.text().strip().startswith("Index of "):
        return None
    table = _listing_table(tree)
    if table is not None:
        return Page("apache", _table_items(table, page))
    pre = tree.css_first("body > pre")
    if pre is not None and _is_fancy(pre):
        return Page("apache", _pre_items(pre, page))
    plain = tree.css_first("body > ul")
    if plain is not None and pre is None and tree.css_first("body > table") is None:
        links = plain.css("li > a[href]")
        return Page("apache", unique(item_for(a.attributes.get("href"), page) for a in links))
    return None


def time_of(text: str, zone: ZoneInfo) -> int:
    """Nanoseconds for ``2026-11-13 09:15`` or ``13-Nov-2026 09:15`` in ``zone``."""
    found = _ISO.fullmatch(text.strip())
    if found is not None:
        year, mon, day, hour, minute = (int(part) for part in found.groups())
        return local_ns(datetime(year, mon, day, hour, minute), zone)
    found = _OLD.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"not an Apache time: {text!r}")
    day_, name, year_, hour_, minute_ = found.groups()
    wall = datetime(int(year_), month(name), int(day_), int(hour_), int(minute_))
    return local_ns(wall, zone)


# --- FancyIndexing <pre> -------------------------------------------------------------------


def _is_fancy(pre: LexborNode) -> bool:
    """Apache's <pre> has a header ruled off by <hr>, sort links or icons; nginx's has none."""
    return any(pre.css_first(selector) is not None for selector in ("hr", 'a[href^="?C="]', "img"))


def _pre_columns(pre: LexborNode) -> tuple[bool, bool]:
    """Whether the lines have a date and a size column, read from the header above the <hr>."""
    header = []
    for node in pre.iter(include_text=True):
        if node.tag == "hr":
            break
        header.append(node.text())
    text = " ".join(header).lower()
    if "name" not in text:
        return True, True
    return "last modified" in text, "size" in text


def _pre_items(pre: LexborNode, page: PageInput) -> list[ListedItem]:
    has_date, has_size = _pre_columns(pre)
    items: list[ListedItem | None] = []
    for anchor in pre.css("a[href]"):
        tail = anchor.next
        found = _TAIL.match(tail.text_content or "") if tail is not None else None
        date = found["date"] if found and has_date else None
        size = found["size"] if found and has_size else None
        items.append(
            item_for(
                anchor.attributes.get("href"),
                page,
                or_none(parse_size, size) if size else None,
                or_none(time_of, date, page.zone) if date else None,
            )
        )
    return unique(items)


# --- HTMLTable -----------------------------------------------------------------------------


def _listing_table(tree: LexborHTMLParser) -> LexborNode | None:
    """The table whose header row has a Name column."""
    for table in tree.css("body > table"):
        header = table.css_first("tr")
        if header is not None and _header_index(header).get("name") is not None:
            return table
    return None


def _header_index(row: LexborNode) -> dict[str, int]:
    """Column positions by header text: name, last modified, size, description."""
    return {cell.text().strip().lower(): index for index, cell in enumerate(row.css("th, td"))}


def _table_items(table: LexborNode, page: PageInput) -> list[ListedItem]:
    header = table.css_first("tr")
    assert header is not None
    columns = _header_index(header)
    name_at, date_at, size_at = (columns.get(k) for k in ("name", "last modified", "size"))
    items: list[ListedItem | None] = []
    for row in table.css("tr"):
        cells = [cell for cell in row.iter() if cell.tag == "td"]
        if name_at is None or len(cells) <= name_at:
            continue
        anchor = cells[name_at].css_first("a[href]")
        if anchor is None:
            continue
        date = _cell(cells, date_at)
        size = _cell(cells, size_at)
        items.append(
            item_for(
                anchor.attributes.get("href"),
                page,
                or_none(parse_size, size) if size else None,
                or_none(time_of, date, page.zone) if date else None,
            )
        )
    return unique(items)


def _cell(cells: list[LexborNode], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index].text().replace("\xa0", " ").strip()
