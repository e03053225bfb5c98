"""Blobs in a folder: ``<root>/ab/cd/<sha256>``, written atomically (temp file, then a link).

Temporary files live in ``<root>/.tmp`` so that moving one into place (a hard link, which
never replaces a blob stored meanwhile, or a rename) stays on one filesystem and is atomic:
no reader ever sees part of a body under a blob's name.

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
import os
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


class LocalBlobStore(BlobStore):
    """A folder of blobs (the default: ``<data_dir>/blobs``)."""

    scheme = "file"

    def __init__(self, root: Path, *, group_sync: bool | None = None) -> None:
        self.root = root
        #: True: blobs are made durable together by :meth:`sync` (one ``syncfs``); False:
        #: each is fsync'd (file and folder) before :meth:`put` returns.
        self.group_sync = _SYNCFS is not None if group_sync is None else group_sync
        self._dirty = False

    def describe(self) -> str:
        return f"folder {self.root}"

    def staging_dir(self) -> Path:
        return self.root / _TEMP_DIR

    def path_of(self, sha256: str) -> Path:
        """Where blob ``sha256`` is (or would be) kept."""
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put(self, sha256: str, path: Path) -> bool:
        check_sha256(sha256)
        try:
            return await asyncio.to_thread(self._put, sha256, path)
        except asyncio.CancelledError:
            # A cancelled call may never have reached a thread: the file is removed here (a
            # thread already at work then fails to place it, or has placed it already).
            path.unlink(missing_ok=True)
            raise

    async def put_bytes(self, sha256: str, data: bytes) -> bool:
        check_sha256(sha256)
        return await asyncio.to_thread(self._put_bytes, sha256, data)

    def _put_bytes(self, sha256: str, data: bytes) -> bool:
        if _has(self.path_of(sha256), len(data)):
            return False
        return self._put(sha256, self._spill(data))

    def _put(self, sha256: str, path: Path) -> bool:
        final = self.path_of(sha256)
        try:
            size = os.stat(path).st_size
            if _has(final, size):
                return False
            if not self.group_sync:
                _fsync_file(path)
            os.chmod(path, _BLOB_MODE)
            if not _place(path, final, size):
                return False
            self._dirty = True
            if not self.group_sync:
                _fsync_dir(final.parent)
        except OSError as exc:
            raise BlobStoreError(
                os_error_message(exc, f"cannot store blob {sha256} in {self.root}")
            ) from exc
        finally:
            path.unlink(missing_ok=True)
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
            self.path_of(sha256).unlink(missing_ok=True)
        except OSError as exc:
            raise BlobStoreError(os_error_message(exc, f"cannot delete blob {sha256}")) from exc

    def hashes(self) -> Iterator[str]:
        for first in _subdirs(self.root, 2):
            for second in _subdirs(first, 2):
                with os.scandir(second) as entries:
                    names = sorted(e.name for e in entries if e.is_file(follow_symlinks=False))
                for name in names:
                    if is_sha256(name) and name[:2] == first.name and name[2:4] == second.name:
                        yield name

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


def _has(final: Path, size: int) -> bool:
    """Whether a blob of ``size`` bytes is at ``final`` (a crash before a sync can leave a
    shorter one there, never named by the database: it is replaced)."""
    try:
        return final.stat().st_size == size
    except FileNotFoundError:
        return False


def _place(temp: Path, final: Path, size: int) -> bool:
    """Move ``temp`` to ``final`` atomically unless a whole blob is there; True if it moved.

    A hard link never replaces a file, so two stores of the same body at once keep one
    (the loser's temp file is removed by the caller); a file system without hard links
    gets a rename (atomic too, and the same bytes either way). The folders ``ab/cd`` are
    made on first use.
    """
    try:
        try:
            os.link(temp, final)
        except FileNotFoundError:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.link(temp, final)
    except FileExistsError:
        if _has(final, size):
            return False
        os.replace(temp, final)
    except OSError as exc:
        if exc.errno not in {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}:
            raise
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)
    return True


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


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
