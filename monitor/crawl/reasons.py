"""The words of a failure: short reasons for a folder that could not be listed, safe to show."""

from __future__ import annotations

import re
import socket
import ssl

import httpx

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def seconds_text(seconds: float) -> str:
    """``30 s``, ``0.5 s``, ``30 min``: a duration in a failure reason."""
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def size_text(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def shown(text: str, limit: int = 200) -> str:
    """Untrusted text (a header, a Location) made safe for a reason or a log line."""
    text = _UNPRINTABLE.sub("?", text)
    return text if len(text) <= limit else text[:limit] + "…"


def status_reason(status: int) -> str:
    return f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip()


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def connect_reason(exc: Exception) -> tuple[str, bool]:
    """(a short reason, whether to retry) for an error before the response started."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {cause.verify_message}", False
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause}", False
        if isinstance(cause, socket.gaierror):
            return "host name not found", True
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused", True
        if isinstance(cause, ConnectionResetError):
            return "connection reset", True
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror[:1].lower() + cause.strerror[1:], True
    text = str(exc) or type(exc).__name__
    return shown(text[:1].lower() + text[1:]), True
