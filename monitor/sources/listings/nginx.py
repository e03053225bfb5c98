"""nginx autoindex: the HTML page, and the JSON and XML of ``autoindex_format``.

HTML (``format "nginx"``)::

    <h1>Index of /</h1><hr><pre><a href="../">../</a>
    <a href="deep/">deep/</a>                      12-Sep-2026 12:12                   -
    <a href="plain.txt">plain.txt</a>              13-Nov-2026 09:15                1234

The link text is cut at 50 characters (``..&gt;``); names come from the href. A page in
exactly the layout nginx writes is read line by line with regular expressions
(:func:`parse_html_exact`); any other (a line that differs in any way, markup nginx does not
write) goes through the HTML parser (:func:`parse_html_tree`), which gives the same items for
every page the first reads. Times are to
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
from functools import lru_cache
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped, unused-ignore]
from defusedxml import DefusedXmlException
from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.sources.listings import ListedItem, NotAListing, Page, PageInput
from monitor.sources.listings.common import (
    NS,
    day_number,
    decode,
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
    r"^\s*(?P<when>(?P<d>\d\d)-(?P<mon>[A-Za-z]{3})-(?P<y>\d{4}) (?P<h>\d\d):(?P<mi>\d\d))"
    r"\s+(?P<size>-|\d+[KMG]?)\s*$"
)
_TIME = re.compile(r"^\s*(\d\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d)")
_EXACT_START = re.compile(rb"<html>\r?\n<head><title>Index of ")
#: The page around nginx's listing, exactly as ngx_http_autoindex_module writes it.
_EXACT_HEAD = re.compile(
    r"<html>\r?\n<head><title>Index of [^<]*</title></head>\r?\n<body>\r?\n"
    r'<h1>Index of [^<]*</h1><hr><pre><a href="\.\./">\.\./</a>\r?\n'
)
_EXACT_TAIL = re.compile(r"</pre><hr></body>\r?\n</html>\r?\n?")
#: One line of it: an href with no entity or space, link text with no markup, time, size.
_EXACT_LINE = re.compile(
    r'<a href="([^"&<>\x00-\x20\x7f]+)">[^<\r\n]*</a> *'
    r"([0-9]{2}-[A-Za-z]{3}-[0-9]{4} [0-9]{2}:[0-9]{2}) +(-|[0-9]+[KMG]?)\r?\n"
)
_JSON_TYPES = {"directory", "file", "other"}


def parse_html(page: PageInput) -> Page | None:
    """An nginx autoindex HTML page, or None.

    Only nginx's own structure counts: ``<h1>Index of …</h1><hr><pre>``, the ``../`` link
    first in the <pre>, then nothing but ``<a href>`` and the text after it up to the end of
    its line (time and size). Names are escaped text inside the links: they cannot forge
    any of it. Raises NotAListing when two parts of the page have that structure.
    """
    if not sniff(page, b"<title>Index of ") or not sniff(page, b"<pre>"):
        return None
    text = decode(page)
    exact = parse_html_exact(page, text)
    return exact if exact is not None else parse_html_tree(page, text)


def parse_html_exact(page: PageInput, text: str | None = None) -> Page | None:
    """A page in exactly nginx's layout, read without building its tree; None for any other.

    The whole page must be nginx's: its head up to the ``../`` link, then only lines of
    ``<a href="…">…</a>`` (an href with no ``&``, space or control character, link text
    without markup) and time and size, then its tail. ``text`` is the decoded body.
    """
    if not _EXACT_START.match(page.body):
        return None  # most pages are told at their first bytes
    text = decode(page) if text is None else text
    head = _EXACT_HEAD.match(text)
    end = text.rfind("</pre>")
    if head is None or end < head.end() or _EXACT_TAIL.fullmatch(text, end) is None:
        return None
    times = _Times(_offset(page))
    items = []
    at, match = head.end(), _EXACT_LINE.match
    while at < end:
        line = match(text, at, end)
        if line is None:
            return None
        at = line.end()
        href, when, size = line.groups()
        items.append(item_for(href, page, _exact_size(size), times.of(when), size_text=size))
    return Page("nginx", unique(items))


def parse_html_tree(page: PageInput, text: str | None = None) -> Page | None:
    """An nginx page read from its HTML tree (any page :func:`parse_html` takes), or None."""
    tree = LexborHTMLParser(decode(page) if text is None else text)
    title = tree.css_first("title")
    if title is None or not title.text().startswith("Index of "):
        return None
    found = [lines for pre in tree.css("pre") if (lines := _listing_lines(pre)) is not None]
    if len(found) > 1:
        raise NotAListing(f"{page.url}: {len(found)} parts of the page look like nginx's listing")
    if not found:
        return None
    times = _Times(_offset(page))
    items = (
        item_for(
            _href(a), page, _size(line["size"]), times.of(line["when"]), size_text=line["size"]
        )
        for a, line in found[0]
    )
    return Page("nginx", unique(items))


class _Times:
    """Times of one page: each distinct day read once, the hours and minutes added to it."""

    def __init__(self, offset: timedelta) -> None:
        self._shift = int(offset.total_seconds())

    def of(self, when: str) -> int | None:
        """:func:`html_time` of ``13-Nov-2026 09:15`` (as matched: 17 characters), or None."""
        days = _day_number(when[:11])
        hour, minute = int(when[12:14]), int(when[15:17])
        if days is None or hour > 23 or minute > 59:
            return None
        return (days * 86_400 + hour * 3_600 + minute * 60 - self._shift) * NS


@lru_cache(maxsize=4096)
def _day_number(day: str) -> int | None:
    """Days from 1970-01-01 to ``13-Nov-2026``; None when there is no such day."""
    try:
        return day_number(int(day[7:11]), month(day[3:6]), int(day[:2]))
    except ValueError:
        return None


def _size(text: str) -> int | None:
    return or_none(parse_size, text)


def _exact_size(text: str) -> int | None:
    """:func:`_size` of ``-``, ``1234`` or ``12K``."""
    return None if text == "-" else int(text) if text.isdigit() else _size(text)


def _listing_lines(pre: LexborNode) -> list[tuple[LexborNode, re.Match[str]]] | None:
    """The links of nginx's <pre> with their lines; None for a <pre> nginx did not write."""
    rule = _previous_element(pre)
    heading = _previous_element(rule) if rule is not None else None
    if rule is None or rule.tag != "hr" or heading is None or heading.tag != "h1":
        return None
    if not heading.text().startswith("Index of "):
        return None
    children = list(pre.iter(include_text=True))
    if len(children) < 2 or children[0].tag != "a" or _href(children[0]) != "../":
        return None
    if children[0].text() != "../" or (children[1].text_content or "").strip():
        return None
    lines = []
    for anchor, tail in zip(children[2::2], children[3::2], strict=False):
        line = _LINE.match(tail.text_content or "") if tail.tag == "-text" else None
        if anchor.tag != "a" or line is None:
            return None
        lines.append((anchor, line))
    return lines if len(children) % 2 == 0 else None


def _previous_element(node: LexborNode) -> LexborNode | None:
    """The element before ``node``, past whitespace."""
    before = node.prev
    while before is not None and before.tag == "-text" and not (before.text_content or "").strip():
        before = before.prev
    return before


def _href(anchor: LexborNode) -> str:
    return anchor.attributes.get("href") or ""


def _offset(page: PageInput) -> timedelta:
    """The zone's offset when the page was rendered (what nginx added to every time)."""
    rendered = page.fetched_at or datetime.now(UTC)
    if rendered.tzinfo is None:
        rendered = rendered.replace(tzinfo=UTC)
    return rendered.astimezone(page.zone).utcoffset() or timedelta(0)


def html_time(text: str, offset: timedelta = timedelta(0)) -> int:
    """Nanoseconds for nginx's ``13-Nov-2026 09:15`` printed at ``offset`` from UTC."""
    found = _TIME.match(text)
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
        return Page("json", []) if _sent_as_json(page) else None  # an API's [] is no folder
    if not _is_nginx_entry(entries[0]):
        return None
    items = [_json_item(entry) for entry in entries if _is_nginx_entry(entry)]
    return Page("nginx-json", unique(items))


def _sent_as_json(page: PageInput) -> bool:
    """Whether the response says its body is JSON (``application/json``, ``…+json``)."""
    kind = (page.content_type or "").split(";")[0].strip().lower()
    return kind in {"application/json", "text/json"} or kind.endswith("+json")


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
