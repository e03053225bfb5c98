"""The type of an archived file, read from its first bytes (puremagic), never from its name.

Only the first :data:`HEAD_BYTES` bytes are looked at; they are matched against signatures,
never parsed or run. A signature several formats share (a ZIP is also a DOCX, a JAR…) gives
the generic container type; bytes no signature knows are ``text/plain`` when they read as
UTF-8 text without control characters, else ``application/octet-stream``.
"""

from __future__ import annotations

import puremagic

#: How much of the start of a body is kept for type detection.
HEAD_BYTES = 8192

#: When several formats share a signature, the container they are all made of.
_GENERIC = ("application/zip", "application/x-ole-storage", "application/x-tar")
_CONTROL = set(range(0, 9)) | {11, 12} | set(range(14, 32)) | {127}


def detect_type(head: bytes) -> tuple[str, str]:
    """``(MIME type, description)`` of a body that starts with ``head``."""
    if not head:
        return "application/x-empty", "empty"
    try:
        matches = puremagic.magic_string(head[:HEAD_BYTES])
    except (puremagic.PureError, ValueError):
        matches = []
    typed = [m for m in matches if m.mime_type]
    if typed:
        best = max(m.confidence for m in typed)
        top = [m for m in typed if m.confidence == best]
        for generic in _GENERIC:
            for match in top:
                if match.mime_type == generic:
                    return match.mime_type, match.name
        return top[0].mime_type, top[0].name
    if matches:
        return "application/octet-stream", matches[0].name
    if _is_text(head[:HEAD_BYTES]):
        return "text/plain", "text"
    return "application/octet-stream", "data"


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the head is still text.
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(c) in _CONTROL for c in text)
