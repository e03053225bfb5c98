"""The fallback (``format "generic"``): an HTML page of an unknown server that looks like a
directory index, read as the links that point at children of its URL (no sizes or dates).

Error, login, maintenance and WAF pages are often served with 200 and link to a child URL
("session expired, <a href="login">sign in</a>"), so links alone prove nothing. A page is
taken only when it looks like an index — its title or a heading says so and names a path
("Index of /pub/", "Directory listing for /pub/", …), or it links to its parent folder as
".." or "Parent Directory" — or when it has at least :data:`MIN_LINKS` links to children;
never when it has a form (a login, a search, a challenge): a listing has nothing to submit.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from monitor.sources.listings import ListedItem, NotAListing, Page, PageInput
from monitor.sources.listings.common import html_tree
from monitor.sources.listings.links import child_name

#: An index title names the folder's path: "Index of /pub/", "Directory listing for /pub/".
#: ("Index of nothing: 500 Internal error" is an error page.)
_INDEX_TITLE = re.compile(
    r"\b(?:index of|directory listing(?: for| of)?|(?:listing|contents|directory) of|files in)"
    r"\s*:?\s*/",
    re.IGNORECASE,
)
_PARENT_TEXT = {"..", "../", "parent directory", "parent directory/", "up", "[to parent directory]"}
#: Links to children that make a page without an index title a listing.
MIN_LINKS = 5


def parse(page: PageInput) -> Page:
    """Every link to a direct child; NotAListing when the page does not look like a listing."""
    kind = (page.content_type or "text/html").split(";")[0].strip().lower()
    if kind not in {"text/html", "application/xhtml+xml"}:
        raise NotAListing(f"{page.url}: a {kind} page, not a directory listing")
    tree = html_tree(page)
    if tree.css_first("input[type=password]") is not None:
        raise NotAListing(f"{page.url}: a login form, not a directory listing")
    if tree.css_first("form") is not None:
        raise NotAListing(f"{page.url}: a page with a form, not a directory listing")
    items: dict[str, ListedItem] = {}
    for link in tree.css("a[href]"):
        found = child_name(link.attributes.get("href") or "", page.url)
        if found is not None and found[0] not in items:
            items[found[0]] = ListedItem(found[0], found[1])
    if len(items) < MIN_LINKS and not _looks_like_an_index(tree, page.url):
        raise NotAListing(
            f"{page.url}: a page with no index title, no parent link and {len(items)} of"
            f" {MIN_LINKS} links to entries, not a directory listing"
        )
    return Page("generic", list(items.values()))


def _looks_like_an_index(tree: LexborHTMLParser, url: str) -> bool:
    """An index title or heading, or a link to the parent folder that says so."""
    title = " ".join(node.text() for node in tree.css("title, h1, h2, h3"))
    if _INDEX_TITLE.search(title):
        return True
    page = urlsplit(url)
    if not page.path.endswith("/") or page.path == "/":
        return False
    parent = urljoin(url, "../")
    for link in tree.css("a[href]"):
        text = " ".join(link.text().split()).lower()
        href = (link.attributes.get("href") or "").strip()
        if text in _PARENT_TEXT and href and urljoin(url, href) == parent:
            return True
    return False
