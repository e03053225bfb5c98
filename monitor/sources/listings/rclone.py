"""``rclone serve http`` (``format "rclone"``).

Its template descends from Caddy's: one ``<tr class="file">`` per entry, the exact size in
``data-order`` (and in a ``<size>`` element that a script turns into "1.21 KB"), and the time
in ``<time datetime="2026-07-04 12:00:59.999 +0000 UTC">`` — Go's own format, to the
nanosecond, with its offset.
"""

from __future__ import annotations

from monitor.sources.listings import Page, PageInput
from monitor.sources.listings.caddy import file_rows
from monitor.sources.listings.common import html_tree, sniff


def parse(page: PageInput) -> Page | None:
    """An rclone listing, or None."""
    if not sniff(page, b"changeSize", b"<size>"):
        return None
    tree = html_tree(page)
    marked = tree.css_first('body[onload*="changeSize"]') or tree.css_first("tr.file size")
    if marked is None:
        return None
    items = file_rows(tree, page)
    return None if items is None else Page("rclone", items)
