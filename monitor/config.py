"""The configuration: a TOML file validated into one pydantic model tree.

Every error names the file, the key path and what was expected. Strings may hold ``${VAR}`` or
``${VAR:-default}``, replaced from the environment before validation (``$${`` is a literal
``${``); this is the only place that reads the environment. Durations are written ``"30m"``,
``"2h"``, ``"1h30m"`` or as seconds; sizes as ``"200MB"``, ``"1.5GiB"`` or as bytes.

Each ``[[target]]`` is validated by the model of its ``kind`` (:data:`TARGET_MODELS`). The
``[defaults]`` table may hold any key of any target model (except ``name`` and ``kind``); a
key is merged into each target whose model has it and that does not set it itself, so
``concurrency = 4`` in ``[defaults]`` reaches every ``http`` target and no ``local`` one.
Relative paths (``data_dir``, a local target's ``path``, an http target's ``ca_bundle``,
``client_cert`` and ``client_key``) are resolved against the folder that holds the config
file. A value under a key whose name suggests a secret (``password``, ``token``…) is never
repeated in an error message, nor are the credentials of a URL.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    SecretStr,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from monitor import __version__
from monitor.errors import ConfigError

DEFAULT_CONFIG_NAME = "monitor.toml"

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_HINT = "expected a duration like '30m', '2h' or '1h30m'"
_SIZE = re.compile(r"(-?)(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i?))?(b?)", re.IGNORECASE)
_SIZE_PREFIX = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_SIZE_HINT = "expected a size like '200MB' or '1.5GiB'"
# ``$${`` (a literal), ``${NAME}`` / ``${NAME:-default}``, or any other ``${`` (malformed).
_ENV_REF = re.compile(r"\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})?")
_SECRET_KEY = re.compile(r"pass|secret|token|key|auth", re.IGNORECASE)
_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_URL_CREDENTIALS = re.compile(r"(//)[^/@\s]*@")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# What a header value may hold as sent: visible ASCII, spaces and tabs.
_HEADER_TEXT = re.compile(r"[\t\x20-\x7e]*")
_HEADER_TEXT_HINT = (
    "must be printable ASCII (no line breaks, control characters or non-ASCII letters)"
)
# Characters a URL path may hold as they are; anything else is percent-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def parse_duration(value: object) -> timedelta:
    """``"30m"``, ``"2h"``, ``"1h30m"``, ``"1.5d"``, ``"500ms"`` or a number of seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _duration_seconds(value)
    else:
        raise ValueError(f"{_DURATION_HINT}, got {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"{_DURATION_HINT}, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ValueError(f"a duration this long is not supported, got {value!r}") from exc


def _duration_seconds(value: str) -> float:
    text = value.replace(" ", "").lower()
    if text.startswith("-") and (_NUMBER.fullmatch(text[1:]) or _DURATION_PART.match(text[1:])):
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    if _NUMBER.fullmatch(text):
        return float(text)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{_DURATION_HINT}, got {value!r}")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def parse_size(value: object) -> int:
    """``"200MB"`` (10**6), ``"1.5GiB"`` (2**30), ``"512K"`` or a whole number of bytes.

    Units are case-insensitive and the ``B`` is optional (``"10 b"`` is ten bytes); a fraction
    is allowed with a multiple (rounded to the nearest byte) but not for plain bytes.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value!r}")
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{_SIZE_HINT}, got {value!r}")
    sign, number, prefix, binary, _ = match.groups()
    if sign:
        raise ValueError(f"a size cannot be negative, got {value!r}")
    prefix = (prefix or "").lower()
    if not prefix and "." in number:
        raise ValueError(f"a size in bytes must be a whole number, got {value!r}")
    base = 1024 if binary else 1000
    amount = Decimal(number) * base ** _SIZE_PREFIX[prefix]
    return int(amount.to_integral_value(rounding=ROUND_HALF_UP))


def _check_zone(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a time zone name such as 'Europe/Paris' or 'UTC'")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {value!r}; use a name such as 'Europe/Paris'") from exc
    return value


def _check_target_name(value: str) -> str:
    if not _TARGET_NAME.fullmatch(value):
        raise ValueError(
            "a target name is 1 to 64 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit, got {value!r}"
        )
    return value


def _check_root_url(value: str) -> str:
    """An http(s) URL of a folder: no credentials, query or fragment; the path ends with "/"."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise ValueError("must be an http:// or https:// URL")
    if "@" in parts.netloc:
        raise ValueError(
            'must not hold credentials; set them with auth = { kind = "basic", '
            'username = "...", password = "${VAR}" }'
        )
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError("must not have a query string or a fragment")
    host = parts.hostname
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    if not host:
        raise ValueError("must name a host, as in https://files.example.org/drop/")
    if not host.isascii():  # in punycode, as httpx sends it and as redirects name it
        try:
            host = httpx.URL(f"http://{host}/").raw_host.decode("ascii")
        except httpx.InvalidURL as exc:
            raise ValueError(f"has a host name that is not valid IDNA ({exc})") from exc
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if any(unquote(s) in {".", ".."} for s in path.split("/")):
        raise ValueError("must not hold '.' or '..' path segments")
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port is not None else ""
    return urlunsplit((scheme, netloc, path if path.endswith("/") else path + "/", "", ""))


def _positive_duration(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


class HiddenValue(str):
    """A header value that ``repr`` does not show (it may be a key or a token).

    It is the value itself everywhere else: sent as is, and in ``model_dump_json``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


def _check_headers(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name")
        if not _HEADER_TEXT.fullmatch(text):
            raise ValueError(f"the value of header {name!r} {_HEADER_TEXT_HINT}")
    return {name: HiddenValue(text) for name, text in value.items()}


def _check_header_value(value: str) -> str:
    if not _HEADER_TEXT.fullmatch(value):
        raise ValueError(_HEADER_TEXT_HINT)
    return value


def _check_header_secret(value: SecretStr) -> SecretStr:
    if not _HEADER_TEXT.fullmatch(value.get_secret_value()):
        raise ValueError(_HEADER_TEXT_HINT)
    return value


def _format_duration(value: timedelta) -> str:
    """``"90s"``, or ``"0.5s"`` when there is a fraction: parse_duration reads it back."""
    seconds = f"{value.total_seconds():.6f}".rstrip("0").rstrip(".")
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(_format_duration, return_type=str),
]
Size = Annotated[int, BeforeValidator(parse_size)]
TimeZoneName = Annotated[str, BeforeValidator(_check_zone)]
TargetName = Annotated[str, AfterValidator(_check_target_name)]
PositiveDuration = Annotated[Duration, AfterValidator(_positive_duration)]
RootUrl = Annotated[str, AfterValidator(_check_root_url)]
HeaderValue = Annotated[str, AfterValidator(_check_header_value)]
HeaderSecret = Annotated[SecretStr, AfterValidator(_check_header_secret)]
Headers = Annotated[dict[str, str], AfterValidator(_check_headers)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Secret(_Strict):
    """A model of credentials: its errors never repeat what was given."""

    model_config = ConfigDict(hide_input_in_errors=True)  # merged with _Strict's


class Defaults(_Strict):
    """Settings every target has; ``[defaults]`` sets them for all targets at once."""

    enabled: bool = True
    every: Duration = timedelta(minutes=30)
    settle: Duration = timedelta(hours=1)
    batch_depth: int = Field(default=1, ge=0, le=32)
    max_removed_ratio: float = Field(default=0.5, gt=0, le=1)
    suspect_min_removed: int = Field(default=10, ge=1)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    max_entries: int = Field(default=1_000_000, ge=1)

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


class Settings(_Strict):
    """The whole configuration file."""

    data_dir: Path = Path("monitor-data")
    database: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in data_dir"
    )
    timezone: TimeZoneName = "UTC"
    reviewer: str | None = Field(default=None, description="name recorded on reviews")
    defaults: Defaults = Field(default_factory=Defaults)
    targets: list[TargetConfig] = Field(default_factory=list, alias="target")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("targets")
    @classmethod
    def _unique_names(cls, targets: list[TargetConfig]) -> list[TargetConfig]:
        seen: dict[str, int] = {}
        for index, target in enumerate(targets):
            if target.name in seen:
                raise ValueError(
                    f"two targets are named {target.name!r} "
                    f"(target[{seen[target.name]}] and target[{index}])"
                )
            seen[target.name] = index
        return targets

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.data_dir / 'monitor.db'}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def target(self, name: str) -> TargetConfig:
        for target in self.targets:
            if target.name == name:
                return target
        known = ", ".join(t.name for t in self.targets) or "none configured"
        raise ConfigError(f"no target named {name!r} (targets: {known})")


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, expand and validate a config file; raise ConfigError naming what is wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file (create one with 'monitor init')") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return settings_from_dict(raw, path=path, environ=os.environ if environ is None else environ)


def settings_from_dict(raw: dict[str, Any], *, path: Path, environ: Mapping[str, str]) -> Settings:
    """Validate an already parsed config; ``path`` locates relative paths and errors."""
    data = _expand(raw, environ, path=path, where=())
    if "targets" in data:
        raise ConfigError(
            f"{path}: invalid configuration\n"
            "  targets: unknown key (write each target as a [[target]] table)"
        )
    base = path.parent.resolve()
    if isinstance(data.get("data_dir"), str):
        data["data_dir"] = str(base / Path(data["data_dir"]).expanduser())
    elif "data_dir" not in data:
        data["data_dir"] = str(base / "monitor-data")
    inherited: list[set[str]] = []
    defaults = data.get("defaults", {})
    defaults = defaults if isinstance(defaults, dict) else {}
    early: list[Any] = []
    if defaults:
        data["defaults"], early = _split_defaults(defaults)
    targets = data.get("target")
    if isinstance(targets, list):
        data["target"] = [_with_defaults(t, defaults, base) for t in targets]
        inherited = [_inherited(t, defaults) for t in targets]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        errors = _merge_errors(exc.errors(), early)
        raise ConfigError(_describe(errors, path, data, inherited)) from exc
    if early:
        raise ConfigError(_describe(early, path, data, inherited))
    return settings


def _split_defaults(defaults: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The keys of ``[defaults]`` that the Defaults model checks, and errors in the others.

    A key that only some target models have (``url``, ``concurrency``…) is checked here against
    the first model that has it; unknown keys stay, so the model reports them.
    """
    common: dict[str, Any] = {}
    errors: list[Any] = []
    for key, value in defaults.items():
        models = [m for m in TARGET_MODELS.values() if key in m.model_fields]
        if key in Defaults.model_fields or not models:
            common[key] = value
        elif key in _IDENTITY_KEYS:
            errors.append(
                {
                    "type": "identity_in_defaults",
                    "loc": ("defaults", key),
                    "msg": "cannot be set in [defaults]; set it in each [[target]]",
                    "input": value,
                }
            )
        else:
            field = models[0].model_fields[key]
            try:
                annotated: Any = Annotated[field.annotation, field]
                TypeAdapter(annotated).validate_python(value)
            except ValidationError as exc:
                errors += [{**e, "loc": ("defaults", key, *e["loc"])} for e in exc.errors()]
    return common, errors


def _merge_errors(errors: list[Any], early: list[Any]) -> list[Any]:
    """Errors in order of the file: top-level keys and ``[defaults]`` first, then targets."""
    leading = {"data_dir", "database", "timezone", "reviewer", "defaults"}
    later = (i for i, e in enumerate(errors) if e["loc"] and e["loc"][0] not in leading)
    cut = next(later, len(errors))
    return [*errors[:cut], *early, *errors[cut:]]


def _inherited(target: object, defaults: dict[str, Any]) -> set[str]:
    if not isinstance(target, dict):
        return set()
    fields = TARGET_MODELS[target_kind(target)].model_fields
    return {k for k in defaults if k in fields and k not in _IDENTITY_KEYS and k not in target}


def _with_defaults(target: object, defaults: dict[str, Any], base: Path) -> object:
    if not isinstance(target, dict):
        return target
    kind = target_kind(target)
    fields = TARGET_MODELS[kind].model_fields
    inherited = {k: v for k, v in defaults.items() if k in fields and k not in _IDENTITY_KEYS}
    merged = {**inherited, **target}
    if merged.get("kind") == kind:
        for key in _PATH_KEYS.get(kind, ()):
            if isinstance(merged.get(key), str):
                merged[key] = str(base / Path(merged[key]).expanduser())
    return merged


def _expand(value: Any, environ: Mapping[str, str], *, path: Path, where: tuple[Any, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, environ, path=path, where=(*where, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, path=path, where=(*where, i)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name is None or (default is not None and "${" in default):
            raise ConfigError(
                f"{path}: {_key_path(where)}: malformed ${{...}} reference; write ${{NAME}} or "
                "${NAME:-default} (defaults cannot hold another reference), or $${ for a "
                "literal ${"
            )
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{path}: {_key_path(where)}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}})"
        )

    return _ENV_REF.sub(replace, value)


def _key_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(
    errors: list[Any], path: Path, data: dict[str, Any], inherited: list[set[str]]
) -> str:
    bad_defaults = {e["loc"][1] for e in errors if len(e["loc"]) >= 2 and e["loc"][0] == "defaults"}
    lines = [f"{path}: invalid configuration"]
    for error in errors:
        loc = _without_tag(tuple(error["loc"]))
        label = _key_path(loc)
        if len(loc) >= 3 and loc[0] == "target" and isinstance(loc[1], int):
            if loc[2] in bad_defaults and loc[2] in inherited[loc[1]]:
                continue  # the same value is reported once, under [defaults]
            target = data["target"][loc[1]]
            if isinstance(target, dict) and isinstance(target.get("name"), str):
                label = _key_path(loc[2:], prefix=f"target[{loc[1]}] ({target['name']})")
        lines.append(f"  {label}: {_message(error, loc)}")
    return "\n".join(lines)


def _without_tag(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``target[0].http.auth.basic.password`` → ``target[0].auth.password``.

    Pydantic names the chosen member of a union by its kind; that is not a key the user wrote.
    """
    if len(loc) >= 3 and loc[0] == "target" and isinstance(loc[1], int) and loc[2] in TARGET_MODELS:
        loc = (*loc[:2], *loc[3:])
    if "auth" in loc:
        at = loc.index("auth") + 1
        if loc[at : at + 1] and loc[at] in {"basic", "digest", "bearer"}:
            loc = (*loc[:at], *loc[at + 1 :])
    return loc


def _message(error: Any, loc: tuple[Any, ...]) -> str:
    """A sentence about one error; echoes a short, plain input unless the key holds a secret."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see config.example.toml)"
    if kind == "missing":
        return "required key is missing"
    text = str(error["msg"]).removeprefix("Value error, ")
    if loc == ("target",) and kind == "list_type":
        text += " (write each target as a [[target]] table)"
    value = error.get("input")
    if any(isinstance(part, str) and _SECRET_KEY.search(part) for part in loc):
        if isinstance(value, str) and value:
            text = text.replace(repr(value), "'***'")
            text = text.replace(value, "***") if len(value) >= 4 else text
        return text
    shown = _URL_CREDENTIALS.sub(r"\1***@", repr(value))
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    if isinstance(value, str | int | float | bool) and shown not in text:
        text += f" (got {shown[:60]}{'…' if len(shown) > 60 else ''})"
    return text
