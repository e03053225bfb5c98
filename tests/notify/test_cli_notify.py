"""``monitor check --smtp``, ``monitor digest [--send]`` and ``monitor alerts`` through the CLI."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.conftest import Cli
from tests.helpers import put
from tests.notify.smtpd import smtp_server
from tests.servers import free_port

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> time_machine.travel:
    return time_machine.travel(datetime.fromisoformat(text).replace(tzinfo=PARIS), tick=False)


def with_mail(cli: Cli, port: int, extra: str = "", smtp: str = "") -> Cli:
    """The cli fixture's config plus a [notify] section for the SMTP server at ``port``."""
    cli.config.write_text(
        cli.config.read_text(encoding="utf-8")
        + f'\n[notify]\nfrom = "monitor@lab.example.org"\nto = ["analyst@example.org"]\n{extra}\n'
        + f'[notify.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        + f'timeout = "5s"\n{smtp}\n',
        encoding="utf-8",
    )
    return cli


def test_check_smtp_ok_and_failing(cli: Cli, tmp_path: Path) -> None:
    with smtp_server(tmp_path, login=("alerts", "s3cret")) as server:
        with_mail(cli, server.port, smtp='username = "alerts"\npassword = "${SMTP_PASSWORD}"')
        cli.runner.env["SMTP_PASSWORD"] = "s3cret"
        (row,) = cli.json("check", "--smtp")
        assert row["status"] == "ok"
        assert row["detail"] == (
            f"127.0.0.1:{server.port} (none): connected, EHLO, logged in as alerts, QUIT"
        )
        assert "logged in as alerts" in cli("check", "--smtp")
        cli.runner.env["SMTP_PASSWORD"] = "not-it"
        out = cli("check", "--smtp", code=1)
        assert "failed" in out and "refused the login: 535" in out and "not-it" not in out
    assert not server.received  # a check sends nothing


def test_check_smtp_shows_what_the_server_says_escaped(cli: Cli, tmp_path: Path) -> None:
    """A server's reply is text from elsewhere: terminal escapes in it are shown, not run."""
    refusal = "535 \x1b[2J\x1b]0;pwned\x07 no"
    with smtp_server(tmp_path, login=("alerts", "s3cret"), refusal=refusal) as server:
        with_mail(cli, server.port, smtp='username = "alerts"\npassword = "wrong"')
        out = cli("check", "--smtp", code=1)
        (row,) = cli.json("check", "--smtp", code=1)
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in "".join(out.split())  # however the table wraps
    assert row["detail"].endswith("refused the login: 535 \x1b[2J\x1b]0;pwned\x07 no")


def test_check_smtp_dead_server_and_no_section(cli: Cli) -> None:
    (row,) = cli.json("check", "--smtp", code=1)
    assert row["status"] == "failed" and "no [notify.smtp] section" in row["detail"]
    port = free_port()
    with_mail(cli, port)
    (row,) = cli.json("check", "--smtp", code=1)
    assert row["detail"] == f"the mail server 127.0.0.1:{port} refused the connection " + (
        "(nothing listening?)"
    )


def test_digest_shows_yesterday_then_sends_once(cli: Cli, drop: Path, tmp_path: Path) -> None:
    with at("2026-11-23T08:00"):
        cli("poll")  # baseline
    put(drop, "ep02/sc901/a.exr", b"a" * 1500)
    put(drop, "ep02/sc901/<b>.exr", b"b" * 500)
    with at("2026-11-23T10:00"):
        cli("poll")
    with at("2026-11-24T07:00"):
        shown = cli("digest")
        payload = cli.json("digest")
    assert shown.splitlines()[0] == "[monitor] digest 2026-11-23: 1 target, 2 added, 1 new batch"
    assert "== drop ==" in shown and "  ep02/sc901 - 2 files, 2.0 kB" in shown
    assert payload["day"] == "2026-11-23" and payload["targets"][0]["added"] == 2  # files only
    with smtp_server(tmp_path) as server:
        with_mail(cli, server.port)
        with at("2026-11-24T07:00"):
            sent = cli.json("digest", "--day", "2026-11-23", "--send")
            assert sent["sent"] is True and sent["day"] == "2026-11-23"
            again = cli("digest", "--day", "2026-11-23", "--send")  # the same digest: not resent
        (got,) = server.received
    assert again.startswith(f"digest 2026-11-23: sent 2026-11-24 07:00:00 (alert {sent['alert']})")
    assert got.message["Subject"] == sent_subject() and got.rcpt_tos == ["analyst@example.org"]
    (alert,) = cli.json("alerts")
    assert (alert["kind"], alert["status"], alert["attempts"], alert["delivered"]) == (
        "digest",
        "sent",
        1,
        ["email"],
    )
    assert alert["subject"] == sent_subject()
    assert cli.json("alerts", "--pending") == []


def sent_subject() -> str:
    return "[monitor] digest 2026-11-23: 1 target, 2 added, 1 new batch"


def test_digest_send_failures(cli: Cli) -> None:
    with at("2026-11-23T08:00"):
        cli("poll")
    with at("2026-11-24T07:00"):
        out = cli.run("digest", "--send")
    assert out.exit_code == 1 and "no channel configured" in out.stderr
    with_mail(cli, free_port())
    with at("2026-11-24T07:01"):
        out = cli.run("digest", "--send")
    assert out.exit_code == 1
    assert "not sent: email: the mail server 127.0.0.1:" in out.stdout
    (alert,) = cli.json("alerts", "--pending")
    assert (alert["status"], alert["attempts"]) == ("retrying", 0)  # server down: not counted
    assert "refused the connection" in alert["last_error"]
    assert "retrying" in cli("alerts")


def test_an_empty_day_is_skipped_when_configured(cli: Cli, tmp_path: Path) -> None:
    with at("2026-11-23T08:00"):
        cli("poll")
    with smtp_server(tmp_path) as server:
        with_mail(cli, server.port, extra='digest_empty = "skip"')
        with at("2026-11-25T07:00"):
            out = cli("digest", "--send")
        assert not server.received
    assert out.strip() == (
        "digest 2026-11-24: an empty day, and [notify] digest_empty = 'skip': nothing to send"
    )
    with at("2026-11-25T07:00"):
        assert cli("digest").splitlines() == [
            "[monitor] digest 2026-11-24: no changes on 1 target",
            "",
            "No changes on 2026-11-24 (1 target watched).",
        ]
