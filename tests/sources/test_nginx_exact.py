"""nginx's HTML read two ways: line by line (the exact layout) and from the HTML tree.

:func:`nginx.parse_html` reads a page in exactly nginx's layout with regular expressions and
any other page through the HTML parser. Both must give the same items for every page the
first takes: every captured nginx page, synthetic ones, and pages changed at random.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from monitor.sources.listings import NotAListing, Page, PageInput, nginx
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


def test_pages_changed_at_random_read_the_same_both_ways() -> None:
    """Delete, repeat or replace one character anywhere: whenever the exact reading takes the
    page, the tree gives the same items."""
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
    assert 0 < taken < 400
