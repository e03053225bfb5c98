"""Response bodies: a listing read up to ``max_page_bytes`` (gzip inflated here), errors dropped.

A listing must arrive whole: a cut page reads as a folder with fewer files, so a body is
refused (:class:`Truncated`) when fewer bytes came than its ``Content-Length`` said, when its
gzip stream stopped before its end, or when an HTML page whose end only the closing of the
connection marks stops before ``</html>``.
"""

from __future__ import annotations

import re
import zlib

import httpx

from monitor.crawl.reasons import shown, size_text

#: Error bodies up to this size are read (and dropped) so their connection stays open.
DISCARD_LIMIT = 64 * 1024
_HTML_END = re.compile(rb"</html\s*>", re.IGNORECASE)


class TooLarge(Exception):
    """The page passed max_page_bytes."""


class Truncated(ValueError):
    """The body stopped before its end."""


class BoundedBody:
    """Collects a body, inflating gzip as it comes, and stops past ``cap`` decoded bytes.

    :meth:`feed` and :meth:`finish` raise :class:`TooLarge` past the cap and ValueError for a
    corrupt body; :meth:`finish` raises :class:`Truncated` when fewer than ``length`` bytes (as
    sent) came, or the gzip stream did not reach its end. The constructor raises ValueError for
    a coding other than gzip.
    """

    def __init__(self, encoding: str, cap: int, length: int | None = None) -> None:
        if encoding not in {"", "identity", "gzip", "x-gzip"}:
            raise ValueError(f"unsupported Content-Encoding {shown(encoding, 40)!r}")
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if "gzip" in encoding else None
        self._cap = cap
        self._length = length
        self._parts: list[bytes] = []
        self._size = self._received = 0

    def feed(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._inflater is None:
            self._add(chunk)
            return
        try:
            data = chunk
            while data and not self._inflater.eof:
                self._add(self._inflater.decompress(data, self._cap - self._size + 1))
                data = self._inflater.unconsumed_tail
        except zlib.error as exc:
            raise ValueError("a corrupt gzip body") from exc

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._cap:
            raise TooLarge
        self._parts.append(data)

    def finish(self) -> bytes:
        if self._length is not None and self._received < self._length:
            sizes = f"{size_text(self._received)} of {size_text(self._length)}"
            raise Truncated(f"listing truncated ({sizes} came)")
        if self._inflater is not None:
            self._add(self._inflater.flush())
            if not self._inflater.eof:
                raise Truncated("listing truncated (the gzip stream stopped before its end)")
        return b"".join(self._parts)


def check_html_end(body: bytes) -> None:
    """Truncated unless an HTML page holds its ``</html>``: for a body ended by a close."""
    if not _HTML_END.search(body, max(0, len(body) - 4096)):
        raise Truncated("listing truncated (the connection closed before </html>)")


async def discard(response: httpx.Response) -> bytes:
    """Read a short error body so the connection can be kept alive; drop a long one."""
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > DISCARD_LIMIT:
            break
    return b""
