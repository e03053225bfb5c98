"""What the listing parsers share: decoding a page, reading sizes and times, making items.

Sizes. A number without a unit is exact bytes (``"1234"``, ``"1,234 Bytes"``, ``"2147483648"``).
With a unit it was rounded by the server, and the value given is the printed number times the
unit, rounded half up to a whole byte — the same text always gives the same int, so a listing
that only shows ``"1.2K"`` never reports a file as modified on every poll::

    "4.5K" -> 4608      "2G" -> 2147483648     "12 KiB" -> 12288     "1.2 kB" -> 1200

Single letters (``K M G T P E``, as nginx, Apache and lighttpd print them) and ``KiB``-style
units are powers of 1024; ``kB``/``MB``/``GB`` are powers of 1000 (the SI meaning, which is what
Go's humanize prints) unless a parser knows its server means 1024.

Times. :func:`parse_timestamp` reads the ISO 8601 family with up to nine fractional digits (Go
prints nanoseconds; :meth:`datetime.fromisoformat` would drop three of them). A time printed
without an offset is read in the page's zone; an hour that happens twice at the end of summer
time is read as its first occurrence (``fold=0``), so the same text always gives the same
instant.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import ParamSpec
from zoneinfo import ZoneInfo

from selectolax.lexbor import LexborHTMLParser

from monitor.sources.listings import ListedItem, PageInput
from monitor.sources.listings.links import MAX_NAME_BYTES, child_name

P = ParamSpec("P")
NS = 1_000_000_000
MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}

# --- the body ------------------------------------------------------------------------------

_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_META = re.compile(rb"<meta\b[^>]*>", re.IGNORECASE)
_SINGLE_BYTE_WESTERN = {"latin-1", "iso8859-1", "cp1252", "ascii"}
_LONE_SURROGATE = re.compile("[\udc80-\udcff]")


def _codec(label: bytes | str | None) -> str | None:
    """Python's name for a charset label, or None when it is unknown."""
    if not label:
        return None
    text = label.decode("ascii", "replace") if isinstance(label, bytes) else label
    try:
        return codecs.lookup(text.strip().strip("\"'")).name
    except LookupError:
        return None


def declared_charset(page: PageInput) -> str | None:
    """The charset of the Content-Type header, else of a ``<meta>`` in the first 1024 bytes."""
    if page.content_type:
        found = _CHARSET.search(page.content_type.encode("ascii", "replace"))
        if found and (codec := _codec(found.group(1))):
            return codec
    for meta in _META.findall(page.body[:1024]):  # the HTML spec's prescan: a head, not a parse
        found = _CHARSET.search(meta)
        if found and (codec := _codec(found.group(1))):
            return codec
    return None


def decode(page: PageInput) -> str:
    """The body as text: the declared charset, else UTF-8; UTF-8 when the declaration lies.

    A header that says ISO-8859-1 (Apache's default) over a body that is valid UTF-8 with
    multibyte sequences is a lie: the body is read as UTF-8. Bytes that are not valid in the
    charset used are kept as ``%XX`` escapes, so an href holding them still names the exact
    bytes of the file (text around them is only for people, and never used for names).
    """
    codec = declared_charset(page) or "utf-8"
    body = page.body
    if codec in _SINGLE_BYTE_WESTERN and not body.isascii():
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        text = body.decode(codec, "surrogateescape")
        return _LONE_SURROGATE.sub(lambda m: f"%{ord(m.group()) - 0xDC00:02X}", text)


def html_tree(page: PageInput) -> LexborHTMLParser:
    """The page parsed as HTML, decoded by :func:`decode`."""
    return LexborHTMLParser(decode(page))


def sniff(page: PageInput, *markers: bytes) -> bool:
    """Whether any marker occurs in the body: a cheap test before parsing, never the proof."""
    return any(marker in page.body for marker in markers)


# --- items ---------------------------------------------------------------------------------


def item_for(
    href: str | None,
    page: PageInput,
    size: int | None = None,
    mtime_ns: int | None = None,
    *,
    is_dir: bool | None = None,
    size_text: str | None = None,
) -> ListedItem | None:
    """The item an href names (via :func:`child_name`), or None when it is not an entry.

    ``is_dir`` overrides the trailing-slash rule when the format says so; directories never
    carry a size. ``size_text``: the size as printed, to tell a rounded one
    (:func:`is_rounded`).
    """
    found = child_name(href or "", page.url)
    if found is None:
        return None
    name, slash = found
    directory = slash if is_dir is None else is_dir
    if directory:
        return ListedItem(name, True, None, mtime_ns)
    if size_text is None or size_text[-1:].isdigit() or not is_rounded(size_text):
        return ListedItem(name, False, size, mtime_ns)  # bytes (the common case, kept quick)
    return ListedItem(name, False, size, mtime_ns, size_exact=False)


def plain_name(name: object) -> str | None:
    """A name given as text by a structured format (not an href), if it is one path segment
    of at most :data:`~.links.MAX_NAME_BYTES` bytes."""
    if not isinstance(name, str):
        return None
    name = name.removesuffix("/")
    if not name or name in {".", ".."} or "/" in name or "\x00" in name:
        return None
    if len(name) > MAX_NAME_BYTES or len(name.encode("utf-8", "replace")) > MAX_NAME_BYTES:
        return None  # ("replace": a byte kept as a surrogate escape counts as one, as it was)
    return name


def unique(items: Iterable[ListedItem | None]) -> list[ListedItem]:
    """Items in page order, the first of each name kept, Nones dropped."""
    seen: dict[str, ListedItem] = {}
    for item in items:
        if item is not None and item.name not in seen:
            seen[item.name] = item
    return list(seen.values())


# --- sizes ---------------------------------------------------------------------------------

_SIZE = re.compile(
    r"^\s*(?P<number>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>[KMGTPE]?(?:i?B)?|bytes?)\s*$",
    re.IGNORECASE,
)
_POWERS = "KMGTPE"
_NO_SIZE = {"", "-", "\u2014", "\u2013", "&mdash;", "<dir>", "dir", "directory"}


def parse_size(text: str, *, binary_b: bool = False) -> int | None:
    """Bytes for a size as a listing prints it; None for a dash, an empty cell, a directory.

    ``binary_b`` reads ``kB``/``MB``/``GB`` as powers of 1024 (for servers known to mean that).
    Raises ValueError for text that is not a size at all.
    """
    cleaned = text.replace("\xa0", " ").strip()
    if cleaned.lower() in _NO_SIZE:
        return None
    found = _SIZE.match(cleaned)
    if found is None:
        raise ValueError(f"not a size: {text!r}")
    number, unit = found.group("number").replace(",", ""), found.group("unit")
    prefix = unit[:1].upper() if unit[:1].upper() in _POWERS else ""
    if not prefix:
        if "." in number:
            raise ValueError(f"not a size: {text!r} (a fraction of a byte)")
        return int(number)
    power = _POWERS.index(prefix) + 1
    decimal_b = unit[1:] in {"B", "b"} and not binary_b
    base = 1000 if decimal_b else 1024
    try:
        value = Decimal(number) * base**power
    except InvalidOperation as exc:
        raise ValueError(f"not a size: {text!r}") from exc
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def is_rounded(text: str) -> bool:
    """Whether a size as printed was rounded to a unit (``4.9K``, ``12 KiB``; not ``1234``)."""
    if text[-1:].isdigit():  # bytes, the common case: no pattern to match
        return False
    found = _SIZE.match(text.replace("\xa0", " ").strip())
    prefix = found.group("unit")[:1].upper() if found is not None else ""
    return bool(prefix) and prefix in _POWERS


#: How servers round a size to a unit: lighttpd prints one decimal, its tenths cut down (and a
#: few bytes as ``0.1K``, rounded up); Apache one decimal below ten units, else none; nginx
#: with exact sizes off none; both rounding half up. Never a whole unit but half up: ``1M``
#: rounded down or up would agree with a body from half to twice as long, or from one byte.
_PRINTED = [
    (Decimal("0.1"), ROUND_HALF_UP),
    (Decimal("0.1"), ROUND_FLOOR),
    (Decimal("0.1"), ROUND_CEILING),
    (Decimal(1), ROUND_HALF_UP),
]


def printed_as(size: int, listed: int) -> bool:
    """Whether a server that rounds sizes to ``K``/``M``/``G``… could print ``size`` bytes as
    a text :func:`parse_size` reads as ``listed``: ``5000`` as ``4.9K`` (5018), ``1075`` as
    ``1.0K`` (1024), ``1900`` as ``1K``."""
    if size == listed:
        return True
    for power in range(1, len(_POWERS) + 1):
        unit = 1024**power
        for step, rounding in _PRINTED:
            shown = (Decimal(size) / unit).quantize(step, rounding)
            if int((shown * unit).to_integral_value(rounding=ROUND_HALF_UP)) == listed:
                return True
    return False


# --- times ---------------------------------------------------------------------------------

_TIMESTAMP = re.compile(
    r"^\s*(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)[T ](?P<h>\d\d):(?P<mi>\d\d)(?::(?P<s>\d\d))?"
    r"(?:[.,](?P<frac>\d{1,9}))?\s*(?P<off>Z|[+-]\d\d:?\d\d)?(?:\s+[A-Za-z]{1,6})?\s*$"
)


def epoch_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (microseconds kept exactly)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000


def local_ns(moment: datetime, zone: ZoneInfo) -> int:
    """Nanoseconds since the epoch of a wall-clock time in ``zone`` (``fold=0``)."""
    return epoch_ns(moment.replace(tzinfo=zone, fold=0))


def offset_ns(moment: datetime, offset: timedelta) -> int:
    """Nanoseconds since the epoch of a wall-clock time that is ``offset`` ahead of UTC."""
    return epoch_ns(moment.replace(tzinfo=UTC)) - int(offset.total_seconds()) * NS


def parse_timestamp(text: str, zone: ZoneInfo) -> int:
    """Nanoseconds for an ISO-8601-like time (``T`` or space, ``Z``/``+hh:mm``/``+hhmm``,
    up to nine fractional digits, a trailing zone abbreviation such as Go's ``UTC``).

    Without an offset it is read in ``zone``. Raises ValueError for anything else.
    """
    found = _TIMESTAMP.match(text)
    if found is None:
        raise ValueError(f"not a timestamp: {text!r}")
    part = found.groupdict()
    wall = datetime(
        int(part["y"]), int(part["mo"]), int(part["d"]),
        int(part["h"]), int(part["mi"]), int(part["s"] or 0),
    )  # fmt: skip
    fraction = int((part["frac"] or "0").ljust(9, "0"))
    offset = part["off"]
    if offset is None:
        return local_ns(wall, zone) + fraction
    if offset == "Z":
        return offset_ns(wall, timedelta(0)) + fraction
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    shift = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return offset_ns(wall, sign * shift) + fraction


def parse_http_date(text: str) -> int:
    """Nanoseconds for an RFC 1123 date (``Fri, 13 Nov 2026 09:15:07 GMT``)."""
    found = _HTTP_DATE.fullmatch(text)  # the form servers write, read without the email module
    if found is not None:
        days = _rfc_day(found[1])
        hour, minute, second = int(found[2]), int(found[3]), int(found[4])
        if days is not None and hour < 24 and minute < 60 and second < 60:
            return (days * 86_400 + hour * 3600 + minute * 60 + second) * NS
    try:
        moment = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"not an HTTP date: {text!r}") from exc
    if moment.tzinfo is None:  # "-0000" means UTC with no claim about the local zone
        moment = moment.replace(tzinfo=UTC)
    return epoch_ns(moment)


_HTTP_DATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2} [A-Z][a-z]{2} [0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)
_EPOCH_DAY = date(1970, 1, 1)


@lru_cache(maxsize=4096)
def day_number(year: int, month: int, day: int) -> int | None:
    """Days from 1970-01-01 to a date; None when there is no such date."""
    try:
        return (date(year, month, day) - _EPOCH_DAY).days
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _rfc_day(text: str) -> int | None:
    """:func:`day_number` of ``13 Nov 2026``."""
    number = MONTHS.get(text[3:6].lower())
    return None if number is None else day_number(int(text[7:]), number, int(text[:2]))


def month(text: str) -> int:
    """The number of an English month abbreviation (``Nov`` -> 11); ValueError otherwise."""
    try:
        return MONTHS[text[:3].lower()]
    except KeyError as exc:
        raise ValueError(f"not a month: {text!r}") from exc


def or_none(parse: Callable[P, int | None], *args: P.args, **kwargs: P.kwargs) -> int | None:
    """Call a size or time parser; None instead of ValueError (a cell left blank or odd)."""
    try:
        return parse(*args, **kwargs)
    except ValueError:
        return None
