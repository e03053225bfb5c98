"""Python's ``http.server`` (``format "pyhttp"``): links only, no sizes or times.

::

    <title>Directory listing for /deep/</title> ... <ul><li><a href="er/">er/</a></li></ul>
"""

from __future__ import annotations

from monitor.sources.listings import Page, PageInput
from monitor.sources.listings.common import html_tree, item_for, sniff, unique


def parse(page: PageInput) -> Page | None:
    """A page of Python's http.server, or None."""
    if not sniff(page, b"Directory listing for "):
        return None
    tree = html_tree(page)
    title = tree.css_first("title")
    if title is None or not title.text().startswith("Directory listing for "):
        return None
    links = tree.css("body > ul > li > a[href]")
    return Page("pyhttp", unique(item_for(a.attributes.get("href"), page) for a in links))
