"""Listing parsers against pages captured from real servers (``tests/fixtures/listings``).

Every page of every captured format must give back the truth of ``tree.json``: the exact
names (decoded from hrefs, hostile ones included), the right types, sizes exact where the page
shows bytes and within the server's rounding where it does not, and times equal to the truth
at the precision the page shows. The fixtures are made by ``scripts/capture_listings.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

import pytest

from monitor.sources.listings import (
    PARSERS,
    ListedItem,
    NotAListing,
    Page,
    PageInput,
    apache,
    generic,
    iis,
    lighttpd,
    nginx,
    parse_listing,
)
from monitor.sources.listings.common import decode, parse_http_date, parse_size, parse_timestamp
from monitor.sources.listings.links import MAX_NAME_BYTES, child_name

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "listings"
TRUTH: list[dict[str, Any]] = json.loads((FIXTURES / "tree.json").read_text())
NS = 1_000_000_000
SECOND, MINUTE = NS, 60 * NS
EPOCH = datetime(1970, 1, 1)
DROP = "http://127.0.0.1/drop/"


# --- what each format shows ----------------------------------------------------------------


def nginx_rounding(size: int) -> int:
    """nginx ``autoindex_exact_size off``: bytes up to 9999, then a whole K, M or G."""
    if size <= 9999:
        return 0
    unit = 1024**3 if size >= 1024**3 else 1024**2 if size >= 1024**2 else 1024
    return unit // 2


def apache_rounding(size: int) -> int:
    """apr_strfsize: bytes below 973, then one decimal below ten units, else whole units."""
    if size < 973:
        return 0
    unit = 1024
    while size / unit >= 973:
        unit *= 1024
    if size / unit < 9.95:
        return unit // 20 + unit // 1024 + 1
    return unit // 2 + 1


def lighttpd_rounding(size: int) -> int:
    """lighttpd: always one decimal of K, M, G…, cut down (and 1-99 bytes show as 0.1K)."""
    unit = 1024
    while size >= unit * 1024:
        unit *= 1024
    return unit // 10 + 1


def dotfile(name: str) -> bool:
    return name.startswith(".")


def not_on_windows(name: str) -> bool:
    return any(char in name for char in '<>:"\\|?*')


def nothing(name: str) -> bool:
    return False


@dataclass(frozen=True)
class Shows:
    """What a captured format shows, as the test expects it."""

    format: str  # Page.format of its pages
    sizes: str | Callable[[int], int]  # "exact", "none", or the rounding bound for a size
    precision: int | None  # of times, in ns; None when the page has none
    zone: str = "utc"  # "utc": printed with an offset or in UTC; "local": in the sidecar zone
    hides: Callable[[str], bool] = nothing


FORMATS: dict[str, Shows] = {
    "nginx-html": Shows("nginx", "exact", MINUTE, hides=dotfile),
    "nginx-exact-size-off": Shows("nginx", nginx_rounding, MINUTE, hides=dotfile),
    # localtime adds the offset in force when the page was rendered: minute-exact in UTC
    "nginx-localtime": Shows("nginx", "exact", MINUTE, hides=dotfile),
    "nginx-json": Shows("nginx-json", "exact", SECOND, hides=dotfile),
    "nginx-xml": Shows("nginx-xml", "exact", SECOND, hides=dotfile),
    "apache-plain": Shows("apache", "none", None),
    "apache-fancy": Shows("apache", apache_rounding, MINUTE, "local"),
    "apache-table": Shows("apache", apache_rounding, MINUTE, "local"),
    "apache-debian": Shows("apache", apache_rounding, MINUTE, "local", hides=dotfile),
    # no rules, sort links or icons: the plain header line "Name  Last modified  Size"
    "apache-suppressed": Shows("apache", apache_rounding, MINUTE, "local"),
    "lighttpd": Shows("lighttpd", lighttpd_rounding, SECOND, "local", hides=dotfile),
    "caddy-html": Shows("caddy", "exact", SECOND),
    "caddy-json": Shows("caddy-json", "exact", 1),
    "pyhttp": Shows("pyhttp", "none", None),
    "rclone": Shows("rclone", "exact", 1),
    "wsgidav": Shows("wsgidav", "exact", SECOND),
    "iis": Shows("iis", "exact", MINUTE, "local", hides=not_on_windows),
}


# --- reading the fixtures ------------------------------------------------------------------


@dataclass(frozen=True)
class Captured:
    format: str
    folder: str  # decoded, relative to the tree's root; '' for the root
    page: PageInput
    sidecar: dict[str, Any]


def load(body_path: Path) -> Captured:
    sidecar = json.loads(body_path.with_suffix(".json").read_text())
    fetched = parsedate_to_datetime(sidecar["date"]) if sidecar.get("date") else None
    page = PageInput(
        body=body_path.read_bytes(),
        url=sidecar["url"],
        content_type=sidecar["content_type"],
        zone=ZoneInfo(sidecar["zone"]),
        fetched_at=fetched,
    )
    folder = unquote(body_path.stem).strip("/")
    if sidecar.get("hand_made"):
        folder = ""  # the IIS sample shows the root under a virtual directory
    return Captured(body_path.parent.name, folder, page, sidecar)


def pages(fmt: str) -> list[Captured]:
    return [load(path) for path in sorted((FIXTURES / fmt).glob("*.body"))]


def children(folder: str) -> dict[str, dict[str, Any]]:
    prefix = f"{folder}/" if folder else ""
    return {
        entry["path"][len(prefix) :]: entry
        for entry in TRUTH
        if entry["path"].startswith(prefix) and "/" not in entry["path"][len(prefix) :]
    }


def expected_mtime(truth_ns: int, shows: Shows, zone: ZoneInfo) -> int:
    """The instant the page's text stands for, read the way the parsers document: the time
    cut to the page's precision, and a wall-clock time in the zone read at its first
    occurrence (``fold=0``)."""
    assert shows.precision is not None
    if shows.zone == "utc":
        return truth_ns - truth_ns % shows.precision
    wall = datetime.fromtimestamp(truth_ns // NS, tz=zone).replace(tzinfo=None)
    seconds = int((wall - EPOCH).total_seconds())
    shown = EPOCH + timedelta(seconds=seconds - seconds % (shows.precision // NS))
    return int(shown.replace(tzinfo=zone, fold=0).timestamp()) * NS


ALL_PAGES = [captured for fmt in FORMATS for captured in pages(fmt)]


def page_id(captured: Captured) -> str:
    return f"{captured.format}:/{captured.folder}"


def test_every_format_was_captured_with_every_folder() -> None:
    captured = {path.name for path in FIXTURES.iterdir() if path.is_dir()}
    assert captured == set(FORMATS) | {"errors"}  # a new format needs its expectations here
    folders = [""] + [e["path"] for e in TRUTH if e["type"] == "dir"]
    for fmt in FORMATS:
        got = [c.folder for c in pages(fmt)]
        assert sorted(got) == ([""] if fmt == "iis" else sorted(folders)), fmt
        assert all(c.sidecar["status"] == 200 for c in pages(fmt))


# --- the inventory -------------------------------------------------------------------------


@pytest.mark.parametrize("captured", ALL_PAGES, ids=page_id)
def test_page_gives_back_the_tree(captured: Captured) -> None:
    shows = FORMATS[captured.format]
    page = parse_listing(captured.page)
    truth = {name: e for name, e in children(captured.folder).items() if not shows.hides(name)}
    empty_json = not truth and shows.format.endswith("json")
    assert page.format == ("json" if empty_json else shows.format)
    by_name = {item.name: item for item in page.items}
    assert len(by_name) == len(page.items), "a name listed twice"
    assert sorted(by_name) == sorted(truth)
    for name, entry in truth.items():
        check_item(by_name[name], entry, shows, captured.page.zone)


def check_item(item: ListedItem, entry: dict[str, Any], shows: Shows, zone: ZoneInfo) -> None:
    assert item.is_dir == (entry["type"] == "dir"), item
    if item.is_dir or shows.sizes == "none":
        assert item.size is None, item
    elif shows.sizes == "exact":
        assert item.size == entry["size"], item
    else:
        assert callable(shows.sizes)
        assert item.size is not None, item
        assert abs(item.size - entry["size"]) <= shows.sizes(entry["size"]), (item, entry)
    if shows.precision is None:
        assert item.mtime_ns is None, item
    else:
        assert item.mtime_ns == expected_mtime(entry["mtime_ns"], shows, zone), (item, entry)


HOSTILE = [
    "%41literal.txt",
    "100% done.txt",
    "a&b=c.txt",
    "hash#tag.txt",
    "what?.txt",
    'it\'s "quoted".txt',
    "<script>alert(1)<\\script>.html",
    "plus+sign;semi.txt",
    "café ñ.txt",
    "日本語.txt",
    "한국어.txt",
    "emoji 😀.txt",
    ("long-name-" * 20)[:196] + ".txt",
    "dir with space & #hash?",
    "日本語フォルダ",
]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_hostile_names_decode_exactly(fmt: str) -> None:
    shows = FORMATS[fmt]
    root = next(c for c in pages(fmt) if c.folder == "")
    names = {item.name for item in parse_listing(root.page).items}
    expected = {name for name in HOSTILE if not shows.hides(name)}
    assert expected <= names
    assert len(HOSTILE[12]) == 200
    for name in names:  # no sort, parent, icon or scheme links slipped in
        assert name not in {"", ".", ".."} and "/" not in name, name
        assert not name.startswith(("?", "icons", "vnd.", "ms-")), name


@pytest.mark.parametrize("captured", ALL_PAGES, ids=page_id)
def test_only_its_own_parser_claims_a_page(captured: Captured) -> None:
    """Every parser but the right one says None, empty folders included."""
    claims = [
        (parser.__module__, parser.__name__)
        for parser in PARSERS
        if parser(captured.page) is not None
    ]
    assert len(claims) == 1, claims


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_an_empty_json_array_is_an_empty_folder(content_type: str) -> None:
    page = parse_listing(PageInput(b"[\n]", "http://127.0.0.1/x/", content_type))
    assert (page.format, page.items) == ("json", [])


@pytest.mark.parametrize("content_type", ["text/html", "text/plain", None])
def test_an_empty_array_not_sent_as_json_is_not_a_listing(content_type: str | None) -> None:
    """An app's "[]" (no results, session expired) served as a page never empties a folder."""
    with pytest.raises(NotAListing):
        parse_listing(PageInput(b"[]", "http://127.0.0.1/x/", content_type))


# --- pages that are not listings -----------------------------------------------------------


ERROR_PAGES = sorted((FIXTURES / "errors").glob("*.body"))


@pytest.mark.parametrize("body", ERROR_PAGES, ids=lambda p: p.stem)
def test_a_real_404_page_is_not_a_listing(body: Path) -> None:
    sidecar = json.loads(body.with_suffix(".json").read_text())
    assert sidecar["status"] == 404
    page = PageInput(body.read_bytes(), sidecar["url"], sidecar["content_type"])
    with pytest.raises(NotAListing):
        parse_listing(page)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><title>Sign in</title></head><body><h1>Index of files</h1>"
        b'<form method="post" action="/login"><input name="user">'
        b'<input type="password" name="pw"></form><a href="help.html">help</a></body></html>',
        b"<html><head><title>500 Internal Server Error</title></head><body><h1>Oops</h1>"
        b'<p>Try later.</p><a href="https://status.example.com/">status</a></body></html>',
        b"<html><body><p>Service temporarily unavailable</p></body></html>",
        # the review's: each links to a child of the page's URL
        b"<html><head><title>Sign in</title></head><body><p>Your session expired.</p>"
        b'<a href="login">Sign in with SSO</a> <a href="help.html">Help</a></body></html>',
        b"<html><head><title>Just a moment...</title></head><body>"
        b'<a href="challenge/">continue</a></body></html>',
        b'<html><title>Maintenance</title><body>Back soon. <a href="status.html">status</a>'
        b"</body></html>",
        b"<html><title>Error</title><body><h1>Index of nothing: 500 Internal error</h1>"
        b"</body></html>",
        b"<html><head><title>Search</title></head><body><form action=q><input name=q></form>"
        + b"".join(b'<a href="r%d.html">result</a>' % n for n in range(8))
        + b"</body></html>",
    ],
    ids=[
        "login-200",
        "error-200",
        "blank-200",
        "sso",
        "waf",
        "maintenance",
        "index-of-error",
        "form",
    ],
)
def test_error_and_login_pages_served_with_200_are_not_listings(body: bytes) -> None:
    with pytest.raises(NotAListing):
        parse_listing(PageInput(body, "http://127.0.0.1/drop/", "text/html; charset=utf-8"))


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"<html><head><title>Index of /drop/</title></head><body></body></html>", []),
        (
            b"<html><head><title>Files</title></head><body><table>"
            b'<tr><td><a href="../">Parent Directory</a></td></tr>'
            b'<tr><td><a href="a.txt">a.txt</a></td></tr></table></body></html>',
            ["a.txt"],
        ),
        (
            b"<html><body><h2>Directory listing: /drop/</h2>"
            b'<a href="a.txt">a</a><a href="b/">b</a></body></html>',
            ["a.txt", "b"],
        ),
        (
            b"<html><head><title>Downloads</title></head><body>"
            + b"".join(b'<a href="f%d.bin">f</a><br>' % n for n in range(generic.MIN_LINKS))
            + b"</body></html>",
            [f"f{n}.bin" for n in range(generic.MIN_LINKS)],
        ),
    ],
    ids=["index-title-empty", "parent-link", "listing-heading", "many-links"],
)
def test_an_unknown_server_s_index_is_a_generic_listing(body: bytes, names: list[str]) -> None:
    page = parse_listing(PageInput(body, DROP, "text/html"))
    assert (page.format, names_of(page)) == ("generic", names)


def test_json_that_is_not_a_listing_is_refused() -> None:
    page = PageInput(b'{"error": "forbidden"}', "http://127.0.0.1/d/", "application/json")
    with pytest.raises(NotAListing):
        parse_listing(page)


def test_xml_with_entities_is_refused() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE list [<!ENTITY a "b">]><list><file>&a;</file></list>'
    with pytest.raises(NotAListing):
        parse_listing(PageInput(body, "http://127.0.0.1/d/", "text/xml"))


# --- parts of a page that imitate a listing ------------------------------------------------
# Apache's markup below is what Apache 2.4 writes (captured in tests/fixtures/listings and,
# with HeaderName/ReadmeName, from the servers of tests/live_servers.py).

APACHE_HEAD = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">'
    "\n<html>\n <head>\n  <title>Index of /drop</title>\n </head>\n <body>\n"
)
APACHE_FANCY = (
    '<pre><img src="/icons/blank.gif" alt="Icon "> <a href="?C=N;O=D">Name</a>'
    '                    <a href="?C=M;O=A">Last modified</a>      <a href="?C=S;O=A">Size</a>'
    '  <a href="?C=D;O=A">Description</a><hr><img src="/icons/back.gif" alt="[PARENTDIR]">'
    ' <a href="/">Parent Directory</a>                             -   \n'
    '<img src="/icons/text.gif" alt="[TXT]"> <a href="data1.csv">data1.csv</a>'
    "               2026-11-24 22:26  1.2K  \n"
    '<img src="/icons/folder.gif" alt="[DIR]"> <a href="sub/">sub/</a>'
    "                    2026-11-24 22:26    -   \n<hr></pre>\n"
)
APACHE_TABLE = (
    '  <table>\n   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th>'
    '<th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th>'
    '<th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>\n'
    '   <tr><th colspan="5"><hr></th></tr>\n'
    '<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td>'
    '<td><a href="/">Parent Directory</a>       </td><td>&nbsp;</td><td align="right">  - </td>'
    "<td>&nbsp;</td></tr>\n"
    '<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td>'
    '<td><a href="data1.csv">data1.csv</a>              </td><td align="right">2026-11-24 22:26'
    '  </td><td align="right">1.2K</td><td>&nbsp;</td></tr>\n'
    '<tr><td valign="top"><img src="/icons/folder.gif" alt="[DIR]"></td><td><a href="sub/">sub/'
    '</a>                   </td><td align="right">2026-11-24 22:26  </td><td align="right">  - '
    "</td><td>&nbsp;</td></tr>\n"
    '   <tr><th colspan="5"><hr></th></tr>\n</table>\n'
)
APACHE_PLAIN = (
    '<ul><li><a href="/"> Parent Directory</a></li>\n<li><a href="data1.csv"> data1.csv</a></li>\n'
    '<li><a href="sub/"> sub/</a></li>\n</ul>\n'
)
#: IndexOptions FancyIndexing SuppressRules SuppressColumnSorting SuppressIcon
APACHE_SUPPRESSED = (
    "<pre>Name                    Last modified      Size  Description\n"
    '<a href="/">Parent Directory</a>                             -   \n'
    '<a href="data1.csv">data1.csv</a>               2026-11-24 22:26  1.2K  \n'
    '<a href="sub/">sub/</a>                    2026-11-24 22:26    -   \n</pre>\n'
)
#: A HeaderName file with a table with a Name column, a <pre> and an Apache-like list.
IMITATING_HEADER = (
    "<h2>Release notes</h2>\n<table><tr><th>Name</th><th>Last modified</th><th>Size</th></tr>\n"
    '<tr><td><a href="notes.txt">notes.txt</a></td><td>2026-01-01 00:00</td><td>1.0K</td></tr>'
    '</table>\n<pre>\n<a href="changelog.txt">changelog.txt</a>   See the full log.\n</pre>\n'
    '<ul><li><a href="mirror/"> mirror/</a></li></ul>\n'
)
#: A plain-text HeaderName file, which Apache wraps in a <pre> of its own.
TEXT_HEADER = "<pre>\nName                    Last modified      Size\nsee below\n</pre>\n"
IMITATING_README = (
    "<pre>Name                    Last modified      Size\n"
    '<a href="readme-link.txt">readme-link.txt</a>         2026-01-01 00:00  1.0K\n</pre>\n'
)
APACHE_LAYOUTS = {
    "fancy": APACHE_FANCY,
    "table": APACHE_TABLE,
    "plain": APACHE_PLAIN,
    "suppressed": APACHE_SUPPRESSED,
}


def apache_page(listing: str, header: str = "", readme: str = "", head: str = APACHE_HEAD) -> bytes:
    heading = header or "<h1>Index of /drop</h1>\n"  # Apache writes a header file instead
    return (head + heading + listing + readme + "</body></html>\n").encode()


@pytest.mark.parametrize("layout", list(APACHE_LAYOUTS))
@pytest.mark.parametrize(
    ("header", "readme"),
    [("", ""), (IMITATING_HEADER, IMITATING_README), (TEXT_HEADER, "")],
    ids=["bare", "imitating-header-readme", "text-header"],
)
def test_apache_header_and_readme_files_are_not_the_listing(
    layout: str, header: str, readme: str
) -> None:
    page = parse_listing(PageInput(apache_page(APACHE_LAYOUTS[layout], header, readme), DROP))
    assert (page.format, names_of(page)) == ("apache", ["data1.csv", "sub"])
    if layout != "plain":
        assert page.items[0].size == 1229 and page.items[0].mtime_ns is not None


@pytest.mark.parametrize("layout", ["fancy", "table"])
def test_two_parts_with_apache_s_markers_are_refused_not_guessed(layout: str) -> None:
    """A header file that copies a whole Apache listing: which one is real cannot be told."""
    forged = APACHE_LAYOUTS[layout].replace("data1.csv", "forged.csv")
    body = apache_page(APACHE_LAYOUTS[layout], header=forged)
    with pytest.raises(NotAListing, match="look like Apache's listing"):
        parse_listing(PageInput(body, DROP, "text/html"))


def test_an_imitation_beside_a_listing_without_markers_is_refused() -> None:
    """The top folder (no Parent Directory) of a server that suppresses rules and sort links:
    the header's table and the listing have the same rank, and the page is refused."""
    top = APACHE_SUPPRESSED.replace('<a href="/">Parent Directory</a>' + " " * 29 + "-   \n", "")
    assert "Parent" not in top
    page = PageInput(apache_page(top, header=IMITATING_HEADER), DROP, "text/html")
    with pytest.raises(NotAListing):
        parse_listing(page)
    alone = parse_listing(PageInput(apache_page(top), DROP, "text/html"))
    assert (alone.format, names_of(alone)) == ("apache", ["data1.csv", "sub"])


@pytest.mark.parametrize(
    "listing",
    [
        # IconsAreLinks: the icon is a link of its own before the name's
        APACHE_FANCY.replace(
            '<img src="/icons/text.gif" alt="[TXT]">',
            '<a href="data1.csv"><img src="/icons/text.gif" alt="[TXT]"></a>',
        ),
        # XHTML
        re.sub(r"(<img [^>]*)>", r"\1 />", APACHE_FANCY.replace("<hr>", "<hr />")),
        # SuppressLastModified SuppressDescription
        APACHE_FANCY.replace('<a href="?C=M;O=A">Last modified</a>', "")
        .replace('<a href="?C=D;O=A">Description</a>', "")
        .replace("2026-11-24 22:26", ""),
        # a server without icons: the icon column of the table is blank
        re.sub(r"<img [^>]*>", "&nbsp;", APACHE_TABLE),
    ],
    ids=["icons-are-links", "xhtml", "no-date", "table-without-icons"],
)
def test_apache_options_keep_sizes(listing: str) -> None:
    page = parse_listing(PageInput(apache_page(listing), DROP, "text/html"))
    assert page.format == "apache"
    assert [(item.name, item.size) for item in page.items] == [("data1.csv", 1229), ("sub", None)]


def test_apache_markers_tell_the_listing_when_a_header_file_sets_the_title() -> None:
    """SuppressHTMLPreamble: the header file writes <html>, <title> and all."""
    own = "<html><head><title>My files</title></head><body><h1>Welcome</h1>\n"
    page = parse_listing(PageInput(apache_page(APACHE_FANCY, head=own), DROP, "text/html"))
    assert (page.format, names_of(page)) == ("apache", ["data1.csv", "sub"])


def test_a_listing_cut_before_its_closing_rule_is_not_apache_s() -> None:
    cut = APACHE_FANCY.removesuffix("<hr></pre>\n") + "</pre>\n"
    assert apache.parse(PageInput(apache_page(cut), DROP, "text/html")) is None


def nginx_listing(url_path: str, lines: list[tuple[str, str, str]], before: str = "") -> bytes:
    """nginx 1.22's autoindex page: (href, text, size) per line, all at one time."""
    rows = "".join(
        f'<a href="{href}">{text}</a>{" " * (51 - len(text))}24-Nov-2026 21:28{size:>20}\r\n'
        for href, text, size in lines
    )
    return (
        f"<html>\r\n<head><title>Index of {url_path}</title></head>\r\n<body>\r\n{before}"
        f'<h1>Index of {url_path}</h1><hr><pre><a href="../">../</a>\r\n{rows}</pre><hr></body>'
        "\r\n</html>\r\n"
    ).encode()


def test_names_that_imitate_iis_do_not_switch_the_parser() -> None:
    """On nginx, the folder "x - " (heading "Index of /x - /", like IIS's "host - /x/") holding
    a file "<dir>" (IIS's folder size) read as IIS, each size one line off."""
    body = nginx_listing("/x - /", [("%3Cdir%3E", "&lt;dir&gt;", "4"), ("b.txt", "b.txt", "1234")])
    page = PageInput(body, "http://127.0.0.1/x%20-%20/", "text/html")
    assert iis.parse(page) is None
    parsed = parse_listing(page)
    assert parsed.format == "nginx"
    assert [(i.name, i.is_dir, i.size) for i in parsed.items] == [
        ("<dir>", False, 4),
        ("b.txt", False, 1234),
    ]


@pytest.mark.parametrize(
    "before",
    [
        "<pre>Release notes</pre>",  # a <pre> of text before the listing
        '<h1>Index of /x/</h1><hr><pre><a href="../">../</a>\r\n</pre>',  # a second listing
    ],
    ids=["pre-of-text", "second-listing"],
)
def test_nginx_s_listing_is_its_own_structure(before: str) -> None:
    body = nginx_listing("/x/", [("a.txt", "a.txt", "7")], before)
    page = PageInput(body, "http://127.0.0.1/x/", "text/html")
    if "../" in before:
        with pytest.raises(NotAListing):
            nginx.parse_html(page)
    else:
        assert names_of(parse_listing(page)) == ["a.txt"]


@pytest.mark.parametrize(
    "pre",
    [
        '<pre>Notes:\n<a href="a.txt">a.txt</a>  13-Nov-2026 09:15   7\n</pre>',  # no ../ first
        '<pre><a href="../">../</a>\n<a href="a.txt">a.txt</a> see the notes\n</pre>',  # no time
        '<pre><a href="../">../</a>\n<a href="a.txt">a.txt</a>  13-Nov-2026 09:15   7\n'
        "<b>x</b></pre>",  # other markup
    ],
    ids=["no-parent-link", "line-of-text", "other-markup"],
)
def test_a_pre_nginx_did_not_write_is_not_nginx_s(pre: str) -> None:
    body = f"<html><head><title>Index of /x/</title></head><body><h1>Index of /x/</h1><hr>{pre}"
    assert nginx.parse_html(PageInput(body.encode(), "http://127.0.0.1/x/", "text/html")) is None


def test_a_name_of_more_than_4096_bytes_is_no_entry() -> None:
    """The review's: a 2 MB name became an entry. No filesystem holds a name that long."""
    longest, too_long = "n" * MAX_NAME_BYTES, "é" * (MAX_NAME_BYTES // 2 + 1)
    assert MAX_NAME_BYTES == 4096 and len(too_long.encode()) == MAX_NAME_BYTES + 2
    html = nginx_listing(
        "/x/", [(quote(name), "name", "1") for name in (longest, too_long, "n" * 2_000_000)]
    )
    page = parse_listing(PageInput(html, "http://127.0.0.1/x/", "text/html"))
    assert names_of(page) == [longest]
    entries = [{"name": n, "type": "file"} for n in (longest, too_long)]
    page = parse_listing(PageInput(json.dumps(entries).encode(), DROP, "application/json"))
    assert names_of(page) == [longest]
    caddy = [{"name": "x", "url": "./" + quote(n), "is_dir": False} for n in (longest, too_long)]
    page = parse_listing(PageInput(json.dumps(caddy).encode(), DROP, "application/json"))
    assert names_of(page) == [longest]


# --- charsets ------------------------------------------------------------------------------


def names_of(page: Page) -> list[str]:
    return [item.name for item in page.items]


def test_apache_says_latin1_over_utf8_and_the_names_stay_right() -> None:
    root = next(c for c in pages("apache-fancy") if c.folder == "")
    assert root.page.content_type is not None and "ISO-8859-1" in root.page.content_type
    assert ">日本語.txt<" in decode(root.page)
    assert "日本語.txt" in names_of(parse_listing(root.page))


def raw_href_page(href: bytes, head: bytes = b"") -> bytes:
    return (
        b"<html><head>" + head + b"<title>Index of /drop/</title></head><body>"
        b'<h1>Index of /drop/</h1><ul><li><a href="' + href + b'">x</a></li></ul></body></html>'
    )


@pytest.mark.parametrize(
    ("content_type", "head", "href", "name"),
    [
        # the header says Latin-1, the bytes are UTF-8: UTF-8 wins
        ("text/html; charset=ISO-8859-1", b"", "日本語 ü.txt".encode(), "日本語 ü.txt"),
        # the header says Latin-1 and the bytes are Latin-1 (not valid UTF-8): Latin-1
        ("text/html; charset=ISO-8859-1", b"", "café.txt".encode("latin-1"), "café.txt"),
        # no header charset: <meta charset> decides
        ("text/html", b'<meta charset="windows-1252">', b"\x80uro.txt", "€uro.txt"),
        # nothing declared: UTF-8
        (None, b"", "한국어.txt".encode(), "한국어.txt"),
        # UTF-8 declared but a byte that is not UTF-8: the byte is kept (surrogateescape)
        ("text/html; charset=utf-8", b"", b"caf\xe9.txt", "caf\udce9.txt"),
        # an unknown charset label is ignored
        ("text/html; charset=x-made-up", b"", "日本.txt".encode(), "日本.txt"),
    ],
    ids=["latin1-lie", "latin1-true", "meta", "default", "bad-byte", "unknown-label"],
)
def test_raw_non_ascii_hrefs_decode_by_charset(
    content_type: str | None, head: bytes, href: bytes, name: str
) -> None:
    page = parse_listing(PageInput(raw_href_page(href, head), DROP, content_type))
    assert names_of(page) == [name]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            b'[{ "name":"caf\xe9", "type":"file", "mtime":"Fri, 13 Nov 2026 09:15:07 GMT" }]',
            "application/json",
        ),
        (
            b'<?xml version="1.0"?><list><file mtime="2026-11-13T09:15:07Z">caf\xe9</file></list>',
            "text/xml",
        ),
    ],
    ids=["nginx-json", "nginx-xml"],
)
def test_structured_names_that_are_not_utf8_keep_their_bytes(
    body: bytes, content_type: str
) -> None:
    (item,) = parse_listing(PageInput(body, DROP, content_type)).items
    assert item.name == "caf\udce9"
    assert item.name.encode("utf-8", "surrogateescape") == b"caf\xe9"


def test_absolute_hrefs_that_escape_differently_still_count() -> None:
    body = (
        b"<html><head><title>Index of /d&amp;x/</title></head><body><h1>Index of /d&amp;x/</h1>"
        b'<ul><li><a href="/d&amp;x/%e6%97%a5.txt">a</a></li>'
        b'<li><a href="/d%26x/b%2fc">b/c is not one name</a></li>'
        b'<li><a href="/d%26x/../etc/">up</a></li></ul></body></html>'
    )
    page = parse_listing(PageInput(body, "http://127.0.0.1/d%26x/", "text/html"))
    assert names_of(page) == ["日.txt"]


# --- which links are entries ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("href", "base", "expected"),
    [
        ("x.txt", DROP, ("x.txt", False)),
        ("./x/", DROP, ("x", True)),
        ("/drop/x", DROP, ("x", False)),  # IIS, absolute
        ("http://127.0.0.1/drop/x", DROP, ("x", False)),
        ("./a:b", DROP, ("a:b", False)),  # Apache writes ./ before a name with a colon
        ("%E6%97%A5.txt", DROP, ("日.txt", False)),
        ("日.txt", DROP, ("日.txt", False)),  # a raw character stands for its UTF-8 bytes
        ("caf\udce9", DROP, ("caf\udce9", False)),  # a byte that was not UTF-8 stays itself
        ("%2541", DROP, ("%41", False)),
        ("/d&x/y", "http://127.0.0.1/d%26x/", ("y", False)),  # escaped differently
        ("/drop/%e6%97%a5/", "http://127.0.0.1/drop/", ("日", True)),
        ("x", "http://127.0.0.1/drop", None),  # the page is not a folder: x is a sibling
        ("../", DROP, None),
        ("..", DROP, None),
        (".", DROP, None),
        ("./", DROP, None),
        ("", DROP, None),
        ("/", DROP, None),
        ("?C=N;O=D", DROP, None),  # Apache's sort links
        ("?sort=name&order=asc", DROP, None),  # Caddy's
        ("x?download=1", DROP, None),
        ("x#top", DROP, None),
        ("#file", DROP, None),
        ("/drop/a/b", DROP, None),  # deeper
        ("a/b", DROP, None),
        ("/icons/blank.gif", DROP, None),
        ("/other/x", DROP, None),
        ("https://127.0.0.1/drop/x", DROP, None),
        ("http://127.0.0.1:8080/drop/x", DROP, None),
        ("//evil.example/drop/x", DROP, None),
        ("a:b", DROP, None),  # a scheme
        ("mailto:a@b.example", DROP, None),
        ("javascript:alert(1)", DROP, None),
        ("vnd.libreoffice.command:ofv|u|x.docx", DROP, None),
        ("%2e%2e/", DROP, None),
        ("a%2Fb", DROP, None),
        ("a%00b", DROP, None),
        ("/drop/../etc/", DROP, None),
    ],
)
def test_which_hrefs_are_entries(href: str, base: str, expected: tuple[str, bool] | None) -> None:
    assert child_name(href, base) == expected


# --- golden strings ------------------------------------------------------------------------

SIZES: list[tuple[str, int | None]] = [
    ("1234", 1234),  # nginx, IIS
    ("2147483648", 2147483648),
    ("1,234 Bytes", 1234),  # wsgidav
    ("2,147,483,648 Bytes", 2147483648),
    ("1 Byte", 1),
    ("4.5K", 4608),  # 4.5 * 1024
    ("2G", 2147483648),  # nginx exact_size off
    ("1M", 1048576),
    ("12K", 12288),
    (" 12K", 12288),  # Apache pads
    ("1.0K", 1024),
    ("  0 ", 0),
    ("9.8K", 10035),  # 9.8 * 1024 = 10035.2
    ("0.1K", 102),  # lighttpd: 102.4 -> 102
    ("511.9K", 524186),  # 524185.6 rounds half up
    ("2.0G", 2147483648),
    ("12.0K", 12288),
    ("12 KiB", 12288),  # Caddy
    ("4.5 MiB", 4718592),
    ("1023 B", 1023),
    ("1.2 kB", 1200),  # humanize (SI)
    ("2.1 GB", 2100000000),
    ("-", None),
    ("  - ", None),
    ("- \xa0", None),  # lighttpd
    ("\u2014", None),  # Caddy's &mdash;
    ("<dir>", None),  # IIS
    ("", None),
]


@pytest.mark.parametrize(("text", "size"), SIZES)
def test_size_strings(text: str, size: int | None) -> None:
    assert parse_size(text) == size
    assert parse_size(text) == parse_size(text)  # the same text, the same int


def test_size_units_that_a_server_means_as_1024() -> None:
    assert parse_size("1.5 MB", binary_b=True) == 1572864
    assert parse_size("1.5 MB") == 1500000


@pytest.mark.parametrize("text", ["abc", "1.5", "12 parsecs", "K", "1.2.3K"])
def test_not_sizes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * NS


BERLIN = ZoneInfo("Europe/Berlin")


def test_nginx_times() -> None:
    assert nginx.html_time("13-Nov-2026 09:15") == utc("2026-11-13 09:15")
    # localtime at +01:00 (the page was rendered in winter): every time is one hour ahead
    winter = BERLIN.utcoffset(datetime(2026, 11, 24))
    assert winter is not None
    assert nginx.html_time("04-Jul-2026 13:00", winter) == utc("2026-07-04 12:00")


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        (datetime(2026, 11, 24, tzinfo=UTC), "2026-07-04 12:00"),  # rendered at +01:00
        (datetime(2026, 7, 5, tzinfo=UTC), "2026-07-04 11:00"),  # rendered at +02:00
    ],
)
def test_nginx_localtime_uses_the_offset_when_the_page_was_rendered(
    rendered: datetime, expected: str
) -> None:
    body = (
        b"<html><head><title>Index of /</title></head><body><h1>Index of /</h1><hr><pre>"
        b'<a href="../">../</a>\n<a href="s.txt">s.txt</a>  04-Jul-2026 13:00   7\n</pre></body>'
    )
    page = PageInput(body, "http://127.0.0.1/", "text/html", BERLIN, rendered)
    (item,) = parse_listing(page).items
    assert item.mtime_ns == utc(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-13 09:15", "2026-11-13 08:15"),  # Apache 2.4, winter
        ("13-Nov-2026 09:15", "2026-11-13 08:15"),  # Apache 2.2
        ("2026-07-04 14:00", "2026-07-04 12:00"),  # summer time
        ("2026-10-25 02:30", "2026-10-25 00:30"),  # the hour that happens twice: the first
        ("2026-03-29 02:30", "2026-03-29 01:30"),  # the hour that never happens
    ],
)
def test_apache_times(text: str, expected: str) -> None:
    assert apache.time_of(text, BERLIN) == utc(expected)


def test_lighttpd_times() -> None:
    assert lighttpd.time_of("2026-Nov-13 09:15:07", BERLIN) == utc("2026-11-13 08:15:07")
    with pytest.raises(ValueError):
        lighttpd.time_of("2026-11-13 09:15:07", BERLIN)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("11/13/2026 10:15 AM", "2026-11-13 09:15"),
        (" 7/4/2026  2:00 PM", "2026-07-04 12:00"),
        ("11/13/2026 12:05 AM", "2026-11-12 23:05"),
        ("Friday, November 13, 2026  9:15 AM", "2026-11-13 08:15"),  # LongDate
        ("13.11.2026 09:15", "2026-11-13 08:15"),  # a German server
        ("2026-11-13 09:15", "2026-11-13 08:15"),
    ],
)
def test_iis_times(text: str, expected: str) -> None:
    assert iis.time_of(text, BERLIN) == utc(expected)


@pytest.mark.parametrize(
    ("text", "expected_ns"),
    [
        ("2026-11-13T09:15:07Z", utc("2026-11-13 09:15:07")),  # nginx XML, Caddy JSON
        (" 2026-10-25T01:30:00Z", utc("2026-10-25 01:30")),  # Caddy 2.6 HTML
        ("2026-07-04 12:00:59.999 +0000 UTC", utc("2026-07-04 12:00:59") + 999_000_000),
        ("2026-03-29 00:59:59.000000001 +0000 UTC", utc("2026-03-29 00:59:59") + 1),
        ("2026-11-13T09:15:07.123456789+01:00", utc("2026-11-13 08:15:07") + 123456789),
        ("2026-11-13T09:15:07-0530", utc("2026-11-13 14:45:07")),
        ("2026-11-13 09:15:07", utc("2026-11-13 08:15:07")),  # no offset: the page's zone
    ],
)
def test_iso_timestamps(text: str, expected_ns: int) -> None:
    assert parse_timestamp(text, BERLIN) == expected_ns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fri, 13 Nov 2026 09:15:07 GMT", "2026-11-13 09:15:07"),  # nginx JSON, wsgidav
        ("Sat, 12 Sep 2026 12:12:14 GMT", "2026-09-12 12:12:14"),
    ],
)
def test_rfc_1123_dates(text: str, expected: str) -> None:
    assert parse_http_date(text) == utc(expected)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-45 99:99", "Fri, 13 Nov"])
def test_not_times(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text, BERLIN)
    with pytest.raises(ValueError):
        parse_http_date(text)


# --- big pages -----------------------------------------------------------------------------

MANY = 20_000


def test_a_page_of_20000_entries() -> None:
    """The parsers are linear: one pass over the nodes, dicts for names (timed in bench/)."""
    lines = "".join(
        f'<a href="f{i:05d}.txt">f{i:05d}.txt</a>{" " * 40}13-Nov-2026 09:15{" " * 10}{i}\n'
        for i in range(MANY)
    )
    body = (
        "<html><head><title>Index of /big/</title></head><body><h1>Index of /big/</h1><hr>"
        f'<pre><a href="../">../</a>\n{lines}</pre><hr></body></html>'
    ).encode()
    page = parse_listing(PageInput(body, "http://127.0.0.1/big/", "text/html"))
    assert page.format == "nginx"
    assert len(page.items) == MANY
    assert page.items[-1] == ListedItem("f19999.txt", False, 19999, utc("2026-11-13 09:15"))


def test_a_json_page_of_20000_entries() -> None:
    entries = [
        {"name": f"f{i}", "size": i, "url": f"./f{i}", "mod_time": "2026-11-13T09:15:07Z"}
        | {"is_dir": False, "is_symlink": False, "mode": 420}
        for i in range(MANY)
    ]
    page = parse_listing(
        PageInput(json.dumps(entries).encode(), "http://127.0.0.1/big/", "application/json")
    )
    assert page.format == "caddy-json"
    assert len(page.items) == MANY
