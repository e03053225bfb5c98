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
_LONGEST = 120  # a line's date, time and size are far shorter; a longer text is cut to this
_TITLE = re.compile(r"^\S.* - /")


def parse(page: PageInput) -> Page | None:
    """An IIS directory listing, or None."""
    if not sniff(page, b"To Parent Directory", b"&lt;dir&gt;", b"<A HREF="):
        return None
    tree = html_tree(page)
    pre = tree.css_first("body > pre")
    heading = tree.css_first("h1")
    if pre is None or heading is None or not _TITLE.match(heading.text().strip()):
        return None
    items: list[ListedItem | None] = []
    recognised = False
    for anchor in pre.css("a[href]"):
        before = anchor.prev
        text = (before.text_content or "")[-_LONGEST:] if before is not None else ""
        line = _LINE.match(text)
        if line is None or not (line["when"] or line["size"]):
            items.append(item_for(anchor.attributes.get("href"), page))
            continue
        recognised = True
        size = line["size"]
        items.append(
            item_for(
                anchor.attributes.get("href"),
                page,
                or_none(parse_size, size) if size else None,
                or_none(time_of, line["when"], page.zone) if line["when"] else None,
                is_dir=True if size == "<dir>" else None,
            )
        )
    listed = [item for item in items if item is not None]
    if listed and not recognised:
        return None
    return Page("iis", unique(listed))


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
