"""The targets: what every target has (:class:`Defaults`) and one model per source kind."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, field_validator

from monitor import __version__
from monitor.config.alerting import Address, Cron, WatchRules
from monitor.config.archive import ArchiveRules
from monitor.config.values import (
    Duration,
    Headers,
    HeaderSecret,
    HeaderValue,
    PositiveDuration,
    RootUrl,
    Size,
    TargetName,
    TimeZoneName,
    _Secret,
    _Strict,
)


class Defaults(_Strict):
    """Settings every target has; ``[defaults]`` sets them for all targets at once."""

    enabled: bool = True
    every: Duration = timedelta(minutes=30)
    #: A crontab line ("*/15 8-18 * * mon-fri") in the configured time zone; wins over every.
    cron: Cron | None = None
    #: Each poll starts up to this much later than scheduled, at random (spreads the load).
    jitter: Duration = timedelta(seconds=30)
    settle: Duration = timedelta(hours=1)
    batch_depth: int = Field(default=1, ge=0, le=32)
    max_removed_ratio: float = Field(default=0.5, gt=0, le=1)
    suspect_min_removed: int = Field(default=10, ge=1)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    max_entries: int = Field(default=1_000_000, ge=1)
    #: Who gets this target's alerts; empty: [notify] to.
    notify_to: list[Address] = Field(default_factory=list)
    #: Files that raise an alert as soon as a poll sees them (see WatchRule).
    watch: WatchRules = Field(default_factory=list)
    #: Consecutive failed polls before a "target down" alert.
    down_after: int = Field(default=3, ge=1, le=1000)
    #: Alert when no new file has arrived for this long (unset: never).
    stale_after: PositiveDuration | None = None
    #: Which new files are downloaded and kept as evidence (off by default).
    archive: ArchiveRules = Field(default_factory=ArchiveRules)

    @field_validator("every")
    @classmethod
    def _positive_interval(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("the polling interval must be longer than zero")
        return value


class LocalTarget(Defaults):
    """A folder on this machine (or a mounted share)."""

    name: TargetName
    kind: Literal["local"]
    path: Path

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError("must be an absolute path (relative paths are resolved at load)")
        return value


class BasicAuth(_Secret):
    """HTTP Basic authentication (visible ASCII; no ``:`` in the username)."""

    kind: Literal["basic"]
    username: HeaderValue
    password: HeaderSecret

    @field_validator("username")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("must not hold ':' (Basic authentication joins user:password)")
        return value


class DigestAuth(_Secret):
    """HTTP Digest authentication (the server's challenge is answered on the first request)."""

    kind: Literal["digest"]
    username: HeaderValue
    password: HeaderSecret


class BearerAuth(_Secret):
    """A token sent as ``Authorization: Bearer <token>``."""

    kind: Literal["bearer"]
    token: HeaderSecret


HttpAuth = Annotated[BasicAuth | DigestAuth | BearerAuth, Field(discriminator="kind")]


class HttpTarget(Defaults):
    """A folder that an HTTP server lists as an index page (nginx, Apache, lighttpd, Caddy…).

    What goes in a header (``user_agent``, ``contact``, ``headers``, ``auth``) must be printable
    ASCII; ``repr`` hides the values of ``headers`` and its errors hide every input (either
    may hold a key or a token).
    """

    model_config = ConfigDict(hide_input_in_errors=True)  # merged with the parents' config

    name: TargetName
    kind: Literal["http"]
    url: RootUrl
    concurrency: int = Field(default=8, ge=1, le=64)
    rate: float = Field(default=10.0, gt=0)
    timeout: PositiveDuration = timedelta(seconds=30)
    poll_timeout: PositiveDuration = timedelta(minutes=30)
    retries: int = Field(default=3, ge=0, le=20)
    max_depth: int = Field(default=32, ge=0, le=1000)
    max_page_bytes: Size = Field(default=16 * 2**20, ge=1024)
    user_agent: HeaderValue = Field(default=f"filedrop-monitor/{__version__}", min_length=1)
    contact: HeaderValue | None = None
    headers: Headers = Field(default_factory=dict)
    auth: HttpAuth | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_bundle: Path | None = None
    verify_tls: bool = True
    listing_timezone: TimeZoneName = "UTC"

    @property
    def user_agent_header(self) -> str:
        """``User-Agent`` as sent: ``user_agent``, then ``(+contact)`` when a contact is set."""
        return f"{self.user_agent} (+{self.contact})" if self.contact else self.user_agent


#: ``kind`` → the model of a target of that kind.
TARGET_MODELS: dict[str, type[LocalTarget] | type[HttpTarget]] = {
    "local": LocalTarget,
    "http": HttpTarget,
}
#: Target keys that say what a target is; they cannot come from ``[defaults]``.
_IDENTITY_KEYS = frozenset({"name", "kind"})
#: Target keys holding a file path, resolved against the config file's folder.
_PATH_KEYS = {"local": ("path",), "http": ("ca_bundle", "client_cert", "client_key")}


def target_kind(target: object) -> str:
    """The model a raw target is checked against: its ``kind`` when known, else a guess.

    A target with an unknown or missing ``kind`` is checked as the kind its keys look like
    (``url``: http, otherwise local), so its other errors are reported as well.
    """
    if isinstance(target, dict):
        kind = target.get("kind")
        if isinstance(kind, str) and kind in TARGET_MODELS:
            return kind
        return "http" if "url" in target else "local"
    return str(getattr(target, "kind", "local"))


TargetConfig = Annotated[
    Annotated[LocalTarget, Tag("local")] | Annotated[HttpTarget, Tag("http")],
    Discriminator(target_kind),
]
