"""Column types that keep times in UTC and file names byte-exact on every database."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Text
from sqlalchemy.types import TypeDecorator

# Text columns must be valid UTF-8 without NUL on PostgreSQL, but a file name may hold any byte
# except "/" (kept in str with surrogateescape). Backslash is the escape: "\\" for itself,
# "\uXXXX" for a surrogate or NUL. The encoding keeps prefixes, so a folder's prefix encodes
# to a prefix of every path under it.
_NEEDS_ESCAPE = re.compile("[\\\\\x00\ud800-\udfff]")
_ESCAPED = re.compile(r"\\(\\|u[0-9a-f]{4})")


def encode_path(path: str) -> str:
    """A path as stored: valid UTF-8 text, reversible with :func:`decode_path`."""
    if not _NEEDS_ESCAPE.search(path):
        return path
    return _NEEDS_ESCAPE.sub(
        lambda m: "\\\\" if m.group(0) == "\\" else f"\\u{ord(m.group(0)):04x}", path
    )


def path_key(path: str) -> str:
    """The fixed-size key that indexes a path (a path can outgrow a B-tree index row)."""
    return stored_path_key(encode_path(path))


def stored_path_key(stored: str) -> str:
    """:func:`path_key` of a path already encoded by :func:`encode_path`."""
    return hashlib.blake2b(stored.encode("utf-8"), digest_size=16).hexdigest()


def decode_path(stored: str) -> str:
    """Undo :func:`encode_path`."""
    if "\\" not in stored:
        return stored
    return _ESCAPED.sub(
        lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1)[1:], 16)), stored
    )


class PathText(TypeDecorator[str]):
    """A file path relative to the target root, stored escaped (see :func:`encode_path`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encode_path(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else decode_path(value)

    def copy(self, **kw: Any) -> PathText:
        return PathText()


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant on every backend (SQLite keeps it as naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def copy(self, **kw: Any) -> UTCDateTime:
        return UTCDateTime()
