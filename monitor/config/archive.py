"""Settings of the archive: which files of a target are kept (``[target.archive]``) and where
the blobs go (``[archive]``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr

from monitor.config.values import PositiveDuration, Size, _Secret, _Strict


def _check_store_url(value: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in {"file", "s3"} or (scheme == "s3" and not urlsplit(value).netloc):
        raise ValueError(
            "expected a folder (file:///var/lib/monitor/blobs) or a bucket (s3://bucket/prefix)"
        )
    return value


StoreUrl = Annotated[str, AfterValidator(_check_store_url)]


class ArchiveRules(_Strict):
    """Which new and modified files of a target are downloaded and kept."""

    enabled: bool = False
    #: When not empty, only files matching one of these globs (as the target's include).
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    #: Larger files are not archived (recorded as skipped).
    max_file_size: Size = 1_000_000_000
    #: Most bytes downloaded after one poll; the rest waits for the next.
    max_bytes_per_poll: Size = 10_000_000_000
    #: Most bytes this target's archived versions may hold in all (unset: no limit).
    quota: Size | None = None
    #: `monitor gc` removes copies of versions that left the server (removed or changed) longer
    #: than this ago; a file still there keeps its newest copy (unset: kept forever).
    max_age: PositiveDuration | None = None


class ArchiveStore(_Secret):
    """Where archived bodies are kept: a folder (default: <data_dir>/blobs) or S3."""

    #: ``file:///path`` or ``s3://bucket/prefix``; unset: ``<data_dir>/blobs``.
    store: StoreUrl | None = None
    #: S3: the endpoint of an S3-compatible service (unset: AWS), its region and keys.
    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    #: How long one download may be silent before it is abandoned (retried later).
    timeout: PositiveDuration = timedelta(seconds=60)
