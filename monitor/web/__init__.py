"""The web UI and its JSON API: a FastAPI app built by :func:`create_app`.

Nothing here imports FastAPI until an app is built, so the CLI starts quickly.

Modules, one job each:

- :mod:`~monitor.web.app`: builds the app, its middleware, and the list of routers
  (:func:`~monitor.web.app.routers`): add a page or API module there.
- :mod:`~monitor.web.deps`: the FastAPI dependencies pages and API routes use
  (``get_settings``, ``get_store``, ``current_user``, ``require_csrf``, ``templates``).
- :mod:`~monitor.web.security`: response headers (CSP and friends), the Host check.
- :mod:`~monitor.web.sessions`: the signed session cookie and its key.
- :mod:`~monitor.web.login`: the login and logout pages, and the rate limit on failures.
- :mod:`~monitor.web.passwords`: password and token hashes (``monitor web-password``).
- :mod:`~monitor.web.files`: serving archived bodies safely (attachments, safe inline images).
- :mod:`~monitor.web.health`: ``/healthz`` and ``/metrics``; :mod:`~monitor.web.metrics` reads
  the metrics from the database at each scrape.
- :mod:`~monitor.web.home`: a placeholder dashboard at ``/``, until the real one.
- :mod:`~monitor.web.server`: uvicorn, for ``monitor serve`` and inside ``monitor run``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from monitor.config import Settings
    from monitor.store import Store
    from monitor.web.deps import DaemonStatus


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Callable[[], datetime] | None = None,
    daemon: DaemonStatus | None = None,
) -> FastAPI:
    """The web app for ``settings`` (see :func:`monitor.web.app.build_app`).

    ConfigError when it cannot be served (``auth = "password"`` without users).
    """
    from monitor.poll import utc_now
    from monitor.web.app import build_app

    return build_app(settings, store=store, clock=clock or utc_now, daemon=daemon)


__all__ = ["create_app"]
