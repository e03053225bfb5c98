"""One body as it comes: hashed (SHA-256), counted, its first bytes kept for the type, and kept
itself — in memory while it is small, else in a temporary file of the blob store.

A small body is handed to the store whole (:meth:`~monitor.archive.blobs.BlobStore.put_bytes`:
one trip to a worker thread writes, syncs and places it), so a run of many small files does
no file-system work on the event loop. A body past :data:`SPILL_BYTES` goes to a temporary
file as it comes; every :data:`WRITEBACK_BYTES`, the kernel is asked to start writing what
was written so far (``posix_fadvise(DONTNEED)``): the disk works while the network does, the
final ``fsync`` has little left to wait for, and a 2 GiB file does not fill the page cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

from monitor.archive.blobs import BlobStore
from monitor.archive.blobs.base import close, write
from monitor.archive.filetype import HEAD_BYTES, detect_type

#: Bodies up to this size are kept in memory until they are stored.
SPILL_BYTES = 4 * 1024 * 1024
#: How often a spilled body's written bytes are pushed towards the disk.
WRITEBACK_BYTES = 16 * 1024 * 1024


class TooLong(Exception):
    """More bytes came than the listing promised (or than ``max_file_size``)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Body:
    """The bytes of one download (see the module docstring).

    ``cap``: the most bytes accepted; past it, :class:`TooLong` with ``over`` (status,
    reason). A write the disk refuses is :class:`~monitor.errors.BlobStoreError`. The owner
    calls :meth:`finish` (then hands :attr:`path` or :attr:`data` to the store) or
    :meth:`discard`.
    """

    __slots__ = (
        "_chunks",
        "_file",
        "_pushed",
        "cap",
        "data",
        "digest",
        "head",
        "over",
        "path",
        "size",
        "store",
    )

    def __init__(self, store: BlobStore, cap: int | None, over: tuple[str, str]) -> None:
        self.store = store
        self.cap = cap
        self.over = over
        self.digest = hashlib.sha256()
        self.head = b""
        self.size = 0
        self.data: bytes | None = None
        self.path: Path | None = None
        self._chunks: list[bytes] = []
        self._file: BinaryIO | None = None
        self._pushed = 0

    def write(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if self.cap is not None and self.size > self.cap:
            raise TooLong(*self.over)
        if len(self.head) < HEAD_BYTES:
            self.head += bytes(chunk[: HEAD_BYTES - len(self.head)])
        self.digest.update(chunk)
        if self._file is None:
            self._chunks.append(bytes(chunk))
            if self.size > SPILL_BYTES:
                self._spill()
            return
        write(self._file, chunk, self.store.describe())
        if self.size - self._pushed >= WRITEBACK_BYTES:
            self._push()

    def _spill(self) -> None:
        self.path, self._file = self.store.open_temp()
        for chunk in self._chunks:
            write(self._file, chunk, self.store.describe())
        self._chunks = []

    def _push(self) -> None:
        """Start writing back what was written since the last push (never waits for it)."""
        assert self._file is not None
        self._file.flush()
        advise = getattr(os, "posix_fadvise", None)
        if advise is not None:
            advise(self._file.fileno(), self._pushed, self.size - self._pushed, 4)  # DONTNEED
        self._pushed = self.size

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()

    def type(self) -> tuple[str, str]:
        """(MIME type, description) from the first bytes."""
        return detect_type(self.head)

    def finish(self) -> None:
        """The whole body came: close the temporary file, or join the chunks."""
        if self._file is not None:
            file, self._file = self._file, None
            close(file, self.store.describe())
        else:
            self.data = b"".join(self._chunks)
            self._chunks = []

    def discard(self) -> None:
        """Drop what was kept (the temporary file is removed)."""
        self._chunks = []
        self.data = None
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError:
                pass  # the file goes anyway: its last buffered bytes do not matter
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None
