"""The daemon's and the alerts' settings: schedules, watch rules, [daemon], [notify]."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from monitor.config.alerting import WatchRules
from tests.test_config import load, load_error

TARGET = '[[target]]\nname = "t"\nkind = "local"\npath = "/srv/t"\n'


def test_schedule_and_alert_keys_reach_targets_from_defaults(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[defaults]\ncron = "*/15 8-18 * * mon-fri"\njitter = "5s"\ndown_after = 5\n'
        'stale_after = "7d"\nnotify_to = ["a@example.org"]\n' + TARGET,
    )
    target = settings.target("t")
    assert target.cron == "*/15 8-18 * * mon-fri"
    assert target.jitter == timedelta(seconds=5)
    assert (target.down_after, target.stale_after) == (5, timedelta(days=7))
    assert target.notify_to == ["a@example.org"]


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("* * *", "expected 5 fields"),
        ("61 * * * *", "expected 5 fields 'minute hour day month weekday'"),
        ("* * * * funday", "expected 5 fields"),
    ],
)
def test_a_bad_cron_line_is_named(tmp_path: Path, cron: str, expected: str) -> None:
    message = load_error(tmp_path, TARGET + f'cron = "{cron}"\n')
    assert "target[0] (t).cron:" in message
    assert expected in message


def test_watch_rules_are_checked(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        TARGET + 'watch = [{ name = "big", min_size = "1GB", types = [".PDF", "zip"] }]\n',
    )
    (rule,) = settings.target("t").watch
    assert (rule.name, rule.min_size, rule.types) == ("big", 10**9, ["pdf", "zip"])
    message = load_error(tmp_path, TARGET + 'watch = [{ name = "nothing" }]\n')
    assert "target[0] (t).watch[0]: a watch rule needs at least one of" in message
    message = load_error(tmp_path, TARGET + 'watch = [{ name = "r", regex = "(" }]\n')
    assert "target[0] (t).watch[0].regex: not a valid regular expression" in message
    message = load_error(tmp_path, TARGET + 'watch = [{ name = "r", glob = "/" }]\n')
    assert "target[0] (t).watch[0].glob: glob pattern '/' is empty" in message
    message = load_error(tmp_path, TARGET + 'watch = [{ name = "r", types = ["a/b"] }]\n')
    assert "a file type is an extension like 'pdf'" in message


def test_notify_settings(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[notify]\nfrom = "m@example.org"\nto = ["a@example.org", "b@localhost"]\n'
        'digest_at = "7:30"\n[notify.smtp]\nhost = "mail"\nsecurity = "tls"\n'
        'username = "u"\npassword = "${PW}"\n',
        environ={"PW": "hunter22"},
    )
    notify = settings.notify
    assert (notify.sender, notify.to, notify.digest_at) == (
        "m@example.org",
        ["a@example.org", "b@localhost"],
        time(7, 30),
    )
    assert notify.smtp is not None
    assert notify.smtp.port_number == 465
    assert "hunter22" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[notify]\nto = ["not an address"]\n', "notify.to[0]: expected an email address"),
        ('[notify]\nto = ["a@b\\nBcc: x@y"]\n', "notify.to[0]: expected an email address"),
        ('[notify]\ndigest_at = "25:00"\n', "notify.digest_at: expected a time of day"),
        ('[notify.smtp]\nhost = "m"\nsecurity = "ssl"\n', "notify.smtp.security:"),
        ("[daemon]\nmax_polls = 0\n", "daemon.max_polls:"),
        ('[daemon]\nlog_format = "xml"\n', "daemon.log_format:"),
        ('[daemon]\nsend_every = "0s"\n', "daemon.send_every: must be longer than zero"),
    ],
)
def test_bad_alerting_settings_are_named(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


def test_a_login_over_the_network_needs_tls(tmp_path: Path) -> None:
    smtp = '[notify.smtp]\nhost = "{}"\nsecurity = "none"\nusername = "u"\npassword = "p"\n'
    message = load_error(tmp_path, smtp.format("mail.example.org"))
    assert "notify.smtp: a login to another machine needs an encrypted connection" in message
    assert load(tmp_path, smtp.format("127.0.0.1")).notify.smtp is not None


def test_the_smtp_ca_bundle_is_relative_to_the_config(tmp_path: Path) -> None:
    settings = load(tmp_path, '[notify.smtp]\nhost = "m"\nca_bundle = "certs/ca.pem"\n')
    assert settings.notify.smtp is not None
    assert settings.notify.smtp.ca_bundle == tmp_path / "certs/ca.pem"


def test_an_smtp_password_is_never_repeated(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[notify.smtp]\nhost = "m"\npassword = ["s3cret-value"]\n')
    assert "notify.smtp.password" in message
    assert "s3cret-value" not in message


@pytest.mark.parametrize(
    ("smtp", "expected"),
    [
        ('username = "jürgen"\npassword = "p"\n', "notify.smtp.username: must be ASCII"),
        ('username = "u"\npassword = "pässwörd"\n', "notify.smtp.password: must be ASCII"),
    ],
)
def test_an_smtp_login_must_be_ascii(tmp_path: Path, smtp: str, expected: str) -> None:
    """smtplib sends the login as ASCII: anything else would fail at every send."""
    message = load_error(tmp_path, '[notify.smtp]\nhost = "m"\n' + smtp)
    assert expected in message
    assert "pässwörd" not in message and "ä" not in message.split("password")[-1]


def test_addresses_with_a_non_ascii_domain_are_idna_encoded(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[notify]\nfrom = "monitor@müller.example"\nto = ["a@bücher.example"]\n'
        + TARGET
        + 'notify_to = ["b@Bücher.example"]\n',
    )
    assert settings.notify.sender == "monitor@xn--mller-kva.example"
    assert settings.notify.to == ["a@xn--bcher-kva.example"]
    assert settings.target("t").notify_to == ["b@xn--bcher-kva.example"]


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("jürgen@example.org", "the part before the @ must be ASCII"),
        ("a@" + "ü" * 70 + ".example", "not a valid internationalised domain name"),
    ],
)
def test_a_non_ascii_mailbox_is_refused(tmp_path: Path, address: str, expected: str) -> None:
    message = load_error(tmp_path, f'[notify]\nto = ["{address}"]\n')
    assert "notify.to[0]:" in message and expected in message


def test_watch_rule_names_are_unique_per_target() -> None:
    """An alert's key names its rule: two rules of one name would share alerts, and lose one.
    (Checked on the type; ``target.watch`` uses it.)"""
    rules = TypeAdapter(WatchRules)
    ok = rules.validate_python(
        [{"name": "pdf", "types": ["pdf"]}, {"name": "exe", "types": ["exe"]}]
    )
    assert [r.name for r in ok] == ["pdf", "exe"]
    with pytest.raises(ValidationError) as caught:
        rules.validate_python(
            [{"name": "hit", "types": ["pdf"]}, {"name": "x", "min_size": "1B"},
             {"name": "hit", "types": ["exe"]}]
        )  # fmt: skip
    assert "two watch rules are named 'hit' (the 1st and the 3rd)" in str(caught.value)
