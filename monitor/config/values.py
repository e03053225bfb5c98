"""Value types of the config: durations, sizes, time zones, URLs, header text.

Durations are written ``"30m"``, ``"2h"``, ``"1h30m"`` or as seconds; sizes as ``"200MB"``,
``"1.5GiB"`` or as bytes. Each type is an ``Annotated`` alias that pydantic validates.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated
from urllib.parse import quote, unquote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    SecretStr,
)

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
