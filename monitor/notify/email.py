"""The ``email`` channel: SMTP with the standard library's ``smtplib``, run in a thread.

``[notify.smtp] security`` is ``starttls`` (plain connection upgraded with STARTTLS, port 587),
``tls`` (implicit TLS from the first byte, port 465) or ``none`` (port 25, nothing encrypted).
Certificates are verified against the system's trust store unless ``verify_tls = false``
(OpenSSL also honours ``SSL_CERT_FILE`` for a private CA). A login is made when ``username``
is set. Each message is sent on its own connection: alerts are few, and a fresh connection
means no state carried over from a failed try.

Why smtplib and not an async library: one send at a time is enough for alerts, the stdlib
is maintained with Python itself, and a thread keeps the event loop free.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime

from monitor.config import Notify, Settings, Smtp
from monitor.errors import NotifyError
from monitor.notify.base import Channel, Message, translated

log = logging.getLogger(__name__)

#: Round trips of one send, each bounded by ``[notify.smtp] timeout`` (connect, greeting, EHLO,
#: STARTTLS, EHLO, AUTH (two for LOGIN), MAIL, DATA, the message, QUIT), one RCPT per
#: recipient aside.
SMTP_ROUND_TRIPS = 11


class EmailChannel(Channel):
    """Sends multipart/alternative (text + HTML) mail through ``[notify.smtp]``."""

    kind = "email"

    def __init__(self, smtp: Smtp, sender: str) -> None:
        self.smtp = smtp
        self.sender = sender

    @property
    def name(self) -> str:
        return "email"

    @classmethod
    def from_settings(cls, notify: Notify) -> list[Channel]:
        return [] if notify.smtp is None else [cls(notify.smtp, notify.sender)]

    def longest_send(self, recipients: int) -> timedelta:
        return self.smtp.timeout * (SMTP_ROUND_TRIPS + recipients)

    async def send(self, message: Message) -> None:
        if not message.recipients:
            raise NotifyError(
                "no recipient for this alert: set [notify] to, or the target's notify_to"
            )
        data = build_email(message, sender=self.sender).as_bytes(policy=SMTP_POLICY)
        await asyncio.to_thread(self._send, data, message.recipients)

    def _send(self, data: bytes, recipients: Sequence[str]) -> None:
        with translated(_where(self.smtp)):
            client = open_smtp(self.smtp)
            try:
                refused = client.sendmail(self.sender, list(recipients), data)
            finally:
                _close(client)
        for rcpt, (code, reply) in refused.items():  # the others got it: no retry
            log.warning("mail server refused %s: %s %r", rcpt, code, reply)


def build_email(message: Message, *, sender: str) -> EmailMessage:
    """The MIME message: headers, a text part and an HTML part (quoted-printable, UTF-8)."""
    mail = EmailMessage(policy=SMTP_POLICY)
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = ", ".join(message.recipients)
    mail["Date"] = format_datetime((message.date or datetime.now(UTC)).astimezone(UTC))
    mail["Message-ID"] = message.message_id
    for header, value in message.headers.items():
        mail[header] = value
    mail.set_content(message.text, subtype="plain", cte="quoted-printable")
    mail.add_alternative(message.html, subtype="html", cte="quoted-printable")
    return mail


def tls_context(smtp: Smtp) -> ssl.SSLContext:
    """The system's trust store (or ``ca_bundle``'s CAs) and host name checks, or no checks at
    all (``verify_tls`` false)."""
    cafile = None if smtp.ca_bundle is None else str(smtp.ca_bundle)
    context = ssl.create_default_context(cafile=cafile)
    if not smtp.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def open_smtp(smtp: Smtp, steps: list[str] | None = None) -> smtplib.SMTP:
    """A connection ready to send: EHLO, TLS as configured, login; ``steps`` tells what it did.

    smtplib's and ssl's errors pass through (callers wrap this in :func:`translated`).
    """
    done = steps if steps is not None else []
    timeout = smtp.timeout.total_seconds()
    context = tls_context(smtp)
    verified = "certificate verified" if smtp.verify_tls else "certificate NOT verified"
    client: smtplib.SMTP
    if smtp.security == "tls":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port_number, timeout=timeout, context=context)
        done.append(f"connected with TLS ({verified})")
    else:
        client = smtplib.SMTP(smtp.host, smtp.port_number, timeout=timeout)
        done.append("connected")
    try:
        client.ehlo()
        done.append("EHLO")
        if smtp.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
            done.append(f"STARTTLS ({verified})")
        if smtp.username is not None and smtp.password is not None:
            client.login(smtp.username, smtp.password.get_secret_value())
            done.append(f"logged in as {smtp.username}")
    except BaseException:
        _close(client)
        raise
    return client


def _close(client: smtplib.SMTP) -> None:
    """QUIT politely; a server that already hung up is closed anyway."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _where(smtp: Smtp) -> str:
    return f"the mail server {smtp.host}:{smtp.port_number}"


def check_smtp(settings: Settings) -> str:
    """Connect to ``[notify.smtp]``, say EHLO, do TLS and the login, quit; say what was done.

    Raises :class:`NotifyError` with a sentence for a person (never the password).
    """
    smtp = settings.notify.smtp
    if smtp is None:
        raise NotifyError("no [notify.smtp] section in the config: nothing to check")
    steps: list[str] = []
    with translated(_where(smtp)):
        client = open_smtp(smtp, steps)
        client.quit()
    steps.append("QUIT")
    return f"{smtp.host}:{smtp.port_number} ({smtp.security}): " + ", ".join(steps)
