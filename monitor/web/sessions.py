"""The session: a signed cookie holding who is logged in and the CSRF token.

The cookie is JSON signed with itsdangerous (HMAC with the secret key, and a timestamp): it is
``HttpOnly``, ``SameSite=Lax``, ``Path=/``, ``Secure`` when the request came over https,
and expires ``session_max_age`` after it was last written (at login). ``Lax``, not
``Strict``: a link from an alert email opens its page logged in (a top-level GET from another
site carries the cookie); every unsafe request needs the session's CSRF token besides, and no
GET changes anything. A cookie that is
forged, altered or too old is ignored: the request has an empty session.

The key is ``[web] secret_key``; unset, a random key is made once in ``<data_dir>/web-secret``
(mode 0600) and reused, so sessions survive restarts.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, TimestampSigner
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.config import Settings
from monitor.errors import ConfigError

COOKIE = "monitor_session"
SECRET_FILE = "web-secret"
_SALT = "monitor.web.session"


class Session(dict[str, Any]):
    """The session's data; changing it makes the response send a new cookie."""

    modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def clear(self) -> None:
        self.modified = True
        super().clear()


class SessionMiddleware:
    """Reads the cookie into ``scope["session"]``, writes it back when it changed."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret_key: str,
        max_age: timedelta,
    ) -> None:
        self.app = app
        self.max_age = int(max_age.total_seconds())
        self.signer = TimestampSigner(secret_key, salt=_SALT)

    def load(self, cookie: str | None) -> Session:
        if not cookie:
            return Session()
        try:
            data = self.signer.unsign(cookie, max_age=self.max_age)
            value = json.loads(data)
        except (BadSignature, ValueError):
            return Session()
        return Session(value) if isinstance(value, dict) else Session()

    def dump(self, session: Session) -> str:
        return self.signer.sign(json.dumps(session, separators=(",", ":"))).decode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        had_cookie = COOKIE in HTTPConnection(scope).cookies
        session = self.load(HTTPConnection(scope).cookies.get(COOKIE))
        scope["session"] = session
        secure = "; Secure" if scope.get("scheme") == "https" else ""

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and session.modified:
                headers = MutableHeaders(scope=message)
                flags = f"Path=/; HttpOnly; SameSite=Lax{secure}"
                if session:
                    value = f"{COOKIE}={self.dump(session)}; Max-Age={self.max_age}; {flags}"
                elif had_cookie:
                    value = f"{COOKIE}=; Max-Age=0; {flags}"
                else:
                    value = ""
                if value:
                    headers.append("Set-Cookie", value)
                    headers.add_vary_header("Cookie")
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def secret_key(settings: Settings) -> str:
    """``[web] secret_key``, or the key in ``<data_dir>/web-secret``, made if missing."""
    if settings.web.secret_key is not None:
        return settings.web.secret_key.get_secret_value()
    path = settings.data_dir / SECRET_FILE
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".web-secret-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_hex(32) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.link(tmp, path)  # never replaces a key another process made meanwhile
        finally:
            os.unlink(tmp)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create the web UI's key {path}: {exc.strerror}") from exc
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise ConfigError(
                f"{path} (the web UI's session key) can be read by others: chmod 600 {path}"
            )
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the web UI's key {path}: {exc}") from exc
    if len(key) < 32:
        raise ConfigError(f"{path} holds no usable key (remove it: a new one is made)")
    return key
