"""A real SMTP server for the tests: aiosmtpd on a free loopback port, in its own thread.

It can speak plain SMTP, offer STARTTLS, or use implicit TLS (certificates from
:func:`tests.servers.make_cert`), require a login checked against one username/password, and
answer DATA with given replies (``451 …``) a number of times before accepting. Everything
it accepted is kept, parsed with the ``email`` package; every DATA it saw (accepted or not)
is kept too, so tests can compare the Message-IDs of a failed try and of the retry.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers import free_port, make_cert


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage
    auth: str | None  # the login used, if any


@dataclass
class Recorder:
    """The handler: records mail and fails DATA on demand."""

    replies: list[str] = field(default_factory=list)  # answered to DATA first, one per try
    received: list[Received] = field(default_factory=list)
    tried: list[EmailMessage] = field(default_factory=list)  # every DATA, refused or not

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.tried.append(message)
        if self.replies:
            return self.replies.pop(0)
        auth = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        content = envelope.original_content
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), content, message, auth)
        )
        return "250 OK"


@dataclass
class SmtpServer:
    port: int
    recorder: Recorder
    cert: Path | None = None

    @property
    def received(self) -> list[Received]:
        return self.recorder.received


def _authenticator(username: str, password: str, refusal: str | None) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == username.encode()
            and data.password == password.encode()
        )
        message = None if ok else refusal
        return AuthResult(
            success=ok, handled=False, message=message, auth_data=data.login if ok else None
        )

    return check


@contextmanager
def smtp_server(
    folder: Path,
    *,
    security: str = "none",
    login: tuple[str, str] | None = None,
    exclude_auth: tuple[str, ...] = (),
    refusal: str | None = None,
) -> Iterator[SmtpServer]:
    """An SMTP server: ``security`` none / starttls / tls; ``login`` (user, password) required,
    a wrong one answered with ``refusal`` (a whole reply line) when given."""
    recorder = Recorder()
    # aiosmtpd counts only STARTTLS as TLS for AUTH (not implicit TLS)
    kwargs: dict[str, Any] = {"auth_require_tls": security == "starttls"}
    cert = None
    if security != "none":
        cert, key = make_cert(folder, "smtp")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if security == "tls":
            kwargs["ssl_context"] = context
        else:
            kwargs |= {"tls_context": context, "require_starttls": True}
    if login is not None:
        kwargs |= {
            "authenticator": _authenticator(*login, refusal),
            "auth_required": True,
            "auth_exclude_mechanism": list(exclude_auth),
        }
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer(port, recorder, cert)
    finally:
        controller.stop()
