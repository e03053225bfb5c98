"""Blobs in a folder: ``<root>/ab/cd/<sha256>``, written atomically (temp file, fsync, rename).

Temporary files live in ``<root>/.tmp`` so that moving one into place (a hard link, which
never replaces a blob stored meanwhile, or a rename) stays on one filesystem and is atomic:
a blob path either does not exist or holds the whole body. Paths
are built only from checked hashes; nothing a server sends reaches them.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

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

    def __init__(self, root: Path) -> None:
        self.root = root

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

    def _put(self, sha256: str, path: Path) -> bool:
        final = self.path_of(sha256)
        try:
            if final.exists():
                return False
            final.parent.mkdir(parents=True, exist_ok=True)
            _fsync_file(path)
            os.chmod(path, _BLOB_MODE)
            if not _place(path, final):
                return False
            _fsync_dir(final.parent)
        except OSError as exc:
            raise BlobStoreError(
                os_error_message(exc, f"cannot store blob {sha256} in {self.root}")
            ) from exc
        finally:
            path.unlink(missing_ok=True)
        return True

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


def _place(temp: Path, final: Path) -> bool:
    """Move ``temp`` to ``final`` atomically unless ``final`` exists; True if it moved.

    A hard link never replaces a file, so two stores of the same body at once keep one
    (the loser's temp file is removed by the caller); a file system without hard links
    gets a rename (atomic too, and the same bytes either way).
    """
    try:
        os.link(temp, final)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}:
            raise
        os.replace(temp, final)
    return True


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
