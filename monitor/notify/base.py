"""What every channel shares: the :class:`Message`, the :class:`Channel` base, the registry,
and the one place where library errors become :class:`~monitor.errors.NotifyError`.

A channel is one way out (``email``: SMTP; ``apprise``: one Apprise URL each). Channels are
listed in :data:`CHANNELS` by name and ``module:Class``, imported only when configured, so a
missing optional library fails with a sentence naming the extra to install, and only for the
people who configured that channel.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import import_module
from typing import ClassVar

from monitor.config import Notify
from monitor.errors import NotifyError


@dataclass(frozen=True)
class Message:
    """One alert, rendered: what every channel sends.

    ``subject`` is one header-safe line; ``recipients`` are the email addresses (other
    channels have their own destinations); ``message_id`` is stable for one alert row, so a
    resend is recognisably the same message; ``chat_subject`` and ``chat_text`` are what chat
    channels send (names as code spans, no mention can be formed: see
    :mod:`~monitor.notify.render`); ``headers`` are extra header-safe email headers.
    """

    subject: str
    text: str
    html: str
    recipients: tuple[str, ...]
    message_id: str
    chat_subject: str
    chat_text: str
    headers: dict[str, str] = field(default_factory=dict)
    #: When the message is sent (the outbox sets it from its clock); None: now.
    date: datetime | None = None


class Channel(ABC):
    """One way out. ``name`` is what the outbox records once the channel has delivered."""

    kind: ClassVar[str]

    @property
    @abstractmethod
    def name(self) -> str:
        """A stable name for this channel instance (recorded in ``alert.delivered``)."""

    @classmethod
    @abstractmethod
    def from_settings(cls, notify: Notify) -> list[Channel]:
        """The channels of this kind that ``[notify]`` configures (none: an empty list)."""

    @abstractmethod
    async def send(self, message: Message) -> None:
        """Deliver ``message`` or raise :class:`NotifyError`; never partly retried."""

    def longest_send(self, recipients: int) -> timedelta:
        """How long one send to ``recipients`` addresses can take before it fails by itself
        (its timeouts added up); the outbox's claims outlast it. Channels without timeouts of
        their own: :data:`LONGEST_SEND`."""
        return LONGEST_SEND


#: The longest send of a channel that does not say otherwise.
LONGEST_SEND = timedelta(minutes=1)


#: Channel kinds by name, as ``module:Class`` (imported on use).
CHANNELS: dict[str, str] = {
    "email": "monitor.notify.email:EmailChannel",
    "apprise": "monitor.notify.apprise:AppriseChannel",
}


def channel_class(kind: str) -> type[Channel]:
    """The class registered as ``kind``."""
    try:
        module_name, _, class_name = CHANNELS[kind].partition(":")
    except KeyError:
        raise NotifyError(f"no channel kind {kind!r} (known: {', '.join(CHANNELS)})") from None
    cls = getattr(import_module(module_name), class_name)
    assert isinstance(cls, type) and issubclass(cls, Channel)
    return cls


def configured_channels(notify: Notify) -> list[Channel]:
    """Every channel ``[notify]`` sets up, in registry order (email first)."""
    channels: list[Channel] = []
    for kind in CHANNELS:
        channels.extend(channel_class(kind).from_settings(notify))
    return channels


class ChannelDown(NotifyError):
    """The channel itself cannot be reached (connection, TLS, login), whatever the message:
    the outbox stops using it for the rest of its run instead of waiting on it per alert."""


@contextmanager
def translated(where: str) -> Iterator[None]:
    """Turn the errors of smtplib, ssl and sockets into :class:`NotifyError` naming ``where``
    (:class:`ChannelDown` when the server, not the message, is the problem); a
    :class:`UnicodeError` (smtplib sends commands as ASCII) is a :class:`NotifyError` too.

    Server replies are quoted (they never hold the password: smtplib does not echo it); the
    text of a UnicodeError is not (it quotes the value).
    """
    try:
        yield
    except smtplib.SMTPRecipientsRefused as exc:
        refused = "; ".join(
            f"{rcpt}: {_reply_text(code, reply)}" for rcpt, (code, reply) in exc.recipients.items()
        )
        raise NotifyError(f"{where} refused every recipient ({refused})") from exc
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        raise NotifyError(f"{where} answered {_reply(exc)}") from exc
    except UnicodeError as exc:  # the config allows only ASCII logins and mailboxes
        raise NotifyError(
            f"{where}: a login, sender or recipient is not ASCII, and alerts are sent without "
            "SMTPUTF8 (check [notify.smtp] username and password, and the addresses)"
        ) from exc  # never the value: it may be the password
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelDown(_down_reason(where, exc)) from exc


def _down_reason(where: str, exc: smtplib.SMTPException | OSError) -> str:
    """What went wrong with the connection, in one sentence."""
    match exc:
        case smtplib.SMTPAuthenticationError():
            return f"{where} refused the login: {_reply(exc)}"
        case smtplib.SMTPNotSupportedError():
            return f"{where} does not support it: {exc}"
        case smtplib.SMTPServerDisconnected():
            return f"{where} closed the connection: {exc or 'no reason given'}"
        case smtplib.SMTPResponseException():
            return f"{where} answered {_reply(exc)}"
        case ssl.SSLCertVerificationError():
            return (
                f"{where}: the TLS certificate is not trusted ({exc.verify_message}); "
                "set verify_tls = false only for a server you know"
            )
        case ssl.SSLError():
            return f"{where}: TLS failed ({exc.reason or exc})"
        case TimeoutError():
            return f"{where} did not answer in time"
        case ConnectionRefusedError():
            return f"{where} refused the connection (nothing listening?)"
        case socket.gaierror():
            return f"{where}: the host name does not resolve ({exc.strerror})"
        case OSError():
            return f"{where}: {exc.strerror or exc}"
    return f"{where}: {exc}"


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return _reply_text(exc.smtp_code, exc.smtp_error)


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"
