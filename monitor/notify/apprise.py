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
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from monitor.config import Notify
from monitor.errors import NotifyError
from monitor.notify.base import Channel, Message

if TYPE_CHECKING:
    from types import ModuleType

log = logging.getLogger(__name__)

#: Longest Apprise log line quoted in an error.
_MAX_REASON = 300


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


def _port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return None
