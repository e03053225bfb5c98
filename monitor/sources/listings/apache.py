"""Apache mod_autoindex, in its three layouts (``format "apache"``).

- no ``IndexOptions``: ``<ul><li><a href="x"> x</a></li>`` — links only, no sizes or times;
- ``FancyIndexing``: a ``<pre>`` with a header line of column names (sort links ``?C=N;O=D``,
  plain text with ``SuppressColumnSorting``), an icon before it, ruled off by ``<hr>`` (none
  with ``SuppressRules``), then one line per entry
  ``<img> <a href="x">x</a>   2026-11-13 09:15  1.2K  description``;
- ``FancyIndexing HTMLTable``: the same columns as table cells, a ``<th>`` header row.

The link text is cut at ``NameWidth`` (23 by default, ``..&gt;``); names come from the href.
Times are to the minute (``%Y-%m-%d %H:%M``; Apache 2.2 printed ``13-Nov-2026 09:15``) in
the server's local time, read in :attr:`PageInput.zone`. Sizes come from ``apr_strfsize``:
exact bytes below 973, above that ``1.0K``…``9.9K``, ``10K``…``972K``, ``1.0M``… (1024-based,
one decimal below ten units); ``-`` for folders. Apache says ``charset=ISO-8859-1`` unless
``IndexOptions Charset=`` is set, over names that are UTF-8: see :func:`.common.decode`.

Which part of the page is the listing. ``HeaderName`` and ``ReadmeName`` put a folder's
``HEADER.html``/``README.html`` (any HTML, from whoever can write the folder) above and below
the listing, and a plain-text one inside a ``<pre>`` of its own; such a file may hold a table
with a Name column, a ``<pre>`` or a ``<ul>``. So no element counts for its position or its
tag: a candidate is a ``<pre>``, ``<table>`` or ``<ul>`` anywhere in the page in the exact
shape Apache writes (the column header, then nothing but entry lines or rows), and it is
*marked* when it also carries one of Apache's own markers — sort links in its header, the
``<hr>`` rules around the entries, a first entry "Parent Directory". The one marked candidate
is the listing; with none marked (every marker suppressed, at the top folder) the one
unmarked candidate is; two of the same rank are refused with :class:`NotAListing`, never
guessed. A header file that imitates Apache's markers where the real listing has none can
still win: that takes ``SuppressColumnSorting SuppressRules`` and the server's top folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.sources.listings import ListedItem, NotAListing, Page, PageInput
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
#: The columns Apache can show, in its order; any but Name may be suppressed.
_COLUMNS = re.compile(r"Name(?: Last modified)?(?: Size)?(?: Description)?")
_COLUMN_NAMES = {"Name", "Last modified", "Size", "Description"}
_SORT_LINK = re.compile(r"\?C=[NMSD];O=[AD]")
_PARENT = "Parent Directory"
_TEXT = "-text"


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A part of the page in the shape of Apache's listing."""

    marked: bool  # it carries one of Apache's own markers (sort links, rules, parent row)
    items: list[ListedItem]


def parse(page: PageInput) -> Page | None:
    """An Apache autoindex page in any of its layouts, or None.

    Raises NotAListing when more than one part of the page looks like the listing.
    """
    if not sniff(page, b"Index of ", b"?C=N;O=", b"Parent Directory"):
        return None
    tree = html_tree(page)
    title = tree.css_first("title")
    titled = title is not None and title.text().strip().startswith("Index of ")
    candidates = _candidates(tree, page)
    marked = [candidate for candidate in candidates if candidate.marked]
    if not marked and not titled:  # a header file may bring its own <title>: markers decide
        return None
    chosen = marked or candidates
    if len(chosen) > 1:
        raise NotAListing(
            f"{page.url}: {len(chosen)} parts of the page look like Apache's listing (a"
            " HeaderName or ReadmeName file imitating it?); which one is real cannot be told"
        )
    return Page("apache", chosen[0].items) if chosen else None


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


def _candidates(tree: LexborHTMLParser, page: PageInput) -> list[_Candidate]:
    """Every <pre>, <table> and <ul> of the page that has the exact shape of the listing."""
    found = [_pre_listing(pre, page) for pre in tree.css("pre")]
    found += [_table_listing(table, page) for table in tree.css("table")]
    found += [_list_listing(ul, page) for ul in tree.css("ul")]
    return [candidate for candidate in found if candidate is not None]


def _item(href: str | None, page: PageInput, size: str, date: str) -> ListedItem | None:
    return item_for(
        href,
        page,
        or_none(parse_size, size) if size else None,
        or_none(time_of, date, page.zone) if date else None,
        size_text=size,
    )


def _is_parent(anchor: LexborNode, page: PageInput) -> bool:
    """Apache's "Parent Directory" link (not a file of that name: its href is no child)."""
    text = anchor.text().strip()
    return text == _PARENT and item_for(anchor.attributes.get("href"), page) is None


def _is_space(node: LexborNode | str) -> bool:
    if isinstance(node, str):
        return not node.strip()
    return node.tag == _TEXT and not (node.text_content or "").strip()


def _header_columns(cells: list[LexborNode | str]) -> tuple[str, bool] | None:
    """The columns a header (its text nodes and sort links) names, and whether it has sort
    links; None when it is not Apache's header."""
    words, sorted_ = [], False
    for cell in cells:
        if isinstance(cell, str):
            words.append(cell)
        elif cell.tag == _TEXT:
            words.append(cell.text_content or "")
        elif cell.tag == "a" and _SORT_LINK.fullmatch(cell.attributes.get("href") or ""):
            words.append(f" {cell.text()} ")
            sorted_ = True
        else:
            return None
    columns = " ".join(" ".join(words).split())
    return (columns, sorted_) if _COLUMNS.fullmatch(columns) else None


# --- FancyIndexing <pre> -------------------------------------------------------------------

_Line = list[LexborNode | str]


def _pre_lines(pre: LexborNode) -> list[_Line]:
    """The <pre>'s children cut into lines at each newline of its text and at each <hr>,
    which makes a line of its own."""
    lines: list[_Line] = [[]]
    for node in pre.iter(include_text=True):
        if node.tag == "hr":
            lines += [[node], []]
        elif node.tag == _TEXT:
            first, *rest = (node.text_content or "").split("\n")
            lines[-1].append(first)
            lines += [[part] for part in rest]
        else:
            lines[-1].append(node)
    return [line for line in lines if not all(_is_space(part) for part in line)]


def _pre_listing(pre: LexborNode, page: PageInput) -> _Candidate | None:
    """Apache's FancyIndexing <pre>: a header line, an optional rule, entry lines, the same
    rule again; None for a <pre> of any other shape."""
    lines = _pre_lines(pre)
    if not lines:
        return None
    head = lines[0]
    if head and not isinstance(head[0], str) and head[0].tag == "img":
        head = head[1:]  # the blank icon over the icon column
    header = _header_columns(head)
    if header is None:
        return None
    columns, sorted_ = header
    body = lines[1:]
    ruled = bool(body) and _is_rule(body[0])
    if ruled:
        if len(body) < 2 or not _is_rule(body[-1]):
            return None  # cut short: the closing rule is missing
        body = body[1:-1]
    entries = [_pre_entry(line) for line in body]
    if any(entry is None for entry in entries):
        return None
    has_date, has_size = "Last modified" in columns, "Size" in columns
    items: list[ListedItem | None] = []
    parent = False
    for index, entry in enumerate(entries):
        assert entry is not None
        anchor, tail = entry
        parent = parent or (index == 0 and _is_parent(anchor, page))
        found = _TAIL.match(tail)
        date = (found["date"] or "") if found and has_date else ""
        size = (found["size"] or "") if found and has_size else ""
        items.append(_item(anchor.attributes.get("href"), page, size, date))
    return _Candidate(sorted_ or ruled or parent, unique(items))


def _is_rule(line: _Line) -> bool:
    return len(line) == 1 and not isinstance(line[0], str) and line[0].tag == "hr"


def _pre_entry(line: _Line) -> tuple[LexborNode, str] | None:
    """The name link of an entry line and the text after it (date, size, description):
    ``[<img> ]<a href>name</a>   tail``, the icon maybe a link itself (IconsAreLinks)."""
    parts = [part for part in line if not _is_space(part)]
    while parts and not isinstance(parts[0], str) and _is_icon(parts[0]):
        parts = parts[1:]
    if not parts or isinstance(parts[0], str) or parts[0].tag != "a":
        return None
    anchor = parts[0]
    if "href" not in anchor.attributes:
        return None
    after = anchor.next
    tail = (after.text_content or "") if after is not None and after.tag == _TEXT else ""
    return anchor, tail.split("\n", 1)[0]


def _is_icon(node: LexborNode) -> bool:
    if node.tag == "img":
        return True
    return node.tag == "a" and not node.text().strip() and node.css_first("img") is not None


# --- HTMLTable -----------------------------------------------------------------------------


def _table_listing(table: LexborNode, page: PageInput) -> _Candidate | None:
    """Apache's HTMLTable: a header row of <th>, rules in <th> rows, one row per entry."""
    if len(table.css("table")) > 1:  # the table itself, and another inside
        return None  # Apache's table holds no other table
    rows = table.css("tr")
    heads = _cells(rows[0], "th") if rows else None
    header = _table_header(heads) if heads is not None else None
    if heads is None or header is None:
        return None
    columns, sorted_ = header
    name_at = columns.index("Name")
    body = rows[1:]
    ruled = bool(body) and _is_rule_row(body[0])
    if ruled:
        if len(body) < 2 or not _is_rule_row(body[-1]):
            return None  # cut short: the closing rule is missing
        body = body[1:-1]
    items: list[ListedItem | None] = []
    parent = False
    for index, row in enumerate(body):
        cells = _cells(row, "td")
        if cells is None or len(cells) != len(heads):
            return None
        anchors = [node for node in cells[name_at].iter() if node.tag == "a"]
        if len(anchors) != 1 or "href" not in anchors[0].attributes:
            return None
        parent = parent or (index == 0 and _is_parent(anchors[0], page))
        date, size = _cell(cells, columns, "Last modified"), _cell(cells, columns, "Size")
        items.append(_item(anchors[0].attributes.get("href"), page, size, date))
    return _Candidate(sorted_ or ruled or parent, unique(items))


def _table_header(heads: list[LexborNode]) -> tuple[list[str], bool] | None:
    """The column of each header cell ('' for the icon column) and whether they are sort
    links; None when the row is not Apache's header."""
    columns: list[str] = []
    parts: list[LexborNode | str] = []
    for index, th in enumerate(heads):
        if index == 0 and not th.text().strip():
            columns.append("")  # the icon column: a blank icon, or &nbsp; without icons
            continue
        children = [child for child in th.iter(include_text=True) if not _is_space(child)]
        if len(children) != 1 or children[0].text().strip() not in _COLUMN_NAMES:
            return None
        columns.append(children[0].text().strip())
        parts += [children[0], " "]
    header = _header_columns(parts)  # and the order: Name, Last modified, Size, Description
    return None if header is None else (columns, header[1])


def _cells(row: LexborNode, tag: str) -> list[LexborNode] | None:
    """The cells of a row, when all are ``tag``; None when another element is there."""
    cells = []
    for node in row.iter(include_text=True):
        if node.tag == tag:
            cells.append(node)
        elif not _is_space(node):
            return None
    return cells


def _is_rule_row(row: LexborNode) -> bool:
    heads = _cells(row, "th")
    return heads is not None and len(heads) == 1 and heads[0].css_first("hr") is not None


def _cell(cells: list[LexborNode], columns: list[str], name: str) -> str:
    if name not in columns:
        return ""
    return cells[columns.index(name)].text().replace("\xa0", " ").strip()


# --- no IndexOptions: <ul> -----------------------------------------------------------------


def _list_listing(ul: LexborNode, page: PageInput) -> _Candidate | None:
    """Apache's plain list: ``<li><a href="x"> x</a></li>`` (a space before each name)."""
    anchors = []
    for node in ul.iter(include_text=True):
        if _is_space(node):
            continue
        children = [child for child in node.iter(include_text=True) if not _is_space(child)]
        if node.tag != "li" or len(children) != 1 or children[0].tag != "a":
            return None
        anchor = children[0]
        if "href" not in anchor.attributes or not anchor.text().startswith(" "):
            return None
        anchors.append(anchor)
    parent = bool(anchors) and _is_parent(anchors[0], page)
    items = unique(item_for(anchor.attributes.get("href"), page) for anchor in anchors)
    return _Candidate(parent, items)
