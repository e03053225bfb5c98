"""Blobs in S3-compatible object storage (``s3://bucket/prefix``), through obstore.

Keys are ``<prefix>/ab/cd/<sha256>`` (object storage has no folders to make: the folder
store's flatter layout buys nothing here). A download is staged in a local temporary folder
(``<data_dir>/archive-tmp``) while it is hashed, then uploaded; S3 makes an object visible
only once the whole upload has succeeded, so a key either does not exist or holds the whole
body. obstore is the optional ``s3`` extra: a missing install is reported when such a store
is opened, with the command that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from monitor.archive.blobs.base import BlobStore, check_sha256, is_sha256
from monitor.config import ArchiveStore
from monitor.errors import BlobMissing, BlobStoreError

if TYPE_CHECKING:
    from obstore.store import S3Store

#: obstore yields chunks of at least this size when reading.
_READ_CHUNK = 1024 * 1024


def _obstore() -> Any:
    try:
        import obstore
    except ImportError as exc:
        raise BlobStoreError(
            "an s3:// blob store needs obstore: pip install 'filedrop-monitor[s3]'"
        ) from exc
    return obstore


class S3BlobStore(BlobStore):
    """A bucket (and a prefix within it) of blobs."""

    scheme = "s3"

    def __init__(self, url: str, settings: ArchiveStore, staging: Path) -> None:
        parts = urlsplit(url)
        self.url = url
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.endpoint = settings.endpoint
        self._staging = staging
        self._obstore = _obstore()
        #: What obstore raises: its own tree, and OSError for a local file it cannot read.
        self._errors: tuple[type[Exception], ...] = (
            self._obstore.exceptions.BaseError,
            OSError,
            ValueError,
        )
        self._store = self._open(settings)

    def _open(self, settings: ArchiveStore) -> S3Store:
        from obstore.store import S3Store

        config: dict[str, Any] = {}
        if settings.endpoint:
            config["endpoint"] = settings.endpoint
        if settings.region:
            config["region"] = settings.region
        if settings.access_key_id:
            config["access_key_id"] = settings.access_key_id
        if settings.secret_access_key is not None:
            config["secret_access_key"] = settings.secret_access_key.get_secret_value()
        timeout = f"{int(settings.timeout.total_seconds())}s"
        client: dict[str, Any] = {"timeout": timeout, "connect_timeout": "30s"}
        if settings.endpoint and settings.endpoint.startswith("http://"):
            client["allow_http"] = True
        try:
            return S3Store(
                self.bucket,
                prefix=self.prefix or None,
                config=config,  # type: ignore[arg-type]
                client_options=client,  # type: ignore[arg-type]
            )
        except self._errors as exc:
            raise BlobStoreError(f"cannot open the blob store {self.url}: {exc}") from exc

    def describe(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"{self.url}{where}"

    def staging_dir(self) -> Path:
        return self._staging

    @staticmethod
    def key_of(sha256: str) -> str:
        """The object key of blob ``sha256`` within the prefix."""
        check_sha256(sha256)
        return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"

    async def put(self, sha256: str, path: Path) -> bool:
        key = self.key_of(sha256)
        try:
            if await self._head_async(key) is not None:
                return False
            await self._obstore.put_async(self._store, key, path)
        except self._errors as exc:
            raise self._error(exc, f"cannot upload blob {sha256}") from exc
        finally:
            path.unlink(missing_ok=True)
        return True

    async def put_bytes(self, sha256: str, data: bytes) -> bool:
        key = self.key_of(sha256)
        try:
            if await self._head_async(key) is not None:
                return False
            await self._obstore.put_async(self._store, key, data)
        except self._errors as exc:
            raise self._error(exc, f"cannot upload blob {sha256}") from exc
        return True

    def read(self, sha256: str) -> Iterator[bytes]:
        key = self.key_of(sha256)
        try:
            result = self._obstore.get(self._store, key)
        except self._errors as exc:
            if self._missing(exc):
                raise BlobMissing(sha256, self.describe()) from exc
            raise self._error(exc, f"cannot read blob {sha256}") from exc
        return self._chunks(result.stream(min_chunk_size=_READ_CHUNK), sha256)

    def _chunks(self, stream: Iterator[Any], sha256: str) -> Iterator[bytes]:
        try:
            for chunk in stream:
                yield bytes(chunk)
        except self._errors as exc:
            raise self._error(exc, f"cannot read blob {sha256}") from exc

    def exists(self, sha256: str) -> bool:
        return self._head(self.key_of(sha256)) is not None

    def size(self, sha256: str) -> int | None:
        meta = self._head(self.key_of(sha256))
        return None if meta is None else int(meta["size"])

    def delete(self, sha256: str) -> None:
        try:
            self._obstore.delete(self._store, self.key_of(sha256))
        except self._errors as exc:
            if not self._missing(exc):
                raise self._error(exc, f"cannot delete blob {sha256}") from exc

    def hashes(self) -> Iterator[str]:
        try:
            for page in self._obstore.list(self._store, chunk_size=1000):
                for meta in page:
                    key = str(meta["path"])
                    if self.prefix and key.startswith(self.prefix + "/"):
                        key = key[len(self.prefix) + 1 :]
                    name = key.rsplit("/", 1)[-1]
                    if is_sha256(name) and key == self.key_of(name):
                        yield name
        except self._errors as exc:
            raise self._error(exc, "cannot list the blobs") from exc

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self._obstore.head(self._store, key))
        except self._errors as exc:
            if self._missing(exc):
                return None
            raise self._error(exc, f"cannot look up {key}") from exc

    async def _head_async(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(await self._obstore.head_async(self._store, key))
        except self._errors as exc:
            if self._missing(exc):
                return None
            raise self._error(exc, f"cannot look up {key}") from exc

    def _missing(self, exc: Exception) -> bool:
        return isinstance(exc, self._obstore.exceptions.NotFoundError | FileNotFoundError)

    def _error(self, exc: Exception, what: str) -> BlobStoreError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return BlobStoreError(f"{what} ({self.describe()}): {reason}")
