"""The parsers' shortcuts give what the long way gives.

:func:`nginx.parse_html` reads a page in exactly nginx's layout with regular expressions and
any other page through the HTML parser. Both must give the same items for every page the
first takes: every captured nginx page, synthetic ones, and pages changed at random. The same
for the other shortcuts: nginx's times by day, names with nothing to decode, and HTTP dates
(nginx's JSON) read without the email module.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import unquote_to_bytes

import pytest

from monitor.sources.listings import PARSERS, NotAListing, Page, PageInput, nginx, parse_listing
from monitor.sources.listings.common import or_none, parse_http_date
from monitor.sources.listings.links import _name_of
from tests.sources.test_listings import Captured, nginx_listing, page_id, pages

NGINX_HTML = ["nginx-html", "nginx-exact-size-off", "nginx-localtime"]
OTHERS = [
    "nginx-json",
    "nginx-xml",
    "apache-plain",
    "apache-fancy",
    "apache-table",
    "apache-debian",
    "apache-suppressed",
    "lighttpd",
    "caddy-html",
    "caddy-json",
    "pyhttp",
    "rclone",
    "wsgidav",
    "iis",
    "errors",
]
RENDERED = datetime(2026, 11, 24, 21, 30, tzinfo=UTC)


def tree_or_error(page: PageInput) -> Page | str | None:
    try:
        return nginx.parse_html_tree(page)
    except NotAListing as exc:
        return f"NotAListing: {exc.message}"


@pytest.mark.parametrize("captured", [c for fmt in NGINX_HTML for c in pages(fmt)], ids=page_id)
def test_every_captured_nginx_page_is_read_exactly_and_as_its_tree_reads_it(
    captured: Captured,
) -> None:
    exact = nginx.parse_html_exact(captured.page)
    assert exact is not None  # real nginx pages take the fast path
    assert exact == nginx.parse_html_tree(captured.page)
    assert nginx.parse_html(captured.page) == exact


@pytest.mark.parametrize("captured", [c for fmt in OTHERS for c in pages(fmt)], ids=page_id)
def test_no_other_servers_page_is_taken_for_nginx_s(captured: Captured) -> None:
    assert nginx.parse_html_exact(captured.page) is None


def synthetic(lines: list[tuple[str, str, str]], url_path: str = "/x/") -> PageInput:
    return PageInput(
        nginx_listing(url_path, lines),
        f"http://127.0.0.1{url_path}",
        "text/html",
        fetched_at=RENDERED,
    )


GOOD = [("a.txt", "a.txt", "7"), ("sub/", "sub/", "-"), ("b%20c.bin", "b c.bin", "12K")]
ODD_LINES = {
    "entity-in-href": ("a&amp;b.txt", "a&amp;b.txt", "1"),
    "markup-in-text": ("m.txt", "<b>m</b>.txt", "1"),
    "space-in-href": ("a b.txt", "a b.txt", "1"),
    "quote-in-text": ("q.txt", 'q"</a><a href="evil/">', "1"),
    "arabic-digits": ("d.txt", "d.txt", "\u0661\u0662"),
    "no-size": ("n.txt", "n.txt", ""),
    "size-in-words": ("w.txt", "w.txt", "big"),
    "fraction": ("f.txt", "f.txt", "1.5K"),
}


@pytest.mark.parametrize("odd", ODD_LINES.values(), ids=ODD_LINES.keys())
def test_a_page_with_one_odd_line_is_read_from_its_tree(odd: tuple[str, str, str]) -> None:
    page = synthetic([*GOOD, odd])
    assert nginx.parse_html_exact(page) is None
    assert nginx.parse_html(page) == nginx.parse_html_tree(page)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("24-Nov-2026 21:28", "24-Nov-2026\t21:28"),  # a tab in the time
        ("24-Nov-2026 21:28", "\u0662\u0664-Nov-2026 21:28"),  # digits the tree reads
        ("<hr></body>", "<hr><pre>x</pre></body>"),  # markup after the listing
        ("<h1>", '<h1 class="x">'),
        ('<a href="a.txt">', '<A HREF="a.txt">'),
        ("</pre>", "</pre >"),
        ("<html>", "\ufeff<html>"),
    ],
    ids=["tab", "arabic-digits", "more-markup", "h1-attribute", "upper-case", "pre-space", "bom"],
)
def test_any_change_to_the_layout_is_read_from_the_tree(old: str, new: str) -> None:
    body = synthetic(GOOD).body.decode()
    assert old in body
    page = PageInput(body.replace(old, new, 1).encode(), "http://127.0.0.1/x/", "text/html")
    assert nginx.parse_html_exact(page) is None
    assert nginx.parse_html(page) == nginx.parse_html_tree(page)


def test_an_empty_folder_and_lf_line_ends() -> None:
    empty = synthetic([])
    assert nginx.parse_html_exact(empty) == Page("nginx", []) == nginx.parse_html_tree(empty)
    lf = PageInput(synthetic(GOOD).body.replace(b"\r\n", b"\n"), "http://127.0.0.1/x/")
    exact = nginx.parse_html_exact(lf)
    assert exact is not None and len(exact.items) == 3
    assert exact == nginx.parse_html_tree(lf)


def test_names_and_sizes_as_the_tree_reads_them() -> None:
    lines = [
        ("a.txt", "a.txt", "1"),
        ("%2e%2e/", "../", "-"),  # no entry
        ("a.txt", "again", "2"),  # the first of a name is kept
        ("%E6%97%A5.txt", "日.txt", "0012"),
        ("big.iso", "big.iso", "2G"),
        ("odd.txt", "odd.txt", "3"),
    ]
    page = synthetic(lines)
    body = page.body.replace(b"24-Nov-2026 21:28", b"31-Feb-2026 21:28", 1)  # a.txt's: no such day
    page = PageInput(body, page.url, page.content_type, fetched_at=RENDERED)
    exact = nginx.parse_html_exact(page)
    assert exact is not None and exact == nginx.parse_html_tree(page)
    assert [(i.name, i.size, i.mtime_ns is None) for i in exact.items] == [
        ("a.txt", 1, True),
        ("日.txt", 12, False),
        ("big.iso", 2 * 1024**3, False),
        ("odd.txt", 3, False),
    ]


def no_other_parser_takes(page: PageInput) -> bool:
    """Whether every parser but nginx's HTML one returns None (so the exact reading, tried
    first, takes no page that another would have)."""
    return all(parser(page) is None for parser in PARSERS if parser is not nginx.parse_html)


def test_the_exact_reading_goes_first() -> None:
    for captured in [c for fmt in NGINX_HTML for c in pages(fmt)]:
        assert no_other_parser_takes(captured.page), page_id(captured)
        assert parse_listing(captured.page) == nginx.parse_html_exact(captured.page)


def test_pages_changed_at_random_read_the_same_both_ways() -> None:
    """Delete, repeat or replace one character anywhere: whenever the exact reading takes the
    page, the tree gives the same items, and no other parser would take it."""
    body = next(c for c in pages("nginx-html") if c.folder == "").page.body.decode()
    chance = random.Random(1)
    taken = 0
    for _ in range(400):
        at = chance.randrange(len(body))
        change = chance.choice(["", body[at] * 2, chance.choice('<>&" \t\n-/a0')])
        text = body[:at] + change + body[at + 1 :]
        page = PageInput(text.encode(), "http://127.0.0.1/", "text/html", fetched_at=RENDERED)
        exact = nginx.parse_html_exact(page)
        if exact is not None:
            taken += 1
            assert exact == tree_or_error(page), (at, change)
            assert no_other_parser_takes(page), (at, change)
    assert 0 < taken < 400


WHEN = [
    "13-Nov-2026 09:15",
    "01-jan-1970 00:00",
    "31-DEC-9999 23:59",
    "29-Feb-2024 12:00",
    "29-Feb-2026 12:00",  # no such day
    "31-Apr-2026 12:00",
    "13-Nov-2026 24:00",  # no such hour
    "13-Nov-2026 23:60",
    "13-Foo-2026 09:15",  # no such month
    "00-Nov-2026 09:15",
    "13-Nov-0000 09:15",
    "\u0661\u0663-Nov-2026 0\u0669:15",  # digits that int() reads
]


@pytest.mark.parametrize("hours", [0, 1, 2, -5, 5.5])
def test_times_by_day_are_html_time(hours: float) -> None:
    offset = timedelta(hours=hours)
    times = nginx._Times(offset)
    for when in WHEN:
        assert times.of(when) == or_none(nginx.html_time, when, offset), when


@pytest.mark.parametrize(
    "rest",
    [
        "a.txt",
        "sub/",
        "",
        "/",
        ".",
        "..",
        "./",
        "../",
        "a/b",
        "a\x00b",
        ".hidden",
        "n" * 4096,
        "n" * 4097,
        "n" * 4096 + "/",
        "a%20b",
        "%2e%2e",
        "caf%C3%A9/",
        "%00",
        "a%2Fb",
    ],
)
def test_names_without_escapes_are_read_as_with_them(rest: str) -> None:
    """The shortcut for a name with nothing to decode gives what decoding would."""
    is_dir = rest.endswith("/")
    raw = unquote_to_bytes(rest[:-1] if is_dir else rest)
    bad = not raw or len(raw) > 4096 or b"/" in raw or b"\x00" in raw or raw in {b".", b".."}
    expected = None if bad else (raw.decode("utf-8", "surrogateescape"), is_dir)
    assert _name_of(rest) == expected


def test_http_dates_read_as_the_email_module_reads_them() -> None:
    """nginx's JSON dates take a shortcut past ``email.utils``: the same instant, or the same
    ValueError, for dates in the form servers write and for odd ones."""
    chance = random.Random(2)
    texts = [
        "Fri, 13 Nov 2026 09:15:07 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Wed, 31 Dec 1969 23:59:59 GMT",
        "Sat, 29 Feb 2025 12:00:00 GMT",  # no such day
        "Sat, 13 Nov 2026 24:00:00 GMT",
        "Sat, 13 Nov 2026 23:60:00 GMT",
        "Sat, 13 Nov 2026 23:59:60 GMT",
        "Sat, 13 Foo 2026 09:15:07 GMT",
        "Sat, 00 Nov 2026 09:15:07 GMT",
        "Sat, 13 Nov 0000 09:15:07 GMT",
        " Fri, 13 Nov 2026 09:15:07 GMT ",
        "Fri, 13 Nov 2026 09:15:07 +0100",
        "Friday, 13-Nov-26 09:15:07 GMT",
    ]
    for _ in range(300):
        when = datetime(1900, 1, 1, tzinfo=UTC) + timedelta(seconds=chance.randrange(6 * 10**9))
        texts.append(format_datetime(when, usegmt=True))
    for text in texts:
        assert or_none(parse_http_date, text) == or_none(slow_http_date, text), text


def slow_http_date(text: str) -> int:
    """What parse_http_date gave before its shortcut."""
    try:
        moment = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(text) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
