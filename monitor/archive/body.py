"""One body as it comes: hashed (SHA-256), counted, its first bytes kept for the type, and kept
itself — in memory while it is small, else in a temporary file of the blob store.

A small body is kept whole and handed to the store with others
(:meth:`~monitor.archive.blobs.BlobStore.put_many`); it is hashed when :attr:`Body.sha256` is
first asked for, in the writer's thread (:meth:`~monitor.archive.fetch.Fetched.settle`), so a
run of many small files does neither hashing nor file-system work on the event loop.

A body past :data:`SPILL_BYTES` goes to a temporary file as it comes; every
:data:`WRITEBACK_BYTES`, the kernel is asked to start writing what was written so far
(``posix_fadvise(DONTNEED)``): the disk works while the network does, the final ``fsync`` has
little left to wait for, and a 2 GiB file does not fill the page cache.

A big body framed by ``Content-Length`` is received by :meth:`Body.receive` straight from the
socket (:class:`~monitor.crawl.transport.RawBody`), and a big local file read, into
:data:`RECEIVE_BUFFERS` buffers of :data:`RECEIVE_BYTES`: while one fills, worker threads hash
and write the others (hashlib and file writes release the GIL), so receiving, hashing and
writing overlap, a few Python steps per MiB.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import mmap
import os
from pathlib import Path
from typing import BinaryIO, Protocol

from monitor.archive.blobs import BlobStore
from monitor.archive.blobs.base import close, os_error_message, write
from monitor.archive.filetype import HEAD_BYTES, detect_type
from monitor.errors import BlobStoreError

#: Bodies up to this size are kept in memory until they are stored.
SPILL_BYTES = 4 * 1024 * 1024
#: How often a spilled body's written bytes are pushed towards the disk.
WRITEBACK_BYTES = 16 * 1024 * 1024
#: The size of each buffer a big body is received into, and how many there are.
RECEIVE_BYTES = 1024 * 1024
RECEIVE_BUFFERS = 4
#: What O_DIRECT writes must be a whole number of (and start at).
_DIRECT_ALIGN = 4096


class Source(Protocol):
    """What :meth:`Body.receive` reads: a socket's body
    (:class:`~monitor.crawl.transport.RawBody`) or a local file."""

    #: The bytes announced (``Content-Length``; a file's size when it was opened).
    length: int

    async def readinto(self, view: memoryview) -> int:
        """Fill ``view`` whole unless the body ends first; the bytes read, 0 at its end."""
        ...

    def close(self) -> None: ...


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
        "_hashed",
        "_jobs",
        "_pushed",
        "_written",
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
        self._pushed = self._written = 0
        #: Whether ``digest`` has every byte (a body kept in memory is hashed when asked).
        self._hashed = True
        #: The worker threads' hashing and writing of the last buffer received.
        self._jobs: list[asyncio.Future[None]] = []

    def write(self, chunk: bytes | memoryview) -> None:
        self._count(chunk)
        if self._file is None:
            # Kept: hashed once whole, and not on the event loop (:attr:`sha256`).
            self._chunks.append(bytes(chunk))
            if self.size > SPILL_BYTES:
                self._spill()
            return
        self._note_head(chunk)
        self.digest.update(chunk)
        self._write_file(chunk)

    def _count(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if self.cap is not None and self.size > self.cap:
            raise TooLong(*self.over)

    def _note_head(self, chunk: bytes | memoryview) -> None:
        if len(self.head) < HEAD_BYTES:
            self.head += bytes(chunk[: HEAD_BYTES - len(self.head)])

    def _write_file(self, chunk: bytes | memoryview) -> None:
        assert self._file is not None
        write(self._file, chunk, self.store.describe())
        self._written += len(chunk)
        if self._written - self._pushed >= WRITEBACK_BYTES:
            self._push()

    async def receive(self, raw: Source) -> None:
        """Read ``raw`` to its end into a temporary file (see the module docstring)."""
        if self.cap is not None and raw.length > self.cap:
            raw.close()
            raise TooLong(*self.over)
        if self._file is None:
            self._spill()
        assert self._file is not None
        fd = self._file.fileno()
        direct = _direct(fd, True)
        loop = asyncio.get_running_loop()
        # Page-aligned (O_DIRECT): one mapping per buffer.
        buffers = [memoryview(mmap.mmap(-1, RECEIVE_BYTES)) for _ in range(RECEIVE_BUFFERS)]
        writes: list[asyncio.Future[None] | None] = [None] * RECEIVE_BUFFERS
        hashed: asyncio.Future[None] | None = None
        turn = offset = 0
        while count := await raw.readinto(buffers[turn]):
            part = buffers[turn][:count]
            self._count(part)
            self._note_head(part)
            if hashed is not None:
                await self._settle([hashed])  # one buffer after the other, in order
            if direct and count % _DIRECT_ALIGN:
                await self._settle([w for w in writes if w is not None])
                direct = _direct(fd, False)  # the tail: not a whole number of blocks
            hashed = loop.run_in_executor(None, self.digest.update, part)
            writes[turn] = loop.run_in_executor(None, self._write_at, fd, part, offset, direct)
            self._jobs = [hashed, *(w for w in writes if w is not None)]
            offset += count
            turn = (turn + 1) % RECEIVE_BUFFERS
            following = writes[turn]
            if following is not None:
                await self._settle([following])  # the next buffer is free again
        await self._settle(self._jobs)
        self._jobs = []
        self._written = self.size

    def _write_at(self, fd: int, part: memoryview, offset: int, direct: bool) -> None:
        """Write ``part`` at ``offset`` (a worker thread); O_DIRECT refused: written again
        through the page cache."""
        try:
            try:
                while part:
                    done = os.pwrite(fd, part, offset)
                    part, offset = part[done:], offset + done
            except OSError as exc:
                if not (direct and exc.errno == errno.EINVAL):
                    raise
                _direct(fd, False)
                while part:
                    done = os.pwrite(fd, part, offset)
                    part, offset = part[done:], offset + done
        except OSError as exc:
            where = self.store.describe()
            raise BlobStoreError(os_error_message(exc, f"cannot write to {where}")) from exc

    async def _settle(self, jobs: list[asyncio.Future[None]]) -> None:
        """Wait for worker threads' jobs (a cancelled wait leaves them running: see
        :meth:`discard`); the first error of theirs is raised."""
        if jobs:
            await asyncio.wait(jobs)
            errors = [e for e in map(_seen, jobs) if e is not None]
            if errors:
                raise errors[0]

    def _spill(self) -> None:
        self.path, self._file = self.store.open_temp()
        for chunk in self._chunks:
            self._note_head(chunk)
            self.digest.update(chunk)
            write(self._file, chunk, self.store.describe())
        self._written = self.size
        self._chunks = []

    def _push(self) -> None:
        """Start writing back what was written since the last push (never waits for it)."""
        assert self._file is not None
        self._file.flush()
        advise = getattr(os, "posix_fadvise", None)
        if advise is not None:
            advise(self._file.fileno(), self._pushed, self._written - self._pushed, 4)  # DONTNEED
        self._pushed = self._written

    @property
    def sha256(self) -> str:
        """The body's SHA-256; a body kept in memory is hashed now (the caller's thread)."""
        if not self._hashed and self.data is not None:
            self.digest.update(self.data)
            self._hashed = True
        return self.digest.hexdigest()

    def type(self) -> tuple[str, str]:
        """(MIME type, description) from the first bytes."""
        return detect_type(self.data[:HEAD_BYTES] if self.data is not None else self.head)

    def finish(self) -> None:
        """The whole body came: close the temporary file, or join the chunks."""
        if self._file is not None:
            file, self._file = self._file, None
            close(file, self.store.describe())
        else:
            self.data = b"".join(self._chunks)
            self._hashed = False
            self._chunks = []

    def discard(self) -> None:
        """Drop what was kept (the temporary file is removed, once no thread writes to it)."""
        self._chunks = []
        self.data = None
        jobs, self._jobs = self._jobs, []
        for job in jobs:
            job.add_done_callback(lambda _: self._discarded(jobs))
        if not jobs:
            self._drop_file()

    def _discarded(self, jobs: list[asyncio.Future[None]]) -> None:
        """The file goes once the last thread is done with it (whatever the jobs came to)."""
        if all(job.done() for job in jobs):
            for job in jobs:
                _seen(job)
            self._drop_file()

    def _drop_file(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError:
                pass  # the file goes anyway: its last buffered bytes do not matter
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def _direct(fd: int, on: bool) -> bool:
    """Turn ``O_DIRECT`` on or off for ``fd`` (Linux); whether it is on now."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | flag if on else flags & ~flag)
    except OSError:
        return False  # a file system without it: written through the page cache
    return on


def _seen(job: asyncio.Future[None]) -> BaseException | None:
    """The error a finished job ended in (marked as seen), or None."""
    return None if job.cancelled() else job.exception()
