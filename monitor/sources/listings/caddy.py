"""Caddy's ``file_server browse``: HTML (``format "caddy"``) and JSON (``"caddy-json"``).

Caddy answers with JSON when the request's Accept header names ``application/json`` (send
:data:`~monitor.sources.listings.ACCEPT`)::

    [{"name": "deep/", "size": 4096, "url": "./deep/", "mod_time": "2026-09-12T12:12:14Z",
      "mode": 2147484141, "is_dir": true, "is_symlink": false}, ...]

``mod_time`` has nanoseconds; sizes are exact (a folder's is dropped). The name comes from
``url`` (an href), ``name`` only when there is none.

The HTML has one ``<tr class="file">`` per entry, the exact size in ``data-order`` (-1 for a
folder) beside a rounded one for people, and the time in ``<time datetime=...>`` (to the
second, UTC, with a leading space in Caddy 2.6). rclone's page descends from the same template
and is read by the same code (:mod:`.rclone`).
"""

from __future__ import annotations

from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.sources.listings import ListedItem, Page, PageInput
from monitor.sources.listings.common import (
    html_tree,
    item_for,
    or_none,
    parse_size,
    parse_timestamp,
    plain_name,
    sniff,
    unique,
)
from monitor.sources.listings.links import child_name
from monitor.sources.listings.nginx import load_json_list


def parse_json(page: PageInput) -> Page | None:
    """Caddy's JSON listing, or None."""
    entries = load_json_list(page)
    if entries is None or not entries or not _is_caddy_entry(entries[0]):
        return None
    items = [_json_item(entry, page) for entry in entries if _is_caddy_entry(entry)]
    return Page("caddy-json", unique(items))


def _is_caddy_entry(entry: object) -> bool:
    return isinstance(entry, dict) and "is_dir" in entry and "name" in entry


def _json_item(entry: dict[str, Any], page: PageInput) -> ListedItem | None:
    is_dir = entry.get("is_dir") is True
    url = entry.get("url")
    if isinstance(url, str):
        found = child_name(url, page.url)
        name = found[0] if found is not None else None
    else:
        name = plain_name(entry.get("name"))
    if name is None:
        return None
    size = entry.get("size")
    mtime = entry.get("mod_time")
    return ListedItem(
        name,
        is_dir,
        size if isinstance(size, int) and size >= 0 and not is_dir else None,
        or_none(parse_timestamp, mtime, page.zone) if isinstance(mtime, str) else None,
    )


def parse_html(page: PageInput) -> Page | None:
    """Caddy's HTML listing, or None."""
    if not sniff(page, b"caddyserver.com"):
        return None
    tree = html_tree(page)
    if tree.css_first('footer a[href^="https://caddyserver.com"]') is None:
        return None
    items = file_rows(tree, page)
    return None if items is None else Page("caddy", items)


def file_rows(tree: LexborHTMLParser, page: PageInput) -> list[ListedItem] | None:
    """The entries of a Caddy-style table (``tr.file``), or None when there is no such table."""
    table = tree.css_first("table")
    if table is None:
        return None
    return unique(_row_item(row, page) for row in table.css("tr.file"))


def _row_item(row: LexborNode, page: PageInput) -> ListedItem | None:
    """One row: the first link that names a child, ``data-order`` and ``<time datetime>``.

    One walk over the row's nodes (CSS queries per row cost twice as much on big pages).
    """
    item = None
    size = when = None
    for node in row.traverse():
        tag = node.tag
        if tag == "a" and item is None:
            item = item_for(node.attributes.get("href"), page)
        elif tag == "td" and size is None:
            size = node.attributes.get("data-order")
        elif tag == "time" and when is None:
            when = node.attributes.get("datetime")
    if item is None:
        return None
    return ListedItem(
        item.name,
        item.is_dir,
        None if item.is_dir or not size else or_none(parse_size, size),
        or_none(parse_timestamp, when, page.zone) if when else None,
    )
