"""Building the app: routers, middleware, error pages.

To add pages or API routes, write a module with ``router = APIRouter()`` (pages under
``monitor/web/pages/``, the JSON API under ``monitor/web/api/`` with paths starting ``/api/``)
and add its router to :func:`routers`. Every route then has, without asking:

- the CSRF check on unsafe methods (:func:`~monitor.web.deps.require_csrf`);
- the security headers and, with ``auth = "none"``, the Host check
  (:mod:`~monitor.web.security`);
- the session (``request.session``) and error pages: an ``HTTPException`` is an HTML page for
  a client that accepts ``text/html`` (a browser), else ``{"detail": ...}`` JSON (always under
  ``/api/``).

Routes that need a login take ``user: CurrentUser`` (:mod:`~monitor.web.deps`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from importlib.resources import files

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client.registry import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException

from monitor import __version__
from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.poll import utc_now
from monitor.store import Store, open_store
from monitor.web.deps import (
    API_PREFIXES,
    CurrentUser,
    DaemonStatus,
    NotLoggedIn,
    WebState,
    bearer_token,
    require_csrf,
    templates,
)
from monitor.web.login import LoginLimiter, login_url
from monitor.web.metrics import StoreCollector
from monitor.web.security import SecurityHeadersMiddleware
from monitor.web.sessions import SessionMiddleware, secret_key


def routers() -> list[APIRouter]:
    """Every router of the app, in order: the one place a page or API module is added."""
    from monitor.web import health, login
    from monitor.web.api import routers as api_routers
    from monitor.web.pages import batches, bodies, dashboard, days, feed, files, search, targets

    return [
        login.router,
        health.router,
        dashboard.router,
        targets.router,
        files.router,
        search.router,
        feed.router,
        days.router,
        batches.router,
        bodies.router,
        *api_routers(),
    ]


def check_ready(settings: Settings) -> None:
    """ConfigError if the web UI cannot be served with these settings."""
    web = settings.web
    if web.auth == "password" and not web.users:
        raise ConfigError(
            '[web] auth = "password" but no user is configured: add a [[web.users]] table '
            "with name and password_hash (made by `monitor web-password`), or run the daemon "
            "without the web UI (monitor run --no-web)"
        )


#: ``[web]`` keys a running server keeps until it starts again: its socket and proxies, and
#: what its middleware was built with (the session key and length, the Host check of
#: ``auth = "none"``).
RESTART_KEYS = ("bind", "port", "trusted_proxies", "secret_key", "session_max_age", "auth")


def apply_settings(app: FastAPI, settings: Settings) -> list[str]:
    """Serve the requests to come with ``settings`` (a reloaded config): its users, API
    tokens, targets and the rest at once. The ``[web]`` keys of :data:`RESTART_KEYS` that
    changed keep their running values (returned, to tell that they wait for a restart).
    ConfigError, and nothing changes, if the UI could not be served so (no user left)."""
    state: WebState = app.state.web
    running = state.settings.web
    later = [key for key in RESTART_KEYS if getattr(running, key) != getattr(settings.web, key)]
    web = settings.web.model_copy(update={key: getattr(running, key) for key in later})
    effective = settings.model_copy(update={"web": web})
    check_ready(effective)
    state.settings = effective
    return later


def build_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Callable[[], datetime] = utc_now,
    daemon: DaemonStatus | None = None,
) -> FastAPI:
    """The web app. Without ``store`` it opens (and at shutdown closes) its own; ``daemon``:
    the ``monitor run`` it is part of, for ``/healthz``; ``clock`` times the login limit."""
    check_ready(settings)
    key = secret_key(settings)
    owned = store is None
    opened = store if store is not None else open_store(settings.database_url)
    state = WebState(settings, opened, clock, daemon)
    state.extra["login_limiter"] = LoginLimiter(clock)
    registry = CollectorRegistry()
    registry.register(StoreCollector(opened))
    state.extra["metrics"] = registry

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            opened.close()

    app = FastAPI(
        title="filedrop-monitor",
        version=__version__,
        docs_url=None,  # Swagger UI loads script from a CDN, which the CSP forbids
        redoc_url=None,
        openapi_url=None,  # served below, behind the login
        dependencies=[Depends(require_csrf)],
        lifespan=lifespan,
    )
    app.state.web = state
    for router in routers():
        app.include_router(router)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(user: CurrentUser) -> JSONResponse:
        return JSONResponse(app.openapi())

    static = StaticFiles(directory=str(files("monitor.web") / "static"))
    app.mount("/static", static, name="static")
    app.add_exception_handler(NotLoggedIn, _login_required)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(SessionMiddleware, secret_key=key, max_age=settings.web.session_max_age)
    # Added last, so outermost: its headers go on every response, errors included.
    app.add_middleware(SecurityHeadersMiddleware, loopback_hosts_only=settings.web.auth == "none")
    return app


def _wants_json(request: Request) -> bool:
    if request.url.path.startswith(API_PREFIXES) or bearer_token(request) is not None:
        return True
    return "text/html" not in request.headers.get("accept", "")


async def _login_required(request: Request, exc: Exception) -> Response:
    if _wants_json(request):
        return JSONResponse(
            {"detail": "login required: send Authorization: Bearer <API token>"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(login_url(path if request.method == "GET" else "/"), status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if _wants_json(request) or exc.status_code < 400:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    context = {"status": exc.status_code, "reason": _reason(exc.status_code), "detail": exc.detail}
    return templates.TemplateResponse(
        request, "error.html", context, status_code=exc.status_code, headers=headers
    )


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
