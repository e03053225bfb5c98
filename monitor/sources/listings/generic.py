"""The fallback: any HTML page whose links point at children of its URL (no sizes or dates)."""

from __future__ import annotations

import re

from monitor.sources.listings import ListedItem, NotAListing, Page, PageInput
from monitor.sources.listings.common import html_tree
from monitor.sources.listings.links import child_name

_INDEX_TITLE = re.compile(r"index of|directory listing|listing of|contents of", re.IGNORECASE)


def parse(page: PageInput) -> Page:
    """Every link to a direct child; NotAListing when the page does not look like a listing."""
    kind = (page.content_type or "text/html").split(";")[0].strip().lower()
    if kind not in {"text/html", "application/xhtml+xml"}:
        raise NotAListing(f"{page.url}: a {kind} page, not a directory listing")
    tree = html_tree(page)
    if tree.css_first("input[type=password]") is not None:
        raise NotAListing(f"{page.url}: a login form, not a directory listing")
    items: dict[str, ListedItem] = {}
    for link in tree.css("a[href]"):
        found = child_name(link.attributes.get("href") or "", page.url)
        if found is not None and found[0] not in items:
            items[found[0]] = ListedItem(found[0], found[1])
    title = " ".join(n.text() for n in tree.css("title, h1, h2"))
    if not items and not _INDEX_TITLE.search(title):
        raise NotAListing(f"{page.url}: no links to entries and no sign of a directory listing")
    return Page("generic", list(items.values()))
