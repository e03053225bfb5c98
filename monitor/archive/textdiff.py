"""How the archived body of a path changed from one version to the next.

Used by ``monitor history TARGET PATH --content``. Two consecutive archived versions that
are both text (a textual or unknown detected type, valid UTF-8 without NUL, at most
:data:`TEXT_CAP` bytes each) give a unified diff; otherwise one line says what is known:
binary with the sizes and hashes, too large, the same content, or not archived and why.

The bodies are hostile: they are only read and decoded, never run or rendered, and every
line must go through :func:`terminal_safe` before it reaches a terminal (JSON keeps them exact).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Protocol

from sqlalchemy import Connection

from monitor.errors import ArchiveError
from monitor.store import archive_queries as aq
from monitor.store.queries import StoredVersion

#: The most bytes of one side that are read to diff it as text.
TEXT_CAP = 1_000_000
#: Types that are text although their MIME type does not start with ``text/``.
TEXTUAL_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-sh",
        "application/x-shellscript",
        "application/sql",
        "application/toml",
        "application/yaml",
        "application/x-yaml",
        "application/csv",
        "image/svg+xml",
    }
)

_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)


class BlobReader(Protocol):
    """What is needed of a blob store here."""

    def read(self, sha256: str) -> Iterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class Body:
    """What is known of one version's archived body."""

    #: A label for headers: the path and the snapshot that saw this version.
    label: str
    sha256: str | None
    size: int | None
    mime: str | None = None
    #: Why there is no body, when ``sha256`` is None.
    missing: str | None = None


@dataclass(slots=True)
class Step:
    """From one version to the next: what kind of difference, a summary, and diff lines."""

    before: Body
    after: Body
    kind: str  # text | same | binary | too large | not archived | unreadable
    summary: str
    lines: list[str] = field(default_factory=list)


def terminal_safe(line: str) -> str:
    """``line`` with control, bidi and zero-width characters escaped (tabs kept)."""

    def escape(m: re.Match[str]) -> str:
        code = ord(m.group(0))
        if 0xDC80 <= code <= 0xDCFF:
            return f"\\x{code - 0xDC00:02x}"
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNSAFE.sub(escape, line)


def is_textual(mime: str | None) -> bool:
    """Whether a detected type may be text (an unknown type may: the bytes decide)."""
    if mime is None or mime in {"", "application/octet-stream"}:
        return True
    base = mime.split(";", 1)[0].strip().lower()
    return base.startswith("text/") or base in TEXTUAL_TYPES or base.endswith(("+json", "+xml"))


def read_text(store: BlobReader, sha256: str, cap: int = TEXT_CAP) -> str | None:
    """The body as text; None when it is binary (not UTF-8, or holds NUL) or over ``cap``.

    A byte order mark is kept (as U+FEFF), so one added or removed shows in the diff.
    """
    data = bytearray()
    for chunk in store.read(sha256):
        data += chunk
        if len(data) > cap:
            return None
    if b"\x00" in data:
        return None
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _short(sha256: str | None) -> str:
    return sha256[:16] if sha256 else "-"


def _sizes(before: Body, after: Body) -> str:
    return (
        f"sizes {before.size if before.size is not None else '?'} -> "
        f"{after.size if after.size is not None else '?'}, "
        f"sha256 {_short(before.sha256)} -> {_short(after.sha256)}"
    )


def step(store: BlobReader, before: Body, after: Body, cap: int = TEXT_CAP) -> Step:
    """The difference between two consecutive versions' bodies."""
    for side in (before, after):
        if side.sha256 is None:
            why = side.missing or "no capture"
            return Step(before, after, "not archived", f"{side.label} not archived: {why}")
    if before.sha256 == after.sha256:
        return Step(before, after, "same", f"same content ({_sizes(before, after)})")
    if not (is_textual(before.mime) and is_textual(after.mime)):
        return Step(before, after, "binary", f"binary, {_sizes(before, after)}")
    if any(side.size is not None and side.size > cap for side in (before, after)):
        return Step(before, after, "too large", f"too large to diff, {_sizes(before, after)}")
    assert before.sha256 is not None and after.sha256 is not None
    try:
        old, new = read_text(store, before.sha256, cap), read_text(store, after.sha256, cap)
    except ArchiveError as exc:  # a body missing from the store: monitor verify reports it
        return Step(before, after, "unreadable", f"cannot read an archived body: {exc}")
    except OSError as exc:  # a read error part way (EIO): monitor verify reports it too
        why = exc.strerror or str(exc)
        return Step(before, after, "unreadable", f"cannot read an archived body: {why}")
    if old is None or new is None:
        return Step(before, after, "binary", f"binary, {_sizes(before, after)}")
    lines = list(
        difflib.unified_diff(_lines(old), _lines(new), before.label, after.label, lineterm="")
    )
    return Step(before, after, "text", f"text, {_sizes(before, after)}", lines)


def _lines(text: str) -> list[str]:
    """Lines split at ``\n`` only (a stray ``\r`` stays visible, escaped, in its line)."""
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def steps(store: BlobReader, bodies: Sequence[Body], cap: int = TEXT_CAP) -> list[Step]:
    """The step from each body to the next, oldest first."""
    return [step(store, a, b, cap) for a, b in pairwise(bodies)]


def bodies_of(conn: Connection, versions: Sequence[StoredVersion], label: str) -> list[Body]:
    """What the archive holds of each version (its newest complete capture), in order.

    ``label`` is the path as shown; each body's label adds the snapshot that saw it.
    """
    captures = aq.captures_of_versions(conn, [v.id for v in versions])
    blobs = aq.blobs_by_hash(conn, {c.sha256 for cs in captures.values() for c in cs if c.sha256})
    bodies = []
    for v in versions:
        tried = captures.get(v.id, [])
        done = next((c for c in tried if c.status == "complete" and c.sha256 in blobs), None)
        name = f"{label} @ snapshot {v.first_snapshot}"
        if done is None or done.sha256 is None:
            why = "no capture"
            if tried:
                error = f": {tried[0].error}" if tried[0].error else ""
                why = f"last capture {tried[0].status}{error}"
            bodies.append(Body(name, None, v.size, missing=why))
            continue
        blob = blobs[done.sha256]
        bodies.append(Body(name, blob.sha256, blob.size, blob.mime))
    return bodies
