"""What every blob store shares: the :class:`BlobStore` base and the checks on blob names.

A blob is an archived body stored once under its SHA-256 (64 lowercase hex digits). The name
is the only thing that reaches the store's paths or keys, and it is checked on every call, so
no name a watched server sends can ever choose where something is written.

Writing is in two steps, because the hash is known only once the whole body has been read:
the caller streams the body into a temporary file made by :meth:`BlobStore.temp_file` (in the
store's own folder for a folder store, so the final rename is atomic), hashing as it goes,
then hands the finished file to :meth:`BlobStore.put`, which takes it over (moves or uploads
it, and removes it in every case). :meth:`BlobStore.put_stream` does both for an async
iterator of chunks and checks the hash it was promised.

Reading is synchronous (it runs in CLI commands and threads): :meth:`~BlobStore.read` yields
chunks, :meth:`~BlobStore.exists`, :meth:`~BlobStore.size`, :meth:`~BlobStore.hashes`.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from monitor.errors import ArchiveError, BlobStoreError

#: How much a store reads or writes at a time.
CHUNK_SIZE = 1024 * 1024
#: How many bodies :meth:`BlobStore.put_many` sends at once (a remote store's requests).
_PUTS_AT_ONCE = 8

_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(name: str) -> bool:
    """Whether ``name`` is a blob name: exactly 64 lowercase hex digits."""
    return _SHA256.fullmatch(name) is not None


def check_sha256(name: str) -> str:
    """``name`` if it is a blob name, else :class:`ArchiveError` (never a path, never a URL)."""
    if not isinstance(name, str) or not is_sha256(name):
        raise ArchiveError(f"not a SHA-256 (64 lowercase hex digits): {name!r:.80}")
    return name


def os_error_message(exc: OSError, what: str) -> str:
    """A sentence for an :class:`OSError` met while ``what``, naming a full disk plainly."""
    if exc.errno == errno.ENOSPC:
        return f"{what}: no space left on the device (the blob store is full)"
    if exc.errno == errno.EDQUOT:
        return f"{what}: the disk quota is exceeded"
    if exc.errno in {errno.EACCES, errno.EPERM, errno.EROFS}:
        return f"{what}: not permitted ({exc.strerror})"
    return f"{what}: {exc.strerror or exc}"


class BlobStore(ABC):
    """Where archived bodies are kept, by SHA-256. One copy per hash."""

    #: The URL scheme this store is chosen by (``file``, ``s3``).
    scheme: str

    @abstractmethod
    def describe(self) -> str:
        """Where the blobs are, for people (a folder, or ``s3://bucket/prefix at endpoint``)."""

    @abstractmethod
    def staging_dir(self) -> Path:
        """The folder for temporary files that become blobs (created on demand)."""

    @abstractmethod
    async def put(self, sha256: str, path: Path) -> bool:
        """Store the finished temporary file ``path`` as blob ``sha256``; True if it is new.

        The file is taken over: moved into the store or uploaded, then removed, whatever
        happens. The caller has hashed it; a blob already stored under that hash is kept
        as it is (False). A store that cannot take it raises :class:`BlobStoreError`.
        """

    async def sync(self) -> None:
        """Make every blob put so far durable (before the database names them); a store
        whose puts are durable when they return does nothing."""
        return None

    @abstractmethod
    def read(self, sha256: str) -> Iterator[bytes]:
        """The blob's bytes in chunks; :class:`~monitor.errors.BlobMissing` if it is absent.

        The check for presence happens on the call, before the first chunk is asked for.
        """

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether blob ``sha256`` is stored."""

    @abstractmethod
    def size(self, sha256: str) -> int | None:
        """The stored blob's size in bytes, None if it is absent."""

    @abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove blob ``sha256``; nothing happens if it is absent."""

    @abstractmethod
    def hashes(self) -> Iterator[str]:
        """The name of every stored blob (what the store holds, not what the database says)."""

    async def put_bytes(self, sha256: str, data: bytes) -> bool:
        """Store ``data`` (already hashed by the caller) as blob ``sha256``; True if new."""
        check_sha256(sha256)
        path = await asyncio.to_thread(self._spill, data)
        return await self.put(sha256, path)

    async def put_many(self, bodies: list[tuple[str, bytes]]) -> list[bool]:
        """Store each ``(sha256, data)`` as :meth:`put_bytes` does (a few at a time); whether
        each was new, in order. A store that cannot take one raises :class:`BlobStoreError`
        (those before it may be stored)."""
        news: list[bool] = []
        for start in range(0, len(bodies), _PUTS_AT_ONCE):
            some = bodies[start : start + _PUTS_AT_ONCE]
            news += await asyncio.gather(*(self.put_bytes(sha, data) for sha, data in some))
        return news

    def _spill(self, data: bytes) -> Path:
        with self.temp_file() as (path, file):
            write(file, data, self.describe())
        return path

    def open_temp(self) -> tuple[Path, BinaryIO]:
        """A new temporary file in :meth:`staging_dir`, open for writing (the caller closes
        and removes it, or hands it to :meth:`put`)."""
        folder = self.staging_dir()
        try:
            try:
                fd, name = tempfile.mkstemp(prefix="blob-", suffix=".part", dir=folder)
            except FileNotFoundError:
                folder.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix="blob-", suffix=".part", dir=folder)
        except OSError as exc:
            raise BlobStoreError(
                os_error_message(exc, f"cannot create a temporary file in {folder}")
            ) from exc
        return Path(name), os.fdopen(fd, "wb")

    @contextmanager
    def temp_file(self) -> Iterator[tuple[Path, BinaryIO]]:
        """A new temporary file in :meth:`staging_dir`, open for writing; removed on error.

        After a clean exit the file is closed and left for :meth:`put` (which removes it).
        """
        path, file = self.open_temp()
        try:
            try:
                yield path, file
            finally:
                close(file, self.describe())
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    async def put_stream(self, sha256: str, chunks: AsyncIterable[bytes]) -> bool:
        """Store the bytes of ``chunks`` as blob ``sha256``, after checking that they hash to it.

        True if the blob is new. Nothing is stored when the hash differs
        (:class:`ArchiveError`) or the store refuses (:class:`BlobStoreError`).
        """
        check_sha256(sha256)
        digest = hashlib.sha256()
        with self.temp_file() as (path, file):
            async for chunk in chunks:
                digest.update(chunk)
                write(file, chunk, self.describe())
        if digest.hexdigest() != sha256:
            path.unlink(missing_ok=True)
            raise ArchiveError(f"the bytes hash to {digest.hexdigest()}, not {sha256}")
        return await self.put(sha256, path)


def write(file: BinaryIO, data: bytes | memoryview, where: str) -> None:
    """Write all of ``data`` to a temporary file (a raw file may take part of it: the rest
    is written again, and a full disk then says so); a refusal is :class:`BlobStoreError`."""
    view = memoryview(data)
    try:
        while view:
            view = view[file.write(view) :]
    except OSError as exc:
        raise BlobStoreError(os_error_message(exc, f"cannot write to {where}")) from exc


def close(file: BinaryIO, where: str) -> None:
    """Close a temporary file; the last buffered write may be the one that finds a full disk."""
    try:
        file.close()
    except OSError as exc:
        raise BlobStoreError(os_error_message(exc, f"cannot write to {where}")) from exc
