"""What the notify tests share: settings built in code, alert rows written to the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from monitor.config import Settings, settings_from_dict
from monitor.notify.outbox import alert_t
from monitor.store import Store
from monitor.store import queries as q

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def make_settings(
    folder: Path,
    *,
    notify: dict[str, Any] | None = None,
    daemon: dict[str, Any] | None = None,
    targets: list[dict[str, Any]] | None = None,
) -> Settings:
    data: dict[str, Any] = {"timezone": "Europe/Paris", "notify": notify or {}}
    if daemon:
        data["daemon"] = daemon
    if targets:
        data["target"] = targets
    return settings_from_dict(data, path=folder / "monitor.toml", environ={})


def smtp_settings(port: int, **smtp: Any) -> dict[str, Any]:
    """A [notify] table for the test server at ``port``."""
    return {
        "from": "monitor@lab.example.org",
        "to": ["analyst@example.org"],
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout": "5s", **smtp},
    }


def add_alert(
    store: Store,
    kind: str,
    payload: Any,
    *,
    key: str | None = None,
    target: str | None = None,
    created_at: datetime = NOW,
) -> int:
    """An alert row as a poll writes it (the target registered first when named)."""
    with store.write() as conn:
        target_id = None
        if target is not None:
            q.register_targets(conn, [(target, "local")], created_at)
            target_id = q.target_id(conn, target)
        result = conn.execute(
            insert(alert_t).values(
                key=key or f"{kind}:{json.dumps(payload, sort_keys=True)[:150]}",
                kind=kind,
                target_id=target_id,
                created_at=created_at,
                payload=json.dumps(payload),
                attempts=0,
            )
        )
        (alert_id,) = result.inserted_primary_key or (None,)
    assert alert_id is not None
    return int(alert_id)
