"""The ``apprise`` channel: chat rooms, webhooks and the rest, one Apprise URL per channel.

Each URL of ``[notify] apprise`` is its own channel, named ``apprise:<hash of the URL>``, so
the outbox records delivery per URL and a retry never repeats a message to a URL that got it.
The title is the alert's subject and the body its text part. Apprise is an optional extra
(``pip install 'filedrop-monitor[apprise]'``); it is imported only when a URL is configured.
URLs carry tokens: messages name only their scheme and host.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from monitor.config import Notify
from monitor.errors import NotifyError
from monitor.notify.base import Channel, Message

if TYPE_CHECKING:
    from types import ModuleType

log = logging.getLogger(__name__)

#: Longest Apprise log line quoted in an error.
_MAX_REASON = 300
#: Requests one send may make (a long message is split into several posts), each bounded by
#: the URL's ``cto`` (connect) and ``rto`` (read) timeouts, 4 s each unless the URL says.
APPRISE_REQUESTS = 10
_APPRISE_TIMEOUT_S = 4.0
_APPRISE_TIMEOUT_MAX_S = 600.0


def _apprise() -> ModuleType:
    try:
        import apprise
    except ImportError as exc:
        raise NotifyError(
            "[notify] apprise URLs need the apprise package: "
            "pip install 'filedrop-monitor[apprise]'"
        ) from exc
    return apprise


class AppriseChannel(Channel):
    """One Apprise URL."""

    kind = "apprise"

    def __init__(self, url: str) -> None:
        self.url = url
        digest = hashlib.sha256(url.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        self._name = f"apprise:{digest}"
        parts, port = urlsplit(url), _port(url)
        self.label = f"{parts.scheme}://{parts.hostname or '…'}" + (f":{port}" if port else "")

    @property
    def name(self) -> str:
        return self._name

    @classmethod
    def from_settings(cls, notify: Notify) -> list[Channel]:
        return [cls(url) for url in notify.apprise]

    def longest_send(self, recipients: int) -> timedelta:
        query = parse_qs(urlsplit(self.url).query)
        seconds = sum(_seconds(query.get(name)) for name in ("cto", "rto"))
        return timedelta(seconds=seconds * APPRISE_REQUESTS)

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: Message) -> None:
        apprise = _apprise()
        sender = apprise.Apprise()
        if not sender.add(self.url):
            raise NotifyError(f"Apprise does not understand the URL {self.label}…")
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            ok = sender.notify(
                body=message.text, title=message.subject, body_format=apprise.NotifyFormat.TEXT
            )
            lines = [line for line in captured.getvalue().splitlines() if line.strip()]
        if not ok:
            reason = lines[-1][:_MAX_REASON] if lines else "no reason given"
            raise NotifyError(f"Apprise could not deliver to {self.label}: {reason}")


def _seconds(values: list[str] | None) -> float:
    """A timeout given in the URL (the last one, as Apprise reads it), at least Apprise's
    default and at most :data:`_APPRISE_TIMEOUT_MAX_S` (an estimate, not a promise)."""
    try:
        given = float(values[-1]) if values else _APPRISE_TIMEOUT_S
    except ValueError:
        given = _APPRISE_TIMEOUT_S
    if math.isnan(given):
        return _APPRISE_TIMEOUT_S
    return min(max(given, _APPRISE_TIMEOUT_S), _APPRISE_TIMEOUT_MAX_S)


def _port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return None
