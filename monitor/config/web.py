"""Settings of the web UI: ``[web]``, its users and its API tokens.

The UI listens on ``bind``:``port`` (loopback by default). ``auth = "password"`` asks for a
user name and password (``users``, hashed with ``monitor web-password``); ``auth = "none"``
lets anyone who reaches the port in, and so is refused unless ``bind`` is a loopback address.
Scripts use an API token (``Authorization: Bearer``) from ``api_tokens``.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from monitor.config.values import PositiveDuration, _Secret, _Strict
from monitor.web.passwords import check_password_hash, check_token_hash

#: Host names that always mean this machine.
LOOPBACK_NAMES = frozenset({"localhost", "localhost."})
_NAME_HINT = "1 to 64 printable characters, no spaces"
MIN_SECRET_KEY = 32


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is loopback."""
    host = host.strip().lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def _check_name(value: str) -> str:
    if not value or len(value) > 64 or not value.isprintable() or any(c.isspace() for c in value):
        raise ValueError(f"a name is {_NAME_HINT}, got {value!r}")
    return value


def _check_bind(value: str) -> str:
    text = value.strip()
    if not text or any(c.isspace() or c in "/[]" for c in text):
        raise ValueError(
            f"expected an address like '127.0.0.1', '::1' or 'localhost', got {value!r}"
        )
    return text


def _check_proxy(value: str) -> str:
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError(f"expected an IP address like '127.0.0.1', got {value!r}") from None
    return value.strip()


def _check_secret_key(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < MIN_SECRET_KEY:
        raise ValueError(
            f"must be at least {MIN_SECRET_KEY} characters (e.g. `openssl rand -hex 32`)"
        )
    return value


UserName = Annotated[str, AfterValidator(_check_name)]
PasswordHash = Annotated[str, AfterValidator(check_password_hash)]
TokenHash = Annotated[str, AfterValidator(check_token_hash)]


class WebUser(_Strict):
    """A person who may log in: a name and a hash from ``monitor web-password``."""

    name: UserName
    password_hash: PasswordHash


class ApiToken(_Strict):
    """A script's key: sent as ``Authorization: Bearer <token>``; only its hash is kept here."""

    name: UserName
    token_hash: TokenHash


class Web(_Secret):
    """The web UI of ``monitor serve`` and ``monitor run``."""

    bind: Annotated[str, AfterValidator(_check_bind)] = "127.0.0.1"
    #: 0: any free port (the URL is logged).
    port: int = Field(default=8080, ge=0, le=65535)
    auth: Literal["password", "none"] = "password"
    users: list[WebUser] = Field(default_factory=list)
    api_tokens: list[ApiToken] = Field(default_factory=list)
    #: Signs session cookies; unset: a key kept in <data_dir>/web-secret (made once, mode 0600).
    secret_key: Annotated[SecretStr, AfterValidator(_check_secret_key)] | None = None
    #: A login lasts this long.
    session_max_age: PositiveDuration = timedelta(hours=12)
    #: Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    #: (the client's address for the login limit, https for the Secure cookie). Empty: none,
    #: so a client cannot pick its own address by sending the header.
    trusted_proxies: list[Annotated[str, AfterValidator(_check_proxy)]] = Field(
        default_factory=list
    )

    @field_validator("users", "api_tokens")
    @classmethod
    def _unique(cls, items: list[WebUser] | list[ApiToken]) -> list[WebUser] | list[ApiToken]:
        names = [item.name for item in items]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"names must be unique: {', '.join(map(repr, twice))} is given twice")
        return items

    @model_validator(mode="after")
    def _none_only_on_loopback(self) -> Web:
        if self.auth == "none" and not is_loopback(self.bind):
            raise ValueError(
                f'auth = "none" is only allowed when bind is a loopback address (127.0.0.1, '
                f"::1 or localhost), not {self.bind!r}: anyone who reaches the port would be "
                'let in. Add [[web.users]] and use auth = "password"'
            )
        return self
