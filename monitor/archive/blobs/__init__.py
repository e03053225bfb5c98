"""Blob stores: archived bodies kept once by SHA-256, one module per backend.

::

    open_blob_store(settings)          chosen by settings.blob_store_url
      ├── local.LocalBlobStore         file:///folder (default: <data_dir>/blobs)
      └── s3.S3BlobStore               s3://bucket/prefix (obstore; the optional s3 extra)

Every store has the interface of :class:`~monitor.archive.blobs.base.BlobStore`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from monitor.archive.blobs.base import CHUNK_SIZE, BlobStore, check_sha256, is_sha256
from monitor.archive.blobs.local import LocalBlobStore
from monitor.config import Settings
from monitor.errors import ConfigError

__all__ = [
    "BLOB_STORES",
    "CHUNK_SIZE",
    "BlobStore",
    "LocalBlobStore",
    "check_sha256",
    "is_sha256",
    "open_blob_store",
]


def _local(url: str, settings: Settings) -> BlobStore:
    parts = urlsplit(url)
    if parts.netloc not in {"", "localhost"}:
        raise ConfigError(f"[archive] store: a file:// URL names a local folder, got {url!r}")
    return LocalBlobStore(Path(unquote(parts.path)))


def _s3(url: str, settings: Settings) -> BlobStore:
    # Imported on use: only people who configure S3 need obstore.
    from monitor.archive.blobs.s3 import S3BlobStore

    return S3BlobStore(url, settings.archive, settings.data_dir / "archive-tmp")


#: URL scheme → the function that opens a store of that kind.
BLOB_STORES: dict[str, Callable[[str, Settings], BlobStore]] = {
    "file": _local,
    "s3": _s3,
}


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store ``settings`` names (``[archive] store``, else ``<data_dir>/blobs``)."""
    url = settings.blob_store_url
    scheme = urlsplit(url).scheme
    opener = BLOB_STORES.get(scheme)
    if opener is None:
        known = ", ".join(f"{s}://" for s in sorted(BLOB_STORES))
        raise ConfigError(f"[archive] store: unknown kind {scheme!r} (known: {known})")
    return opener(url, settings)
