"""The login and logout pages, and the limit on failed logins.

A failed login says only that the name or the password is wrong (never which), and takes as
long for an unknown name as for a known one. After :data:`MAX_FAILURES` failures from one
client address within :data:`WINDOW`, that address gets 429 (with ``Retry-After``) until the
window has passed since its first failure; a good login clears its count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from monitor.web.deps import (
    SettingsDep,
    csrf_token,
    identify,
    password_fingerprint,
    templates,
    web_state,
)
from monitor.web.passwords import burn_password_check, verify_password

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
#: Addresses remembered at most; past it, the ones whose window is over are forgotten first.
MAX_ADDRESSES = 10_000
WRONG = "Wrong user name or password."

router = APIRouter()


@dataclass
class LoginLimiter:
    """Failed logins per client address, in memory."""

    clock: Callable[[], datetime]
    failures: dict[str, tuple[datetime, int]] = field(default_factory=dict)

    def retry_after(self, address: str) -> int:
        """Seconds before ``address`` may try again; 0 if it may now."""
        first, count = self.failures.get(address, (None, 0))
        if first is None or count < MAX_FAILURES:
            return 0
        left = (first + WINDOW - self.clock()).total_seconds()
        if left <= 0:
            del self.failures[address]
            return 0
        return math.ceil(left)

    def failed(self, address: str) -> None:
        now = self.clock()
        first, count = self.failures.get(address, (now, 0))
        if now - first >= WINDOW:
            first, count = now, 0
        self.failures[address] = (first, count + 1)
        if len(self.failures) > MAX_ADDRESSES:
            self._forget(now)

    def succeeded(self, address: str) -> None:
        self.failures.pop(address, None)

    def _forget(self, now: datetime) -> None:
        for address, (first, _) in list(self.failures.items()):
            if now - first >= WINDOW:
                del self.failures[address]
        while len(self.failures) > MAX_ADDRESSES:
            del self.failures[next(iter(self.failures))]


def limiter(request: Request) -> LoginLimiter:
    found: LoginLimiter = web_state(request).extra["login_limiter"]
    return found


def safe_next(target: str | None) -> str:
    """A path on this site to go to after login; anything else (another site) is ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 0x20 for c in target):
        return "/"
    return target


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _page(
    request: Request, next_path: str, *, error: str | None = None, status: int = 200
) -> Response:
    headers = {}
    if status == 429:
        headers["Retry-After"] = str(limiter(request).retry_after(_client(request)))
    context = {"error": error, "next": next_path}
    return templates.TemplateResponse(
        request, "login.html", context, status_code=status, headers=headers
    )


@router.get("/login", name="login", include_in_schema=False)
def login_page(request: Request, next: str = "/") -> Response:
    if identify(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    csrf_token(request)  # the form needs a session to carry its token
    return _page(request, safe_next(next))


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    address = _client(request)
    wait = limiter(request).retry_after(address)
    target = safe_next(next)
    if wait:
        minutes = math.ceil(wait / 60)
        error = f"Too many failed logins from your address; try again in {minutes} min."
        return _page(request, target, error=error, status=429)
    # Counted before the (slow) password check, so a burst of parallel tries is counted too;
    # a good password clears the count.
    limiter(request).failed(address)
    users = {u.name: u for u in settings.web.users}
    user = users.get(username)
    if user is None:
        await run_in_threadpool(burn_password_check, password)
        good = False
    else:
        good = await run_in_threadpool(verify_password, password, user.password_hash)
    if not good or user is None:
        return _page(request, target, error=WRONG, status=401)
    limiter(request).succeeded(address)
    request.session.clear()  # a new session: nothing from before the login carries over
    request.session["user"] = user.name
    request.session["pw"] = password_fingerprint(user.password_hash)
    csrf_token(request)
    return RedirectResponse(target, status_code=303)


@router.post("/logout", name="logout", include_in_schema=False)
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def login_url(path: str) -> str:
    return "/login" if path in ("", "/") else f"/login?next={quote(path, safe='/')}"
