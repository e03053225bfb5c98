"""The scope lock: which URLs a crawl may request (see :mod:`monitor.crawl`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


def _normal_path(path: str) -> str:
    return _ESCAPE.sub(lambda m: m.group(0).upper(), path)


@dataclass(frozen=True, slots=True)
class Scope:
    """Scheme, host, port and path prefix that every requested URL must share with the root."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def of(cls, root: str) -> Scope:
        parts = urlsplit(root)
        port = parts.port or _PORTS.get(parts.scheme, 0)
        prefix = parts.path if parts.path.endswith("/") else parts.path + "/"
        return cls(parts.scheme, parts.hostname or "", port, _normal_path(prefix))

    def contains(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.query or parts.fragment or "?" in url or "#" in url or "@" in parts.netloc:
            return False
        try:
            port = parts.port or _PORTS.get(parts.scheme, 0)
        except ValueError:
            return False
        if (parts.scheme, parts.hostname or "", port) != (self.scheme, self.host, self.port):
            return False
        if any(unquote(s) in {".", ".."} for s in parts.path.split("/")):
            return False
        return _normal_path(parts.path).startswith(self.prefix)
