"""The email channel against a real SMTP server (aiosmtpd): plain, STARTTLS, TLS, logins."""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import replace
from datetime import UTC, datetime
from email.header import decode_header
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from monitor.errors import NotifyError
from monitor.notify.base import Message
from monitor.notify.email import EmailChannel, check_smtp
from monitor.notify.render import render_alert
from tests.notify import payloads as P
from tests.notify.conftest import make_settings, smtp_settings
from tests.notify.smtpd import smtp_server
from tests.servers import free_port

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

WHEN = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def send(settings: Any, message: Message) -> None:
    (channel,) = EmailChannel.from_settings(settings.notify)
    asyncio.run(channel.send(message))


def parts(mail: EmailMessage) -> tuple[str, str]:
    plain = mail.get_body(("plain",))
    rich = mail.get_body(("html",))
    assert plain is not None and rich is not None
    return str(plain.get_content()), str(rich.get_content())  # type: ignore[attr-defined]


def test_plain_smtp_multipart_headers_and_recipients(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as server:
        s = make_settings(tmp_path, notify=smtp_settings(server.port))
        message = render_alert("batch_settled", P.batch(), s, alert_id=12, key="batch:12")
        send(s, replace(message, date=WHEN))
        (got,) = server.received
    mail = got.message
    assert got.mail_from == "monitor@lab.example.org"
    assert got.rcpt_tos == ["analyst@example.org"]
    assert mail["From"] == "monitor@lab.example.org"
    assert mail["To"] == "analyst@example.org"
    assert mail["Subject"] == "[monitor] studio-drop: new batch ep02/sc901 - 143 files, 2.1 GB"
    assert mail["Message-ID"] == message.message_id
    assert mail["Date"].datetime == WHEN
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Monitor-Alert"] == "batch_settled"
    assert mail.get_content_type() == "multipart/alternative"
    text, html = parts(mail)
    assert text.replace("\r\n", "\n") == message.text
    assert html.replace("\r\n", "\n") == message.html


def test_hostile_names_cannot_inject_headers_or_lines(tmp_path: Path) -> None:
    evil = "x\r\nBcc: victim@example.org\r\nSubject: pwned <script>\u202e"
    with smtp_server(tmp_path) as server:
        s = make_settings(tmp_path, notify=smtp_settings(server.port))
        payload = P.batch(folder=evil, items=[P.item(name) for name in P.HOSTILE_NAMES], more=0)
        send(s, render_alert("batch_settled", payload, s, alert_id=1, key="k"))
        (got,) = server.received
    mail = got.message
    assert got.rcpt_tos == ["analyst@example.org"]
    assert mail["Bcc"] is None and len(mail.get_all("Subject") or []) == 1
    assert mail["Subject"] == (
        "[monitor] studio-drop: new batch x Bcc: victim@example.org Subject: pwned <script> "
        "- 143 files, 2.1 GB"
    )
    text, html = parts(mail)
    assert "\nBcc:" not in text and "x\\r\\nBcc: victim@example.org" in text
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "契約書_最終版.docx" in text and "契約書_最終版.docx" in html
    assert "x" * 300 in text


def encoded_word(text: str, encoding: str = "b") -> str:
    if encoding == "b":
        return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="
    return "=?utf-8?q?" + "".join(f"={b:02X}" for b in text.encode()) + "?="


SPOOF = "\u202eexe.pdf \r\nBcc: x@evil.example"


@pytest.mark.parametrize(
    "folder",
    [
        encoded_word(SPOOF),
        encoded_word(SPOOF, "q"),
        f"a{encoded_word(SPOOF)}b",  # not even whitespace around it
        f"{encoded_word('Bcc:')} {encoded_word(' x@evil.example')}",  # two words, joined
        f"=\u200b{encoded_word(SPOOF)[1:]}",  # a zero-width character dropped: "=?" again
    ],
)
def test_encoded_words_in_names_are_not_decoded_by_mail_clients(
    tmp_path: Path, folder: str
) -> None:
    """RFC 2047 text in a folder or file name reaches the Subject as literal text: what a
    mail client decodes holds no bidi override, no line break, no header of the attacker's."""
    with smtp_server(tmp_path) as server:
        s = make_settings(tmp_path, notify=smtp_settings(server.port))
        payload = P.batch(folder=folder, items=[P.item(f"{folder}/x.pdf")], more=0)
        send(s, render_alert("batch_settled", payload, s, alert_id=1, key="k"))
        (got,) = server.received
    head = got.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    folded = re.search(r"^Subject:(.*(?:\r\n[ \t].*)*)", head, re.MULTILINE)
    assert folded is not None
    raw_subject = re.sub(r"\r\n(?=[ \t])", "", folded.group(1)).strip()  # RFC 5322 unfolding
    decoded = "".join(
        part.decode(charset or "ascii") if isinstance(part, bytes) else part
        for part, charset in decode_header(raw_subject)
    )
    parsed = str(got.message["Subject"])
    for subject in (decoded, parsed):
        assert "\u202e" not in subject and "\r" not in subject and "\n" not in subject
        assert "Bcc: x@evil" not in subject and "Bcc:  x@evil" not in subject
        assert subject.startswith("[monitor] studio-drop: new batch ")
    assert got.message["Bcc"] is None and got.rcpt_tos == ["analyst@example.org"]


def test_starttls_verified_with_a_ca_bundle(tmp_path: Path) -> None:
    with smtp_server(tmp_path, security="starttls", login=("alerts", "s3cret")) as server:
        assert server.cert is not None
        notify = smtp_settings(
            server.port,
            security="starttls",
            username="alerts",
            password="s3cret",
            ca_bundle=str(server.cert),
        )
        s = make_settings(tmp_path, notify=notify)
        assert check_smtp(s) == (
            f"127.0.0.1:{server.port} (starttls): connected, EHLO, "
            "STARTTLS (certificate verified), logged in as alerts, QUIT"
        )
        send(s, render_alert("down", P.down(), s, alert_id=1, key="d"))
        (got,) = server.received
    assert got.auth == "alerts"
    assert got.message["Subject"] == "[monitor] studio-drop: target down (3 failed polls)"


def test_starttls_with_an_untrusted_certificate_fails_unless_unverified(tmp_path: Path) -> None:
    with smtp_server(tmp_path, security="starttls") as server:
        s = make_settings(tmp_path, notify=smtp_settings(server.port, security="starttls"))
        with pytest.raises(NotifyError, match="TLS certificate is not trusted"):
            check_smtp(s)
        with pytest.raises(NotifyError, match="TLS certificate is not trusted"):
            send(s, render_alert("down", P.down(), s, alert_id=1, key="d"))
        notify = smtp_settings(server.port, security="starttls", verify_tls=False)
        unverified = make_settings(tmp_path, notify=notify)
        assert "STARTTLS (certificate NOT verified)" in check_smtp(unverified)
        send(unverified, render_alert("down", P.down(), unverified, alert_id=1, key="d"))
        assert len(server.received) == 1


def test_implicit_tls(tmp_path: Path) -> None:
    with smtp_server(tmp_path, security="tls", login=("alerts", "s3cret")) as server:
        assert server.cert is not None
        notify = smtp_settings(
            server.port,
            security="tls",
            username="alerts",
            password="s3cret",
            ca_bundle=str(server.cert),
        )
        s = make_settings(tmp_path, notify=notify)
        assert "connected with TLS (certificate verified), EHLO, logged in as alerts" in (
            check_smtp(s)
        )
        send(s, render_alert("stale", P.stale(), s, alert_id=1, key="s"))
        (got,) = server.received
    assert got.message["Subject"] == "[monitor] studio-drop: no new file for 7d"


@pytest.mark.parametrize("exclude", [(), ("PLAIN",)], ids=["plain", "login"])
def test_auth_plain_and_login(tmp_path: Path, exclude: tuple[str, ...]) -> None:
    with smtp_server(tmp_path, login=("alerts", "s3cret"), exclude_auth=exclude) as server:
        notify = smtp_settings(server.port, username="alerts", password="s3cret")
        s = make_settings(tmp_path, notify=notify)
        send(s, render_alert("down", P.down(), s, alert_id=1, key="d"))
        (got,) = server.received
    assert got.auth == "alerts"


def test_a_wrong_password_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    with smtp_server(tmp_path, login=("alerts", "s3cret")) as server:
        notify = smtp_settings(server.port, username="alerts", password="wrong-Pa55")
        s = make_settings(tmp_path, notify=notify)
        with pytest.raises(NotifyError) as caught:
            check_smtp(s)
        assert not server.received
    text = str(caught.value)
    assert text.startswith(f"the mail server 127.0.0.1:{server.port} refused the login: 535")
    assert "wrong-Pa55" not in text


def test_a_server_that_wants_starttls_refuses_plain_mail(tmp_path: Path) -> None:
    with smtp_server(tmp_path, security="starttls") as server:
        s = make_settings(tmp_path, notify=smtp_settings(server.port))
        with pytest.raises(NotifyError, match=r"answered 530 Must issue a STARTTLS command first"):
            send(s, render_alert("down", P.down(), s, alert_id=1, key="d"))


def test_dead_port_no_config_and_no_recipient(tmp_path: Path) -> None:
    port = free_port()
    s = make_settings(tmp_path, notify=smtp_settings(port))
    with pytest.raises(NotifyError, match=f"127.0.0.1:{port} refused the connection"):
        check_smtp(s)
    with pytest.raises(NotifyError, match=r"no \[notify.smtp\] section"):
        check_smtp(make_settings(tmp_path))
    nobody = make_settings(tmp_path, notify={**smtp_settings(port), "to": []})
    with pytest.raises(NotifyError, match="no recipient for this alert"):
        send(nobody, render_alert("down", P.down(), nobody, alert_id=1, key="d"))


def test_a_recipient_with_a_non_ascii_domain_gets_mail(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as server:
        s = make_settings(
            tmp_path, notify=smtp_settings(server.port) | {"to": ["a@bücher.example"]}
        )
        send(s, render_alert("down", P.down(), s, alert_id=1, key="d"))
        (got,) = server.received
    assert got.rcpt_tos == ["a@xn--bcher-kva.example"]
    assert got.message["To"] == "a@xn--bcher-kva.example"


def test_non_ascii_that_slips_past_the_config_is_a_notify_error(tmp_path: Path) -> None:
    """The config refuses non-ASCII logins and mailboxes; should one reach smtplib anyway, its
    UnicodeEncodeError becomes a NotifyError (not an unexpected exception) that quotes nothing."""
    with smtp_server(tmp_path, login=("alerts", "pässwörd")) as server:
        s = make_settings(tmp_path, notify=smtp_settings(server.port, username="alerts"))
        assert s.notify.smtp is not None
        smtp = s.notify.smtp.model_copy(update={"password": SecretStr("pässwörd")})
        with pytest.raises(NotifyError) as login:
            asyncio.run(EmailChannel(smtp, s.notify.sender).send(
                render_alert("down", P.down(), s, alert_id=1, key="d")))  # fmt: skip
        assert not server.received
    with smtp_server(tmp_path) as open_server:
        plain = make_settings(tmp_path, notify=smtp_settings(open_server.port))
        message = render_alert("down", P.down(), plain, alert_id=1, key="d")
        with pytest.raises(NotifyError) as recipient:
            send(plain, replace(message, recipients=("jürgen@example.org",)))
        assert not open_server.received
    for caught in (login, recipient):
        text = str(caught.value)
        assert text.startswith("the mail server 127.0.0.1:") and ": a login, sender" in text
        assert "not ASCII" in text and "ä" not in text and "ü" not in text
