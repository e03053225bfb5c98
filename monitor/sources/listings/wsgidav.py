"""wsgidav's directory browser (``format "wsgidav"``).

::

    <meta name="generator" content="WsgiDAV/4.4.0">
    <table class="dir-listing"> <th>Name</th><th>Type</th><th>Size</th><th>Last modified</th>
    <tr class="directory"><td><a href="./deep/">deep</a></td><td>Directory</td><td>-</td>
        <td>Sat, 12 Sep 2026 12:12:14 GMT</td></tr>
    <tr><td><a href="plain.txt">plain.txt</a> <a href="vnd.libreoffice.command:ofv|u|...">
        </td><td>TXT-File</td><td>1,234 Bytes</td><td>Fri, 13 Nov 2026 09:15:07 GMT</td></tr>

Sizes are exact (``1,234 Bytes``), times RFC 1123 to the second. Office documents get extra
links with an application's scheme; only the href that names a child counts.
"""

from __future__ import annotations

from selectolax.lexbor import LexborNode

from monitor.sources.listings import ListedItem, Page, PageInput
from monitor.sources.listings.common import (
    html_tree,
    item_for,
    or_none,
    parse_http_date,
    parse_size,
    sniff,
    unique,
)


def parse(page: PageInput) -> Page | None:
    """A wsgidav directory page, or None."""
    if not sniff(page, b"WsgiDAV"):
        return None
    tree = html_tree(page)
    generator = tree.css_first('meta[name="generator"]')
    table = tree.css_first("table.dir-listing")
    content = (generator.attributes.get("content") or "") if generator is not None else ""
    if table is None or not content.startswith("WsgiDAV"):
        return None
    heads = [cell.text().strip().lower() for cell in table.css("thead th")]
    size_at = heads.index("size") if "size" in heads else None
    time_at = heads.index("last modified") if "last modified" in heads else None
    items: list[ListedItem | None] = []
    for row in table.css("tbody > tr"):
        cells = [cell for cell in row.iter() if cell.tag == "td"]
        if not cells:
            continue
        items.append(_row_item(cells, page, size_at, time_at))
    return Page("wsgidav", unique(items))


def _row_item(
    cells: list[LexborNode], page: PageInput, size_at: int | None, time_at: int | None
) -> ListedItem | None:
    for anchor in cells[0].css("a[href]"):
        item = item_for(anchor.attributes.get("href"), page)
        if item is not None:
            break
    else:
        return None
    size = _text(cells, size_at)
    when = _text(cells, time_at)
    return ListedItem(
        item.name,
        item.is_dir,
        None if item.is_dir or not size else or_none(parse_size, size),
        or_none(parse_http_date, when) if when else None,
    )


def _text(cells: list[LexborNode], index: int | None) -> str:
    return cells[index].text().strip() if index is not None and index < len(cells) else ""
