"""The scope lock: which URLs a crawl may request (see :mod:`monitor.crawl`).

A path is judged as the server will read it: percent-decoded, then cut at ``/`` and ``\\``
(servers on Windows, and some proxies, take either as a separator; nginx decodes ``%2F``).
A segment ``.``, ``..``, or one that starts ``..;`` or ``.;`` (Tomcat drops what follows a
``;``), and a NUL anywhere, put the URL out of scope; the root's path must be a prefix of the
decoded path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote_to_bytes, urlsplit

import httpx

_PORTS = {"http": 80, "https": 443}
_SEPARATORS = re.compile(rb"[/\\]")
_SLASHES = re.compile(r"/+")


def host_of(parts: SplitResult) -> str:
    """The host as it is sent: lower case, an international name in punycode."""
    host = parts.hostname or ""
    if host.isascii():
        return host
    try:
        return httpx.URL(f"http://{host}/").raw_host.decode("ascii")
    except httpx.InvalidURL:
        return ""


def _escapes_root(path: bytes) -> bool:
    """Whether a decoded path holds a segment a server would read as a step up (or a NUL)."""
    if b"\x00" in path:
        return True
    return any(s.split(b";", 1)[0] in {b".", b".."} for s in _SEPARATORS.split(path))


@dataclass(frozen=True, slots=True)
class Scope:
    """Scheme, host, port and path prefix that every requested URL must share with the root."""

    scheme: str
    host: str
    port: int
    #: The root's path, percent-decoded, ending with "/".
    prefix: bytes

    @classmethod
    def of(cls, root: str) -> Scope:
        parts = urlsplit(root)
        port = parts.port or _PORTS.get(parts.scheme, 0)
        path = unquote_to_bytes(parts.path)
        prefix = path if path.endswith(b"/") else path + b"/"
        return cls(parts.scheme, host_of(parts), port, prefix)

    def contains(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.query or parts.fragment or "?" in url or "#" in url or "@" in parts.netloc:
            return False
        try:
            port = parts.port or _PORTS.get(parts.scheme, 0)
        except ValueError:
            return False
        if (parts.scheme, host_of(parts), port) != (self.scheme, self.host, self.port):
            return False
        path = unquote_to_bytes(parts.path)
        return not _escapes_root(path) and path.startswith(self.prefix)

    def key(self, url: str) -> str:
        """The path under the root that an in-scope URL names: decoded, no "/" at either end.

        Two URLs with the same key name the same folder (escapes in either case, ``%7E`` or
        ``~``, ``//`` or ``/``), so a folder reached twice is caught whatever the spelling.
        """
        path = unquote_to_bytes(urlsplit(url).path)[len(self.prefix) :]
        return _SLASHES.sub("/", path.decode("utf-8", "surrogateescape")).strip("/")
