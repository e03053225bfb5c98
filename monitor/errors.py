"""The exceptions filedrop-monitor raises.

::

    MonitorError
    ├── ConfigError          the config file is missing, unreadable or invalid
    ├── UsageError           a command was given something it cannot use (a bad time, ...)
    ├── SourceError          a source could not list what it was asked to
    │   ├── RootUnavailable  the target's root itself cannot be listed (the poll fails)
    │   └── FolderFailed     one folder could not be listed (the poll is partial)
    ├── StoreError           the database refused, is busy, or is at the wrong schema
    │   └── NotFound         a target, snapshot, batch or path the user named does not exist
    ├── NotifyError          an alert could not be delivered
    └── ArchiveError         a file could not be archived, or archived files cannot be read
        ├── BlobStoreError   the blob store refused (disk full, permissions, S3 unreachable)
        └── BlobMissing      a blob the database names is not in the store

Library exceptions are translated into these at the boundary with ``raise … from exc``; every
exception carries a message meant for a person.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error filedrop-monitor raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(MonitorError):
    """The configuration cannot be used; the message names the file and the key path."""


class UsageError(MonitorError):
    """A command-line value cannot be used; the CLI exits 2, like for any bad usage."""


class SourceError(MonitorError):
    """A source could not produce a listing."""


class RootUnavailable(SourceError):
    """The target's root could not be listed: the poll yields a failed snapshot."""


class FolderFailed(SourceError):
    """One folder could not be listed: its previous entries are carried forward."""

    def __init__(self, folder: str, reason: str) -> None:
        super().__init__(f"{folder or '/'}: {reason}")
        self.folder = folder
        self.reason = reason


class StoreError(MonitorError):
    """The database could not do what was asked."""


class NotFound(StoreError):
    """Something the user named is not in the database."""


class NotifyError(MonitorError):
    """An alert could not be delivered."""


class ArchiveError(MonitorError):
    """A file could not be archived, or the archive could not be read."""


class BlobStoreError(ArchiveError):
    """The blob store cannot be used: full, not writable, unreachable, or misconfigured."""


class BlobMissing(ArchiveError):
    """A blob named by its SHA-256 is not in the store."""

    def __init__(self, sha256: str, where: str) -> None:
        super().__init__(f"blob {sha256} is not in {where}")
        self.sha256 = sha256
