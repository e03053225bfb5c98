"""Reading versions of a local target: reached safely, read in worker threads.

The file is reached from the root through real folders only (``O_NOFOLLOW`` at every level; a
symlink the listing shows as a file is followed only when it resolves inside the root), opened
only when it is a regular file (``O_NONBLOCK``, and checked again on the descriptor: a fifo or
device is never opened for reading), and its size and mtime are checked against the listing
before and after it is read: a file that changed is ``changed``, never stored.

A small file is read, hashed and kept in one worker thread. A file past
:data:`~monitor.archive.body.SPILL_BYTES` goes through the pipeline of a big download
(:meth:`~monitor.archive.body.Body.receive`): read into page-aligned buffers by one worker
thread while others hash and write (``O_DIRECT``) the buffers before, so reading, hashing and
writing overlap instead of taking turns in one thread.
"""

from __future__ import annotations

import asyncio
import io
import os
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from monitor.archive.blobs import CHUNK_SIZE, BlobStore
from monitor.archive.blobs.base import os_error_message
from monitor.archive.body import SPILL_BYTES, Body, TooLong
from monitor.archive.fetch import Fetched, Wanted, body_for, differs, finished
from monitor.config import LocalTarget
from monitor.crawl import size_text

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class _LocalProblem(Exception):
    pass


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _walk_to(root_real: str, rel: str) -> tuple[int, str]:
    """A descriptor of the folder holding ``rel``, reached through real folders only."""
    parts = rel.split("/")
    if any(p in {"", ".", ".."} or "\0" in p for p in parts):
        raise _LocalProblem("not a path under the target's root")
    fd = os.open(root_real, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            child = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


def open_local(root: Path, rel: str) -> int:
    """A read descriptor of the regular file ``rel`` under ``root`` (see the module docstring)."""
    root_real = os.path.realpath(root)
    for _ in range(2):
        folder, name = _walk_to(root_real, rel)
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                real = os.path.realpath(os.path.join(root_real, rel))
                if not _inside(real, root_real) or real == root_real:
                    raise _LocalProblem("a link that leads out of the target's root")
                rel = os.path.relpath(real, root_real).replace(os.sep, "/")
                continue
            if not stat.S_ISREG(info.st_mode):
                raise _LocalProblem("not a regular file")
            fd = os.open(name, _FILE_FLAGS, dir_fd=folder)
        finally:
            os.close(folder)
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            os.close(fd)
            raise _LocalProblem("replaced while it was opened")
        return fd
    raise _LocalProblem("a link to a link")


class LocalFetcher:
    """Reads versions of a local target, in worker threads."""

    concurrency = 4
    #: A folder never asks the run to stop (see :attr:`HttpFetcher.refused`).
    refused: str | None = None

    def __init__(
        self,
        target: LocalTarget,
        store: BlobStore,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.target = target
        self.store = store
        self.now = now

    async def aclose(self) -> None:
        return None

    async def fetch(self, wanted: Wanted, worker: int) -> Fetched:
        """Read ``wanted`` in a thread (a big file: in the pipeline); cancelled, the thread's
        temporary file is removed."""
        if wanted.size is not None and wanted.size > SPILL_BYTES:
            return await self._fetch_big(wanted)
        handover = _Handover()
        try:
            return await asyncio.to_thread(handover.run, self._fetch, wanted)
        except asyncio.CancelledError:
            handover.abandon()  # a thread cannot be stopped: what it leaves is removed
            raise

    def _fetch(self, wanted: Wanted) -> Fetched:
        fetched = Fetched(wanted, "failed", self.now())
        fd = self._open(fetched)
        if fd is None:
            return fetched
        with open(fd, "rb", buffering=0) as source:
            return self._copy(source, fetched)

    def _open(self, fetched: Fetched) -> int | None:
        """A read descriptor of the version's file, or None with ``fetched.error`` set."""
        try:
            return open_local(self.target.path, fetched.wanted.path)
        except _LocalProblem as exc:
            fetched.error = str(exc)
        except OSError as exc:
            fetched.error = os_error_message(exc, "cannot open it")
        return None

    async def _fetch_big(self, wanted: Wanted) -> Fetched:
        """Read a big file through :meth:`~monitor.archive.body.Body.receive`."""
        fetched = Fetched(wanted, "failed", self.now())
        opening = asyncio.get_running_loop().run_in_executor(None, self._open, fetched)
        try:
            fd = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)  # the open goes on in its thread
            raise
        if fd is None:
            return fetched
        source = _FileSource(fd)
        try:
            if why := self._changed(os.fstat(fd), wanted):
                fetched.status, fetched.error = "changed", why
                return fetched
            body = body_for(self.store, wanted)
            with _reading(fetched, body):
                await body.receive(source)
            return self._ended(fetched, body, fd)
        finally:
            source.close()

    def _copy(self, source: io.FileIO, fetched: Fetched) -> Fetched:
        wanted = fetched.wanted
        before = os.fstat(source.fileno())
        if why := self._changed(before, wanted):
            fetched.status, fetched.error = "changed", why
            return fetched
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        body = body_for(self.store, wanted)
        with _reading(fetched, body):
            while count := source.readinto(buffer):
                body.write(view[:count])
        self._ended(fetched, body, source.fileno()).settle()  # in a thread already
        return fetched

    def _ended(self, fetched: Fetched, body: Body, fd: int) -> Fetched:
        """``fetched`` once its body was read: ``changed`` if the file is not as listed now."""
        if fetched.error is None:
            wanted = fetched.wanted
            if why := differs(wanted.size, body.size) or self._changed(os.fstat(fd), wanted):
                fetched.status, fetched.error = "changed", why
        return finished(fetched, body)

    @staticmethod
    def _changed(info: os.stat_result, wanted: Wanted) -> str | None:
        if wanted.size is not None and info.st_size != wanted.size:
            return f"now {size_text(info.st_size)}, the listing showed {size_text(wanted.size)}"
        if wanted.mtime_ns is not None and info.st_mtime_ns != wanted.mtime_ns:
            return "modified since it was listed"
        return None


@contextmanager
def _reading(fetched: Fetched, body: Body) -> Iterator[None]:
    """Reading ``body``: the whole of it, finished; more than its cap or a read refused, the
    try's status and error; anything else drops the body and is raised."""
    try:
        yield
        body.finish()
    except TooLong as exc:
        fetched.status, fetched.error = exc.status, exc.reason
    except OSError as exc:
        fetched.error = os_error_message(exc, "cannot read it")
    except BaseException:
        body.discard()
        raise


class _FileSource:
    """A file read into the caller's buffers by a worker thread, as
    :class:`~monitor.crawl.transport.RawBody` reads a socket: each :meth:`readinto` fills its
    buffer whole unless the file ends first; it reads on past ``length`` (the size when it was
    opened), so a file that grew is seen. The descriptor is closed once no thread reads it (a
    cancelled read goes on in its thread: its descriptor number must not be reused under it).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.length = os.fstat(fd).st_size
        self._reading: asyncio.Future[int] | None = None
        self._closed = False

    async def readinto(self, view: memoryview) -> int:
        if self._closed:
            return 0
        loop = asyncio.get_running_loop()
        self._reading = loop.run_in_executor(None, _fill, self.fd, view)
        return await asyncio.shield(self._reading)  # cancelled, the read still ends first

    def close(self) -> None:
        """Close the descriptor now, or when the read in flight ends."""
        if self._closed:
            return
        self._closed = True
        reading = self._reading
        if reading is not None and not reading.done():
            reading.add_done_callback(self._close_after)
        else:
            os.close(self.fd)

    def _close_after(self, reading: asyncio.Future[int]) -> None:
        if not reading.cancelled():
            reading.exception()  # marked as seen: the error, if any, went to its reader
        os.close(self.fd)


def _close_opened(opening: asyncio.Future[int | None]) -> None:
    """Close what an open whose fetch was cancelled opened, once its thread is done."""
    fd = None if opening.cancelled() or opening.exception() else opening.result()
    if fd is not None:
        os.close(fd)


def _fill(fd: int, view: memoryview) -> int:
    """Read from ``fd`` into ``view`` until it is full or the file ends; the bytes read."""
    got = 0
    while got < len(view):
        count = os.readv(fd, [view[got:]])
        if not count:
            break
        got += count
    return got


class _Handover:
    """Hands a thread's result to its awaiting coroutine, or removes its temporary file
    when the coroutine was cancelled, whichever of the two comes last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.abandoned = False
        self.result: Fetched | None = None

    def run(self, fetch: Callable[[Wanted], Fetched], wanted: Wanted) -> Fetched:
        result = fetch(wanted)
        with self.lock:
            self.result = result
            if self.abandoned:
                self._drop()
        return result

    def abandon(self) -> None:
        with self.lock:
            self.abandoned = True
            self._drop()

    def _drop(self) -> None:
        if self.result is not None and self.result.body is not None:
            self.result.body.discard()
