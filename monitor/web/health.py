"""``/healthz`` for probes and ``/metrics`` for Prometheus.

``GET /healthz`` needs no login and says little: whether the database answers and is at the
schema this version needs, when the last poll ended, and inside ``monitor run`` whether the
scheduler runs. 200 when all is well, 503 otherwise (the body says what is wrong).

``GET /metrics`` (Prometheus text format, see :mod:`monitor.web.metrics`) needs what every
other page needs: with ``auth = "password"`` an API token (``Authorization: Bearer``, the way
Prometheus' ``authorization`` setting sends one) or a logged-in session; with
``auth = "none"`` (loopback only) nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from sqlalchemy import func, select

from monitor.errors import StoreError
from monitor.store import Store
from monitor.store import queries as q
from monitor.store.engine import SCHEMA_HEAD, stored_revision
from monitor.web.deps import CurrentUser, StoreDep, web_state

router = APIRouter()
log = logging.getLogger(__name__)
#: What an anonymous caller learns of a database error.
UNREACHABLE = "the database cannot be read"


def database_health(store: Store) -> dict[str, Any]:
    """``reachable``, ``schema`` (its revision), ``schema_current`` and ``last_poll``."""
    try:
        revision = stored_revision(store)
    except StoreError as exc:
        log.warning("healthz: %s", exc.message)  # the details (host, user) stay in the log
        return {"reachable": False, "error": UNREACHABLE, "schema_current": False}
    found: dict[str, Any] = {
        "reachable": True,
        "schema": revision,
        "schema_current": revision == SCHEMA_HEAD,
    }
    if revision == SCHEMA_HEAD:
        try:
            with store.read() as conn:
                last = conn.execute(select(func.max(q.snapshot_t.c.finished_at))).scalar()
        except StoreError as exc:
            log.warning("healthz: %s", exc.message)
            return {**found, "reachable": False, "error": UNREACHABLE}
        found["last_poll"] = _iso(last)
    return found


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


@router.get("/healthz", name="healthz")
def healthz(request: Request, store: StoreDep) -> JSONResponse:
    database = database_health(store)
    body: dict[str, Any] = {"database": database}
    ok = bool(database["reachable"] and database["schema_current"])
    daemon = web_state(request).daemon
    if daemon is not None:
        running = daemon.scheduler_running()
        body["scheduler"] = {"running": running}
        ok = ok and running
    body = {"status": "ok" if ok else "failing", **body}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", name="metrics")
def metrics(request: Request, user: CurrentUser) -> Response:
    registry: CollectorRegistry = web_state(request).extra["metrics"]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
