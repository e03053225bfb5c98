"""nginx autoindex: the HTML page, and the JSON and XML of ``autoindex_format``.

HTML (``format "nginx"``)::

    <h1>Index of /</h1><hr><pre><a href="../">../</a>
    <a href="deep/">deep/</a>                      12-Sep-2026 12:12                   -
    <a href="plain.txt">plain.txt</a>              13-Nov-2026 09:15                1234

The link text is cut at 50 characters (``..&gt;``); names come from the href. Times are to
the minute, in UTC, or with ``autoindex_localtime on`` in the server's local time — computed
by adding the offset in force when the page was rendered to every time (not the offset at the
file's time). So times are read with the offset of :attr:`PageInput.zone` at
:attr:`PageInput.fetched_at`: give the zone UTC for a server without ``autoindex_localtime``.
Sizes are bytes, or with ``autoindex_exact_size off`` above 9999 bytes a whole number of
K, M or G (1024-based, rounded to nearest by nginx).

JSON and XML give exact sizes and times to the second (UTC); the name is the entry's text,
not an href. The XML is parsed with defusedxml.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped, unused-ignore]
from defusedxml import DefusedXmlException
from selectolax.lexbor import LexborNode

from monitor.sources.listings import ListedItem, NotAListing, Page, PageInput
from monitor.sources.listings.common import (
    html_tree,
    item_for,
    month,
    offset_ns,
    or_none,
    parse_http_date,
    parse_size,
    parse_timestamp,
    plain_name,
    sniff,
    unique,
)

_LINE = re.compile(
    r"^\s*(?P<d>\d\d)-(?P<mon>[A-Za-z]{3})-(?P<y>\d{4}) (?P<h>\d\d):(?P<mi>\d\d)"
    r"\s+(?P<size>-|\d+[KMG]?)\s*$"
)
_JSON_TYPES = {"directory", "file", "other"}


def parse_html(page: PageInput) -> Page | None:
    """An nginx autoindex HTML page, or None."""
    if not sniff(page, b"<title>Index of ") or not sniff(page, b"<pre>"):
        return None
    tree = html_tree(page)
    pre = tree.css_first("body > pre")
    if pre is None or pre.css_first("img") is not None:
        return None
    offset = _offset(page)
    anchors = pre.css("a[href]")
    items: list[ListedItem | None] = []
    recognised = 0
    for anchor in anchors:
        tail = anchor.next
        line = _LINE.match(tail.text_content or "") if tail is not None else None
        if line is None:
            items.append(item_for(anchor.attributes.get("href"), page))
            continue
        recognised += 1
        items.append(item_for(anchor.attributes.get("href"), page, *_size_time(line, offset)))
    if recognised == 0 and any(_href(a) != "../" for a in anchors):
        return None  # a <pre> of links that nginx did not write
    return Page("nginx", unique(items))


def _href(anchor: LexborNode) -> str:
    return anchor.attributes.get("href") or ""


def _offset(page: PageInput) -> timedelta:
    """The zone's offset when the page was rendered (what nginx added to every time)."""
    rendered = page.fetched_at or datetime.now(UTC)
    if rendered.tzinfo is None:
        rendered = rendered.replace(tzinfo=UTC)
    return rendered.astimezone(page.zone).utcoffset() or timedelta(0)


def _size_time(line: re.Match[str], offset: timedelta) -> tuple[int | None, int | None]:
    return or_none(parse_size, line["size"]), or_none(html_time, line.group(0), offset)


def html_time(text: str, offset: timedelta = timedelta(0)) -> int:
    """Nanoseconds for nginx's ``13-Nov-2026 09:15`` printed at ``offset`` from UTC."""
    found = re.match(r"^\s*(\d\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d)", text)
    if found is None:
        raise ValueError(f"not an nginx time: {text!r}")
    day, mon, year, hour, minute = found.groups()
    wall = datetime(int(year), month(mon), int(day), int(hour), int(minute))
    return offset_ns(wall, offset)


def parse_json(page: PageInput) -> Page | None:
    """An nginx ``autoindex_format json`` page, or None."""
    entries = load_json_list(page)
    if entries is None:
        return None
    if not entries:  # nginx and Caddy both say [] for an empty folder; nothing tells which
        return Page("json", [])
    if not _is_nginx_entry(entries[0]):
        return None
    items = [_json_item(entry) for entry in entries if _is_nginx_entry(entry)]
    return Page("nginx-json", unique(items))


def load_json_list(page: PageInput) -> list[Any] | None:
    """The body as a JSON array, or None when it is not one."""
    if not page.body.lstrip()[:1] == b"[":
        return None
    try:  # JSON is UTF-8; a name's bytes that are not stay surrogate escapes
        data = json.loads(page.body.decode("utf-8", "surrogateescape"))
    except ValueError:
        return None
    return data if isinstance(data, list) else None


def _is_nginx_entry(entry: object) -> bool:
    return isinstance(entry, dict) and entry.get("type") in _JSON_TYPES and "name" in entry


def _json_item(entry: dict[str, Any]) -> ListedItem | None:
    name = plain_name(entry.get("name"))
    if name is None:
        return None
    is_dir = entry.get("type") == "directory"
    size = entry.get("size")
    mtime = entry.get("mtime")
    return ListedItem(
        name,
        is_dir,
        size if isinstance(size, int) and not is_dir and size >= 0 else None,
        or_none(parse_http_date, mtime) if isinstance(mtime, str) else None,
    )


# --- XML -----------------------------------------------------------------------------------

_PRIVATE = 0xF700  # lone surrogates U+DC80..U+DCFF travel through the XML parser as U+F780..


def parse_xml(page: PageInput) -> Page | None:
    """An nginx ``autoindex_format xml`` page, or None."""
    head = page.body.lstrip()[:64]
    if not (head.startswith(b"<?xml") or head.startswith(b"<list")):
        return None
    root = _xml_root(page)
    if root is None or root.tag != "list":
        return None
    items = [_xml_item(element, page) for element in root]
    return Page("nginx-xml", unique(items))


def _xml_root(page: PageInput) -> Element | None:
    """The parsed document; names that are not UTF-8 survive as surrogate escapes."""
    text = page.body.decode("utf-8", "surrogateescape")
    escaped = not page.body.isascii() and any("\udc80" <= char <= "\udcff" for char in text)
    if escaped:
        if any(0xF780 <= ord(char) <= 0xF7FF for char in text):
            raise NotAListing(f"{page.url}: an XML listing with bytes that are not UTF-8")
        text = text.translate({code: code - 0xDC00 + _PRIVATE for code in range(0xDC80, 0xDD00)})
    try:
        root: Element = SafeET.fromstring(text)
    except DefusedXmlException as exc:
        raise NotAListing(f"{page.url}: XML with entities or a DTD, refused ({exc})") from exc
    except ParseError:
        return None
    if escaped:
        back = {code: code - _PRIVATE + 0xDC00 for code in range(0xF780, 0xF800)}
        for element in root:
            element.text = (element.text or "").translate(back)
    return root


def _xml_item(element: Element, page: PageInput) -> ListedItem | None:
    if element.tag not in _JSON_TYPES:
        return None
    name = plain_name(element.text)
    if name is None:
        return None
    is_dir = element.tag == "directory"
    mtime = element.get("mtime")
    return ListedItem(
        name,
        is_dir,
        None if is_dir else or_none(parse_size, element.get("size") or ""),
        or_none(parse_timestamp, mtime, page.zone) if mtime else None,
    )
