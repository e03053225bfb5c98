"""Which links of a listing page are its entries, and their names."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes, urljoin, urlsplit

#: Every ASCII character: :func:`_ascii` escapes only what lies beyond.
_ASCII = "".join(chr(code) for code in range(128))
_HEX = "0123456789abcdefABCDEF"
#: Characters that make an href more than one plain path segment.
_NOT_PLAIN = frozenset("/?#:\\")
#: The longest name taken, in bytes: a whole path on Linux (PATH_MAX) and far beyond any
#: filesystem's longest name (255 bytes on most, under 4 KiB on all). A longer one is no
#: file's, only a page's way to make one entry cost megabytes.
MAX_NAME_BYTES = 4096
_NO_NAMES = frozenset({"", ".", ".."})


def _ascii(url: str) -> str:
    """The URL with raw non-ASCII characters percent-encoded as UTF-8.

    An href may hold raw characters (the page was decoded, so they are text now); they stand
    for their UTF-8 bytes, as a browser would send them. Lone surrogates (bytes that were not
    valid in the page's charset, kept by ``surrogateescape``) go back to the byte they were.
    """
    if url.isascii():
        return url
    return quote(url, safe=_ASCII, errors="surrogateescape")


def child_name(href: str, base: str) -> tuple[str, bool] | None:
    """The (name, is_dir) of the direct child of ``base`` that ``href`` points at.

    None for anything else: a link with a query or fragment (sort links), to another scheme,
    host or port, to the parent or the page itself, deeper than one level, or a name that
    decodes to ``.``, ``..``, contains ``/`` or NUL, or is longer than :data:`MAX_NAME_BYTES`.
    Paths are compared decoded, so an absolute href that escapes differently from the page's
    URL (``%e6`` or ``%E6``, ``&`` or ``%26``) still counts.
    """
    href = _ascii(href.strip())
    if not href or href.startswith(("#", "?")):
        return None
    base = _ascii(base)
    scheme, netloc, folder, is_folder = _folder_of(base)
    plain = _plain_segment(href)
    if plain is not None and is_folder:
        return _name_of(plain)
    if "?" in href or "#" in href:
        return None
    if _plain_absolute(href):
        path = href  # the same scheme and host, nothing to resolve
    else:
        target = urlsplit(urljoin(base, href))
        if (target.scheme, target.netloc.lower()) != (scheme, netloc):
            return None
        path = target.path
    if not unquote_to_bytes(path).startswith(folder):
        return None
    rest = _after(path, len(folder))
    return None if rest is None else _name_of(rest)


def _plain_segment(href: str) -> str | None:
    """``name`` or ``name/`` (``./`` before it allowed): the common case, decided without
    resolving the URL. None for anything that needs resolving."""
    rest = href[2:] if href.startswith("./") else href
    segment = rest[:-1] if rest.endswith("/") else rest
    if not segment or segment.startswith(".") or not _NOT_PLAIN.isdisjoint(segment):
        return None
    return rest


def _plain_absolute(href: str) -> bool:
    """An absolute path (IIS, Apache's parent link) with no dot segments to resolve."""
    return href.startswith("/") and not href.startswith("//") and "/." not in href


@lru_cache(maxsize=64)
def _folder_of(base: str) -> tuple[str, str, bytes, bool]:
    """Scheme, host, decoded folder path and whether the page's path names a folder."""
    page = urlsplit(base)
    path = page.path if page.path.endswith("/") else page.path + "/"
    return page.scheme, page.netloc.lower(), unquote_to_bytes(path), page.path.endswith("/")


def _name_of(rest: str) -> tuple[str, bool] | None:
    """The (name, is_dir) of a percent-encoded remainder of a path, if it is one segment."""
    is_dir = rest.endswith("/")
    encoded = rest[:-1] if is_dir else rest
    if len(encoded) > 3 * MAX_NAME_BYTES:  # too long even if every byte is escaped
        return None
    if "%" not in encoded and encoded.isascii():  # nothing to decode: the same checks on text
        if len(encoded) > MAX_NAME_BYTES or "/" in encoded or "\x00" in encoded:
            return None
        return None if encoded in _NO_NAMES else (encoded, is_dir)
    raw = unquote_to_bytes(encoded)
    if not raw or len(raw) > MAX_NAME_BYTES or b"/" in raw or b"\x00" in raw:
        return None
    if raw in {b".", b".."}:
        return None
    return raw.decode("utf-8", "surrogateescape"), is_dir


def _after(path: str, length: int) -> str | None:
    """What follows the first ``length`` decoded bytes of a percent-encoded path (still
    encoded, so an escaped ``%2F`` stays inside a name), or None if that cuts an escape."""
    index = consumed = 0
    while consumed < length and index < len(path):
        index += 3 if path[index] == "%" and _is_escape(path, index) else 1
        consumed += 1
    return path[index:] if consumed == length else None


def _is_escape(path: str, index: int) -> bool:
    return len(path) >= index + 3 and all(c in _HEX for c in path[index + 1 : index + 3])
