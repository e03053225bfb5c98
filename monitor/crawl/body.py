"""Response bodies: a listing read up to ``max_page_bytes`` (gzip inflated here), errors dropped."""

from __future__ import annotations

import zlib

import httpx

from monitor.crawl.reasons import shown

#: Error bodies up to this size are read (and dropped) so their connection stays open.
DISCARD_LIMIT = 64 * 1024


class TooLarge(Exception):
    """The page passed max_page_bytes."""


class BoundedBody:
    """Collects a body, inflating gzip as it comes, and stops past ``cap`` decoded bytes.

    :meth:`feed` and :meth:`finish` raise :class:`TooLarge` past the cap and ValueError for a
    corrupt body; the constructor raises ValueError for a coding other than gzip.
    """

    def __init__(self, encoding: str, cap: int) -> None:
        if encoding not in {"", "identity", "gzip", "x-gzip"}:
            raise ValueError(f"unsupported Content-Encoding {shown(encoding, 40)!r}")
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if "gzip" in encoding else None
        self._cap = cap
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        if self._inflater is None:
            self._add(chunk)
            return
        try:
            data = chunk
            while data:
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
        if self._inflater is not None:
            self._add(self._inflater.flush())
        return b"".join(self._parts)


async def discard(response: httpx.Response) -> bytes:
    """Read a short error body so the connection can be kept alive; drop a long one."""
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > DISCARD_LIMIT:
            break
    return b""
