"""Settings of the daemon and of alerts: ``[daemon]``, ``[notify]``, ``[notify.smtp]``, watch rules.

Alerts are always recorded (in the outbox, with the snapshot that caused them); ``[notify]``
says where they go. Without ``[notify.smtp]`` nor ``apprise`` URLs nothing is sent.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from monitor.config.values import Duration, PositiveDuration, Size, _Secret, _Strict

# A mailbox as written in an address header: local@domain, printable, no spaces or brackets.
_ADDRESS = re.compile(r"[^\s@<>(),;:\"\[\]\\]+@[^\s@<>(),;:\"\[\]\\]+")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_CRON_HINT = "expected 5 fields 'minute hour day month weekday', as in '*/15 8-18 * * mon-fri'"


def _check_address(value: str) -> str:
    """A mailbox alerts can be sent to without SMTPUTF8: ASCII before the @, and a domain
    name in IDNA (``bücher.example`` becomes ``xn--bcher-kva.example``)."""
    if not _ADDRESS.fullmatch(value) or not value.isprintable():
        raise ValueError(f"expected an email address like 'analyst@example.org', got {value!r}")
    local, _, domain = value.rpartition("@")
    if not local.isascii():
        raise ValueError(
            f"the part before the @ must be ASCII (alerts are sent without SMTPUTF8), got {value!r}"
        )
    if domain.isascii():
        return value
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as exc:
        cause = exc.__cause__ or exc  # the codec wraps the reason: "label empty or too long"
        raise ValueError(
            f"{domain!r} is not a valid internationalised domain name ({cause})"
        ) from None


def _check_ascii(value: str) -> str:
    if not value.isascii():
        raise ValueError("must be ASCII: the mail server login is sent as ASCII")
    return value


def _check_ascii_secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().isascii():  # the value itself is never repeated
        raise ValueError("must be ASCII: the mail server login is sent as ASCII")
    return value


def _check_clock(value: object) -> time:
    if isinstance(value, time):
        return value
    match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a time of day like '08:00', got {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def check_cron(value: str) -> str:
    """A crontab line of 5 fields, checked by the scheduler's own parser."""
    from apscheduler.triggers.cron import CronTrigger

    if len(value.split()) != 5:
        raise ValueError(f"{_CRON_HINT}, got {value!r}")
    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{_CRON_HINT}: {exc}") from exc
    return value


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value


def _check_glob(value: str) -> str:
    from monitor.errors import ConfigError
    from monitor.sources.local import GlobSet  # imports the config: only when one is checked

    try:
        GlobSet.from_patterns([value], setting="glob")
    except ConfigError as exc:
        raise ValueError(exc.message) from exc
    return value


def _check_types(value: list[str]) -> list[str]:
    """File types as extensions: ``"pdf"`` or ``".PDF"`` → ``"pdf"``."""
    types = [t.strip().lstrip(".").lower() for t in value]
    for given, clean in zip(value, types, strict=True):
        if not clean or "/" in clean:
            raise ValueError(f"a file type is an extension like 'pdf', got {given!r}")
    return types


Address = Annotated[str, AfterValidator(_check_address)]
ClockTime = Annotated[time, BeforeValidator(_check_clock)]
Cron = Annotated[str, AfterValidator(check_cron)]
Regex = Annotated[str, AfterValidator(_check_regex)]
Glob = Annotated[str, AfterValidator(_check_glob)]
FileTypes = Annotated[list[str], AfterValidator(_check_types)]


class WatchRule(_Strict):
    """New or changed files that deserve an alert at once, without waiting for their batch.

    Every condition given must hold: ``glob`` (as include / exclude) or ``regex`` (searched in
    the path), at least ``min_size`` bytes, one of ``types`` (extensions).
    """

    name: str = Field(min_length=1, max_length=100)
    glob: Glob | None = None
    regex: Regex | None = None
    min_size: Size | None = None
    types: FileTypes = Field(default_factory=list)

    @model_validator(mode="after")
    def _some_condition(self) -> WatchRule:
        if self.glob is None and self.regex is None and self.min_size is None and not self.types:
            raise ValueError("a watch rule needs at least one of glob, regex, min_size, types")
        return self


def _unique_names(rules: list[WatchRule]) -> list[WatchRule]:
    """Each alert is keyed by its rule's name: two rules of one name would share alerts."""
    first: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if rule.name in first:
            raise ValueError(
                f"two watch rules are named {rule.name!r} (the {_nth(first[rule.name])} and "
                f"the {_nth(index)}): each rule needs a name of its own"
            )
        first[rule.name] = index
    return rules


def _nth(index: int) -> str:
    n = index + 1
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


#: A target's watch rules: names unique within the list.
WatchRules = Annotated[list[WatchRule], AfterValidator(_unique_names)]


class Smtp(_Secret):
    """The mail server alerts are sent through."""

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    #: ``starttls`` (port 587), ``tls`` (implicit TLS, port 465) or ``none`` (port 25).
    security: Literal["starttls", "tls", "none"] = "starttls"
    #: Log in when set (with ``password``, empty when unset); both ASCII.
    username: Annotated[str, AfterValidator(_check_ascii)] | None = None
    password: Annotated[SecretStr, AfterValidator(_check_ascii_secret)] | None = None
    timeout: PositiveDuration = timedelta(seconds=30)
    verify_tls: bool = True
    #: Trust only these CAs (PEM), relative to the config file; unset: the system's.
    ca_bundle: Path | None = None

    @model_validator(mode="after")
    def _no_plain_login(self) -> Smtp:
        """A password crosses the network only encrypted (a relay on this machine may do)."""
        local = self.host == "localhost" or self.host == "::1" or self.host.startswith("127.")
        if self.security == "none" and self.username is not None and not local:
            raise ValueError(
                "a login to another machine needs an encrypted connection: set security = "
                '"starttls" or "tls"'
            )
        return self

    @property
    def port_number(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


class Notify(_Strict):
    """Where alerts and the daily digest go."""

    sender: Address = Field(default="monitor@localhost", alias="from")
    to: list[Address] = Field(default_factory=list)
    smtp: Smtp | None = None
    #: Apprise URLs (chat, webhooks...): needs the ``apprise`` extra.
    apprise: list[str] = Field(default_factory=list)
    #: The web UI's address as analysts reach it; alerts link to it when set.
    base_url: str | None = None
    subject_prefix: str = "[monitor]"
    digest: bool = True
    #: When the daily digest of the day before is sent, in the configured time zone.
    digest_at: ClockTime = time(8, 0)
    #: A day without changes: one line (``line``), or no digest at all (``skip``).
    digest_empty: Literal["line", "skip"] = "line"
    #: Files listed in one alert before "and N more".
    max_files: int = Field(default=50, ge=1, le=10_000)

    model_config = ConfigDict(populate_by_name=True)  # merged with _Strict's


class Daemon(_Strict):
    """How ``monitor run`` schedules polls and sends alerts."""

    #: Polls running at once, over all targets.
    max_polls: int = Field(default=4, ge=1, le=256)
    #: How long a stop waits for the polls in flight before abandoning them.
    grace: Duration = timedelta(seconds=30)
    #: Longest wait between polls of a failing target (it backs off from its interval).
    backoff_max: PositiveDuration = timedelta(hours=6)
    #: How often the outbox is checked for alerts to send.
    send_every: PositiveDuration = timedelta(seconds=30)
    #: Retries after a failure of the message itself (a channel that is down never counts; an
    #: alert undelivered for 7 days is given up); 0: one try.
    send_retries: int = Field(default=10, ge=0, le=1000)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
