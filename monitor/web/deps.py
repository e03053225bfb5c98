"""What page and API routes depend on, as FastAPI dependencies.

Use them with ``Annotated``::

    from fastapi import APIRouter, Depends, Request
    from monitor.web.deps import CurrentUser, StoreDep, templates

    router = APIRouter()

    @router.get("/batches/{batch_id}", name="batch")
    def batch_page(request: Request, batch_id: int, user: CurrentUser, store: StoreDep):
        with store.read() as conn:
            ...
        return templates.TemplateResponse(request, "batch.html", {"batch": ...})

- :func:`get_settings` / ``SettingsDep``: the :class:`~monitor.config.Settings` the app runs on.
- :func:`get_store` / ``StoreDep``: the open :class:`~monitor.store.Store` (use ``store.read()``
  in a plain ``def`` route: FastAPI runs it in a thread).
- :func:`current_user` / ``CurrentUser``: the name of who is asking: a user logged in by the
  session cookie, the name of an API token (``Authorization: Bearer``), or ``"local"`` when
  ``auth = "none"``. Nobody: a page (GET) redirects to ``/login``; ``/api/…``, ``/metrics``, a
  request with a bearer token or one that asks for JSON gets 401.
- :func:`require_csrf`: every unsafe request (POST, PUT, PATCH, DELETE) must carry the
  session's CSRF token, as the form field ``csrf_token`` or the header ``X-CSRF-Token``;
  requests with a valid API token are exempt. **The app applies it to every route already**;
  it is here to be named, not to be added again.
- ``templates``: a :class:`Jinja2Templates` on ``monitor/web/templates`` with autoescape always
  on. Every template sees ``csrf_token`` (for ``<input type="hidden" name="csrf_token"
  value="{{ csrf_token }}">``), ``user`` (or None) and ``auth``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from typing import Annotated, Any, Literal, Protocol

import jinja2
from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from monitor.config import Settings
from monitor.store import Store
from monitor.web.passwords import token_matches

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Requests under these paths are answered 401, never redirected to the login page.
API_PREFIXES = ("/api/", "/metrics")
LOCAL_USER = "local"


class DaemonStatus(Protocol):
    """What the web app can ask the daemon it runs in (``monitor run``)."""

    def scheduler_running(self) -> bool: ...


@dataclass
class WebState:
    """Everything the app's routes share; ``request.app.state.web``."""

    settings: Settings
    store: Store
    clock: Callable[[], datetime]
    daemon: DaemonStatus | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Identity:
    name: str
    via: Literal["session", "token", "none"]


class NotLoggedIn(Exception):
    """Nobody is logged in; the app turns it into a redirect to /login or a 401."""


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def get_settings(request: Request) -> Settings:
    return web_state(request).settings


def get_store(request: Request) -> Store:
    return web_state(request).store


def password_fingerprint(password_hash: str) -> str:
    """Stored in the session: changing a user's password ends the sessions it opened."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def identify(request: Request) -> Identity | None:
    """Who is asking (cached on the request); None: nobody. A wrong API token is 401."""
    if hasattr(request.state, "identity"):
        found: Identity | None = request.state.identity
        return found
    web = get_settings(request).web
    identity: Identity | None = None
    token = bearer_token(request)
    if token is not None:
        names = [t.name for t in web.api_tokens if token_matches(token, t.token_hash)]
        if not names:
            raise HTTPException(401, "unknown API token", {"WWW-Authenticate": "Bearer"})
        identity = Identity(names[0], "token")
    elif web.auth == "none":
        identity = Identity(LOCAL_USER, "none")
    else:
        name, mark = request.session.get("user"), request.session.get("pw")
        users = {u.name: u for u in web.users}
        user = users.get(name) if isinstance(name, str) else None
        if user is not None and mark == password_fingerprint(user.password_hash):
            identity = Identity(user.name, "session")
    request.state.identity = identity
    return identity


def current_user(request: Request) -> str:
    """The name of who is asking; :class:`NotLoggedIn` when nobody is."""
    identity = identify(request)
    if identity is None:
        raise NotLoggedIn("login required")
    return identity.name


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def require_csrf(request: Request) -> None:
    """403 unless an unsafe request carries the session's CSRF token (or a valid API token)."""
    if request.method in SAFE_METHODS:
        return
    identity = identify(request)
    if identity is not None and identity.via == "token":
        return
    given = request.headers.get("x-csrf-token")
    content_type = request.headers.get("content-type", "")
    if given is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get("csrf_token")
        given = value if isinstance(value, str) else None
    expected = request.session.get("csrf")
    if (
        not isinstance(expected, str)
        or not given
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise HTTPException(
            403, "The form has expired or did not come from this site; reload the page."
        )


def _template_context(request: Request) -> dict[str, Any]:
    try:
        identity = identify(request)
    except HTTPException:
        identity = None
    return {
        "csrf_token": csrf_token(request),
        "user": identity.name if identity is not None else None,
        "auth": get_settings(request).web.auth,
    }


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(files("monitor.web") / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return Jinja2Templates(env=env, context_processors=[_template_context])


templates = _templates()

SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
CurrentUser = Annotated[str, Depends(current_user)]
