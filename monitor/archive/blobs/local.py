"""Blobs in a folder: ``<root>/ab/<sha256>``, written atomically (temp file, then rename).

At most 256 folders (``ab``: the hash's first two hex digits), so a young store does not make
a folder per blob. Stores written before kept blobs one level deeper (``<root>/ab/cd/<sha256>``):
those are read, listed, checked and deleted where they are, and a body stored there already is
not written again.

Temporary files live in ``<root>/.tmp`` so that the rename into place stays on one file system
and is atomic: no reader ever sees part of a body under a blob's name. A body is written once
per process even when several files share it (a second put waits for the first); a rename
over a blob already there (another process, or a short file a crash left) puts the same bytes
in its place. A small body costs two changes to the file system: create, rename. A batch of
small bodies (:meth:`LocalBlobStore.put_many`) is written by two threads with ``O_DIRECT``
where the file system takes it and while it is quick (:data:`_SLOW_DIRECT`): the bytes go
from a page-aligned buffer to the disk, not through the page cache (whose copy cost more than
the disk's write on the machines measured), and the sync that follows has only the file
system's own records left to write.

Durability: on Linux, blobs are made durable together: :meth:`LocalBlobStore.sync` (one
``syncfs(2)`` of the store's file system) runs before the database records a batch of them,
so a row never names a blob that a crash could lose — one sync for hundreds of small files
instead of two ``fsync`` each. A crash between a put and its sync can leave a short file
under a blob's name that no row names; the next put of that body finds it short and
replaces it (and ``monitor verify`` would report it). Elsewhere (no ``syncfs``), each blob
and its folder are fsync'd before :meth:`~LocalBlobStore.put` returns. Paths
are built only from checked hashes; nothing a server sends reaches them.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import mmap
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from monitor.archive.blobs.base import (
    CHUNK_SIZE,
    BlobStore,
    check_sha256,
    is_sha256,
    os_error_message,
)
from monitor.errors import BlobMissing, BlobStoreError

#: Blobs are read-only once stored: owner and group may read them.
_BLOB_MODE = 0o440
_TEMP_DIR = ".tmp"
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_O_DIRECT = getattr(os, "O_DIRECT", 0)
#: What O_DIRECT writes must start at and be a whole number of.
_ALIGN = 4096
#: Threads that store a batch of small bodies together (each a share).
_WRITERS = 2
#: A batch of small blobs written with O_DIRECT that took longer than this per blob (create,
#: write, rename), plus its bytes at :data:`_DIRECT_RATE`, turns O_DIRECT off for the store's
#: small blobs: on a spinning disk or a network file system each such write waits for the
#: device (ms), where the page cache and one sync per batch let it gather them. On SSDs and
#: virtual disks a 64 KiB blob takes ~0.15 ms.
_SLOW_DIRECT = 0.002
_DIRECT_RATE = 100 * 1024 * 1024
#: The size of an O_DIRECT buffer (larger when a body is).
_BUFFER_BYTES = 1024 * 1024


class LocalBlobStore(BlobStore):
    """A folder of blobs (the default: ``<data_dir>/blobs``)."""

    scheme = "file"

    def __init__(self, root: Path, *, group_sync: bool | None = None) -> None:
        self.root = root
        self._root_text = os.fspath(root)
        #: True: blobs are made durable together by :meth:`sync` (one ``syncfs``); False:
        #: each is fsync'd (file and folder) before :meth:`put` returns.
        self.group_sync = _SYNCFS is not None if group_sync is None else group_sync
        self._dirty = False
        #: Bodies being stored now, by hash (a second put of one waits for the first).
        self._storing: dict[str, asyncio.Future[bool]] = {}
        #: Whether small blobs are written with O_DIRECT (until that proves slow here).
        self.direct = True
        #: Page-aligned buffers for O_DIRECT writes, one per writer thread at work.
        self._buffers: list[mmap.mmap] = []
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"folder {self.root}"

    def staging_dir(self) -> Path:
        return self.root / _TEMP_DIR

    def path_of(self, sha256: str) -> Path:
        """Where blob ``sha256`` is: ``ab/<sha256>`` (where a new one goes), or where an older
        store kept it (``ab/cd/<sha256>``) when only that exists."""
        path = self._new_path(sha256)
        if not os.path.lexists(path):
            older = self._old_path(sha256)
            if os.path.lexists(older):
                return older
        return path

    def _new_path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256

    def _old_path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _stored(self, sha256: str, size: int) -> bool:
        """Whether blob ``sha256`` (checked) is stored whole (``size`` bytes), where new
        blobs go or where an older store put it (paths as text: pathlib's cost per blob was
        a third of a small blob's)."""
        root, first = self._root_text, sha256[:2]
        return _has(f"{root}/{first}/{sha256}", size) or _has(
            f"{root}/{first}/{sha256[2:4]}/{sha256}", size
        )

    async def put(self, sha256: str, path: Path) -> bool:
        check_sha256(sha256)
        try:
            return await self._once(sha256, self._put, sha256, path)
        except asyncio.CancelledError:
            # A cancelled call may never have reached a thread: the file is removed here (a
            # thread already at work then fails to place it, or has placed it already).
            path.unlink(missing_ok=True)
            raise
        finally:
            if path.exists():
                path.unlink(missing_ok=True)  # the same body was being stored already

    async def put_bytes(self, sha256: str, data: bytes) -> bool:
        check_sha256(sha256)
        return await self._once(sha256, self._put_bytes, sha256, data)

    async def put_many(self, bodies: list[tuple[str, bytes]]) -> list[bool]:
        """In :data:`_WRITERS` worker threads, each a share of them one after the other (a
        body twice is written once); written with ``O_DIRECT`` where the file system takes it
        (no copy into the page cache, which costs more than the disk's write here)."""
        first: dict[str, int] = {}
        for index, (sha256, _) in enumerate(bodies):
            check_sha256(sha256)
            first.setdefault(sha256, index)
        unique = list(first.values())
        shares = [unique[w::_WRITERS] for w in range(_WRITERS)]
        done = await asyncio.gather(
            *(asyncio.to_thread(self._put_all, [bodies[i] for i in share]) for share in shares)
        )
        order = (i for share in shares for i in share)
        news = dict(zip(order, (new for part in done for new in part), strict=True))
        return [news.get(i, False) for i in range(len(bodies))]

    def _put_all(self, bodies: list[tuple[str, bytes]]) -> list[bool]:
        """Store ``bodies`` one after the other (a worker thread): with O_DIRECT while it is
        quick (see :data:`_SLOW_DIRECT`), else through the page cache."""
        if not bodies:
            return []
        if not self.direct:
            return [self._put_bytes(sha256, data) for sha256, data in bodies]
        t0 = time.perf_counter()
        try:
            return self._put_direct(bodies)
        finally:
            size = sum(len(data) for _, data in bodies)
            if time.perf_counter() - t0 > len(bodies) * _SLOW_DIRECT + size / _DIRECT_RATE:
                self.direct = False  # each write waits for a slow device: the page cache

    def _put_direct(self, bodies: list[tuple[str, bytes]]) -> list[bool]:
        largest = -(-max(len(data) for _, data in bodies) // _ALIGN) * _ALIGN
        with self._lock:
            buffer = self._buffers.pop() if self._buffers else None
        if buffer is None or len(buffer) < largest:
            # Page-aligned; kept for the next batch (the first touch of new memory costs).
            buffer = mmap.mmap(-1, max(largest, _BUFFER_BYTES))
        try:
            return [self._put_bytes(sha256, data, buffer) for sha256, data in bodies]
        finally:
            with self._lock:
                self._buffers.append(buffer)

    async def _once(self, sha256: str, put: Callable[..., bool], *args: object) -> bool:
        """Run ``put`` in a thread, unless this body is being stored already (then wait for
        that, and say it is not new): one write per body even when two files share it."""
        running = self._storing.get(sha256)
        if running is not None:
            await asyncio.shield(running)
            return False
        task = asyncio.ensure_future(asyncio.to_thread(put, *args))
        self._storing[sha256] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._storing.pop(sha256, None)
            else:
                task.add_done_callback(lambda _: self._storing.pop(sha256, None))

    def _put_bytes(self, sha256: str, data: bytes, buffer: mmap.mmap | None = None) -> bool:
        """Store ``data``: written with O_DIRECT through ``buffer`` (page-aligned, at least
        as long as ``data``) when given and the file system takes it, else through the page
        cache."""
        if self._stored(sha256, len(data)):
            return False
        folder = f"{self._root_text}/{_TEMP_DIR}"
        name = f"{folder}/blob-{secrets.token_hex(8)}.part"
        try:
            try:
                fd = os.open(name, _TEMP_FLAGS, _BLOB_MODE)
            except FileNotFoundError:
                os.makedirs(folder, exist_ok=True)
                fd = os.open(name, _TEMP_FLAGS, _BLOB_MODE)
        except OSError as exc:
            raise BlobStoreError(
                os_error_message(exc, f"cannot create a temporary file in {folder}")
            ) from exc
        try:
            try:
                if buffer is None or not _write_direct(fd, data, buffer):
                    _write_at(fd, memoryview(data), 0)
            finally:
                os.close(fd)
        except OSError as exc:
            _unlink(name)
            raise BlobStoreError(
                os_error_message(exc, f"cannot write to {self.describe()}")
            ) from exc
        except BaseException:
            _unlink(name)
            raise
        return self._move_in(sha256, name, chmod=False)

    def _put(self, sha256: str, path: Path) -> bool:
        try:
            stored = self._stored(sha256, os.stat(path).st_size)
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise BlobStoreError(
                os_error_message(exc, f"cannot store blob {sha256} in {self.root}")
            ) from exc
        if stored:
            path.unlink(missing_ok=True)
            return False
        return self._move_in(sha256, path, chmod=True)

    def _move_in(self, sha256: str, path: str | Path, *, chmod: bool) -> bool:
        """Rename the finished temporary file ``path`` to blob ``sha256`` (the caller has
        looked for it first); ``path`` is removed if that fails."""
        final = f"{self._root_text}/{sha256[:2]}/{sha256}"
        try:
            if not self.group_sync:
                _fsync_file(path)
            if chmod:
                os.chmod(path, _BLOB_MODE)
            _place(path, final)
            self._dirty = True
            if not self.group_sync:
                _fsync_dir(os.path.dirname(final))
        except OSError as exc:
            _unlink(path)
            raise BlobStoreError(
                os_error_message(exc, f"cannot store blob {sha256} in {self.root}")
            ) from exc
        except BaseException:
            _unlink(path)
            raise
        return True

    async def sync(self) -> None:
        if self._dirty and self.group_sync:
            self._dirty = False  # a put that ends meanwhile marks it again
            await asyncio.to_thread(self._syncfs)

    def _syncfs(self) -> None:
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                if _SYNCFS is None or _SYNCFS(fd) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, os.strerror(code))
            finally:
                os.close(fd)
        except OSError as exc:
            self._dirty = True
            raise BlobStoreError(
                os_error_message(exc, f"cannot sync the blobs to disk in {self.root}")
            ) from exc

    def read(self, sha256: str) -> Iterator[bytes]:
        try:
            file = open(self.path_of(sha256), "rb")  # closed by _chunks
        except FileNotFoundError as exc:
            raise BlobMissing(sha256, self.describe()) from exc
        except OSError as exc:
            raise BlobStoreError(os_error_message(exc, f"cannot read blob {sha256}")) from exc
        return _chunks(file)

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, sha256: str) -> None:
        try:
            self._new_path(sha256).unlink(missing_ok=True)
            self._old_path(sha256).unlink(missing_ok=True)
        except OSError as exc:
            raise BlobStoreError(os_error_message(exc, f"cannot delete blob {sha256}")) from exc

    def hashes(self) -> Iterator[str]:
        for first in _subdirs(self.root, 2):
            names = set(_blob_names(first, first.name))
            for second in _subdirs(first, 2):  # an older store's deeper folders
                names.update(_blob_names(second, first.name + second.name))
            yield from sorted(names)

    def remove_stale_temp(self, older_than: float = 86400.0) -> int:
        """Remove temporary files left by a crash, older than ``older_than`` seconds."""
        removed = 0
        cutoff = time.time() - older_than
        try:
            entries = list(os.scandir(self.staging_dir()))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        return removed


def _blob_names(folder: Path, prefix: str) -> list[str]:
    """The names of the blobs right in ``folder`` (files named by a hash that starts with
    ``prefix``); anything else is not a blob."""
    with os.scandir(folder) as entries:
        return [
            e.name
            for e in entries
            if is_sha256(e.name) and e.name.startswith(prefix) and e.is_file(follow_symlinks=False)
        ]


def _has(final: str, size: int) -> bool:
    """Whether a blob of ``size`` bytes is at ``final`` (a crash before a sync can leave a
    shorter one there, never named by the database: it is replaced)."""
    try:
        return os.stat(final).st_size == size
    except (FileNotFoundError, NotADirectoryError):
        return False


def _unlink(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _place(temp: str | Path, final: str) -> None:
    """Rename ``temp`` to ``final`` (atomic; the folder ``ab`` is made on first use).

    A blob already there is the same body (or a short one a crash left): replacing it is
    harmless, and the caller has looked first, so it is rare.
    """
    try:
        os.rename(temp, final)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.rename(temp, final)


def _find_syncfs() -> Callable[[int], int] | None:
    """``syncfs(2)`` from the C library (Linux), or None."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


_SYNCFS = _find_syncfs()


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := file.read(CHUNK_SIZE):
            yield chunk
    finally:
        file.close()


def _subdirs(folder: Path, width: int) -> list[Path]:
    """The two-hex-digit subfolders of ``folder`` in order (nothing if it does not exist)."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    wanted = [n for n in names if len(n) == width and all(c in "0123456789abcdef" for c in n)]
    return [folder / name for name in sorted(wanted)]


def _write_at(fd: int, view: memoryview, offset: int) -> None:
    """Write all of ``view`` at ``offset`` (a write may take part of it: the rest is written
    again, and a full disk then says so)."""
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def _write_direct(fd: int, data: bytes, buffer: mmap.mmap) -> bool:
    """Write ``data`` to the empty file ``fd`` with ``O_DIRECT`` through ``buffer``: whole
    blocks (the last one padded with zeros, then cut to the size); False, with nothing
    written, when the file system does not take it."""
    if not _O_DIRECT or not data:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT)
    except OSError:
        return False
    size = len(data)
    padded = -(-size // _ALIGN) * _ALIGN
    buffer[:size] = data
    buffer[size:padded] = bytes(padded - size)
    try:
        _write_at(fd, memoryview(buffer)[:padded], 0)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)  # refused after all: through the page cache
        _write_at(fd, memoryview(data), 0)
    if padded != size:
        os.ftruncate(fd, size)
    return True


def _fsync_file(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: str | Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
