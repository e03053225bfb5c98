"""IIS directory browsing (``format "iis"``).

::

    <H1>host - /files/</H1><hr>
    <pre><A HREF="/">[To Parent Directory]</A><br><br>
     9/12/2026  2:12 PM        &lt;dir&gt; <A HREF="/files/deep/">deep</A><br>
    11/13/2026 10:15 AM         1234 <A HREF="/files/plain.txt">plain.txt</A><br></pre>

What each line shows is set by ``showFlags`` (Date, Time, Size, Extension, LongDate); dates
follow the server's locale — read here: ``11/13/2026``, ``Friday, November 13, 2026``,
``13.11.2026`` and ``2026-11-13``, with a 12- or 24-hour time. Times are to the minute in the
server's local time (:attr:`PageInput.zone`); sizes are exact bytes. hrefs are absolute paths.
IIS cannot run where the fixtures are made: this parser is tested on a hand-made page.
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
    or_none,
    parse_size,
    sniff,
    unique,
)

_LINE = re.compile(
    r"^\s*(?P<when>\S.*?\d{1,2}:\d\d(?::\d\d)?(?:\s*[AaPp][Mm])?)?\s*(?P<size><dir>|\d+)?\s*$"
)
_FORMATS = (
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M",
    "%A, %B %d, %Y %I:%M %p",
    "%A, %B %d, %Y %H:%M",
    "%d.%m.%Y %H:%M",
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
)
_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d\d) ([AaPp][Mm])")
_LONGEST = 120  # a line's date, time and size are far shorter: a longer text is not IIS's
_TITLE = re.compile(r"^\S.* - /")


def parse(page: PageInput) -> Page | None:
    """An IIS directory listing, or None.

    Only IIS's own structure counts: the heading ``host - /path/`` (the title's text) and
    ``<hr>`` before the <pre>, and in it nothing but lines of ``text <A HREF>name</A><br>``,
    the first maybe ``[To Parent Directory]`` and a second ``<br>``. Names are escaped text
    inside the links: they cannot forge a ``<br>``, which no other server writes there.
    """
    if not sniff(page, b"<br>", b"<BR>"):
        return None
    tree = html_tree(page)
    pre = _listing_pre(tree)
    lines = _lines(pre) if pre is not None else None
    if lines is None:
        return None
    items: list[ListedItem | None] = []
    for anchor, line in lines:
        size, when = line["size"], line["when"]
        items.append(
            item_for(
                anchor.attributes.get("href"),
                page,
                or_none(parse_size, size) if size else None,
                or_none(time_of, when, page.zone) if when else None,
                is_dir=True if size == "<dir>" else None,
            )
        )
    return Page("iis", unique(items))


def _listing_pre(tree: LexborHTMLParser) -> LexborNode | None:
    """The <pre> after ``<H1>host - /path/</H1><hr>``, the heading the same as the title."""
    title, heading = tree.css_first("title"), tree.css_first("h1")
    if title is None or heading is None:
        return None
    text = heading.text().strip()
    if not _TITLE.match(text) or title.text().strip() != text:
        return None
    rule = _next_element(heading)
    pre = _next_element(rule) if rule is not None and rule.tag == "hr" else None
    return pre if pre is not None and pre.tag == "pre" else None


def _lines(pre: LexborNode) -> list[tuple[LexborNode, re.Match[str]]] | None:
    """Each entry link of the <pre> with its line's text; None when the <pre> holds anything
    but IIS's lines."""
    children = [node for node in pre.iter(include_text=True) if node.tag != "-text" or _text(node)]
    while children and children[-1].tag == "-text" and not _text(children[-1]).strip():
        children.pop()  # the end of the last line
    if children and children[0].tag == "a" and children[0].text() == "[To Parent Directory]":
        if [node.tag for node in children[1:3]] != ["br", "br"]:
            return None
        children = children[3:]
    lines = []
    index = 0
    while index < len(children):
        text = _text(children[index]) if children[index].tag == "-text" else ""
        index += 1 if text else 0
        group = children[index : index + 2]
        if [node.tag for node in group] != ["a", "br"] or len(text) > _LONGEST:
            return None
        line = _LINE.match(text)
        if line is None:
            return None
        lines.append((group[0], line))
        index += 2
    return lines


def _text(node: LexborNode) -> str:
    return node.text_content or ""


def _next_element(node: LexborNode) -> LexborNode | None:
    """The element after ``node``, past whitespace."""
    after = node.next
    while after is not None and after.tag == "-text" and not _text(after).strip():
        after = after.next
    return after


def time_of(text: str, zone: ZoneInfo) -> int:
    """Nanoseconds for an IIS date and time (see the module's formats) in ``zone``."""
    cleaned = " ".join(text.split())
    found = _US.fullmatch(cleaned)
    if found is not None:  # the common case, without strptime's cost
        mon, day, year, hour, minute, half = found.groups()
        hour_24 = int(hour) % 12 + (12 if half.upper() == "PM" else 0)
        return local_ns(datetime(int(year), int(mon), int(day), hour_24, int(minute)), zone)
    for layout in _FORMATS:
        try:
            wall = datetime.strptime(cleaned, layout)
        except ValueError:
            continue
        return local_ns(wall, zone)
    raise ValueError(f"not an IIS time: {text!r}")
