"""Which links of a listing page are its entries, and their names."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes, urljoin, urlsplit


def child_name(href: str, base: str) -> tuple[str, bool] | None:
    """The (name, is_dir) of the direct child of ``base`` that ``href`` points at.

    None for anything else: a link with a query or fragment (sort links), to another scheme,
    host or port, to the parent or the page itself, deeper than one level, or a name that
    decodes to ``.``, ``..`` or contains ``/`` or NUL.
    """
    href = href.strip()
    if not href or href.startswith(("#", "?")):
        return None
    target = urlsplit(urljoin(base, href))
    page = urlsplit(base)
    if target.query or target.fragment or "?" in href or "#" in href:
        return None
    if (target.scheme, target.netloc.lower()) != (page.scheme, page.netloc.lower()):
        return None
    folder = page.path if page.path.endswith("/") else page.path + "/"
    if not target.path.startswith(folder):
        return None
    rest = target.path[len(folder) :]
    is_dir = rest.endswith("/")
    raw = unquote_to_bytes(rest[:-1] if is_dir else rest)
    if not raw or b"/" in raw or b"\x00" in raw or raw in {b".", b".."}:
        return None
    return raw.decode("utf-8", "surrogateescape"), is_dir
