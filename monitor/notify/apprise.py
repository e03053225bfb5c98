"""The ``apprise`` channel: chat rooms, webhooks and the rest, one Apprise URL per channel.

Each URL of ``[notify] apprise`` is its own channel, named ``apprise:<hash of the URL>``, so
the outbox records delivery per URL and a retry never repeats a message to a URL that got it.
The title and body are the alert's subject and text as rendered for chat (names as code spans,
no mention: see :mod:`~monitor.notify.render`). Apprise is an optional extra
(``pip install 'filedrop-monitor[apprise]'``); it is imported only when a URL is configured.

An Apprise URL is a secret as a whole: for many services the part after the scheme *is* the
token (``pbul://TOKEN``, ``pover://USER@TOKEN``, ``join://KEY``, an ntfy topic), and a
webhook's host and path may be one too. So:

- errors and log lines name a URL only by its label ``apprise:<scheme>:<hash>`` (the hash is
  the one in the channel's name, so the two can be matched in ``monitor alerts``);
- Apprise's own log lines (which quote hosts, paths and payloads) are captured for each send,
  and the line quoted in an error has every piece of the URL after its scheme replaced by
  ``…``; they never reach the daemon's log: the ``apprise`` logger does not propagate, and
  ``urllib3``'s (whose debug lines quote request paths) logs warnings and above only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote

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


#: Pieces of a URL shorter than this are not scrubbed from Apprise's lines (not secrets, and
#: scrubbing them would garble the text).
_MIN_SECRET = 3
_SEPARATORS = re.compile(r"[/:@?&=#,;+\s]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,19}")


def _apprise() -> ModuleType:
    _keep_out_of_the_log()
    try:
        import apprise
    except ImportError as exc:
        raise NotifyError(
            "[notify] apprise URLs need the apprise package: "
            "pip install 'filedrop-monitor[apprise]'"
        ) from exc
    return apprise


def _keep_out_of_the_log() -> None:
    """Apprise's and urllib3's lines quote URLs: keep them out of the daemon's log."""
    quiet = logging.getLogger("apprise")
    quiet.propagate = False  # captured per send instead (LogCapture adds its own handler)
    if not any(isinstance(h, logging.NullHandler) for h in quiet.handlers):
        quiet.addHandler(logging.NullHandler())  # no "last resort" output to stderr
    urllib3 = logging.getLogger("urllib3")
    if urllib3.getEffectiveLevel() < logging.WARNING:
        urllib3.setLevel(logging.WARNING)


def url_label(url: str) -> str:
    """``apprise:<scheme>:<hash>``: names a URL without any part of it after the scheme."""
    scheme, found, _rest = url.partition("://")
    ok = found and _SCHEME.fullmatch(scheme)
    return f"apprise:{scheme.lower() if ok else '?'}:{_digest(url)}"


def _digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def scrub(text: str, url: str) -> str:
    """``text`` with the URL, and every piece of it after the scheme (user, password, host,
    port, path segments, query keys and values, fragment; as written and unquoted), replaced
    by ``…``."""
    rest = url.split("://", 1)[-1]
    pieces = {url, rest, *_SEPARATORS.split(rest)}
    pieces |= {unquote(piece) for piece in pieces}
    secrets = sorted((p for p in pieces if len(p) >= _MIN_SECRET), key=len, reverse=True)
    if not secrets:
        return text
    pattern = re.compile("|".join(re.escape(p) for p in secrets), re.IGNORECASE)
    return pattern.sub("…", text)


class AppriseChannel(Channel):
    """One Apprise URL."""

    kind = "apprise"

    def __init__(self, url: str) -> None:
        self.url = url
        self._name = f"apprise:{_digest(url)}"
        self.label = url_label(url)

    @property
    def name(self) -> str:
        return self._name

    @classmethod
    def from_settings(cls, notify: Notify) -> list[Channel]:
        return [cls(url) for url in notify.apprise]

    def longest_send(self, recipients: int) -> timedelta:
        query = parse_qs(self.url.partition("?")[2].partition("#")[0])
        seconds = sum(_seconds(query.get(name)) for name in ("cto", "rto"))
        return timedelta(seconds=seconds * APPRISE_REQUESTS)

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: Message) -> None:
        apprise = _apprise()
        sender = apprise.Apprise()
        if not sender.add(self.url):
            raise NotifyError(f"Apprise does not understand the URL {self.label}")
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            ok = sender.notify(
                body=message.chat_text,
                title=message.chat_subject,
                body_format=apprise.NotifyFormat.TEXT,
            )
            lines = [line for line in captured.getvalue().splitlines() if line.strip()]
        if not ok:
            reason = scrub(lines[-1], self.url)[:_MAX_REASON] if lines else "no reason given"
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
