"""/healthz and /metrics on SQLite and PostgreSQL, after real polls of a local target."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from monitor.store import Store
from monitor.store import queries as q
from monitor.store.models import Snapshot
from tests.conftest import PG_ADMIN
from tests.helpers import Clock, make_target, poll, put
from tests.web.conftest import HTML, TOKEN, LiveApp, user_settings

Serve = Callable[..., LiveApp]
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def snapshots(store: Store) -> list[Snapshot]:
    with store.read() as conn:
        rows = conn.execute(select(q.snapshot_t).order_by(q.snapshot_t.c.id))
        return [Snapshot.model_validate(dict(r._mapping)) for r in rows]


def test_metrics_after_real_polls(
    tmp_path: Path, db_url: str, store: Store, serve: Serve, password_hash: str, clock: Clock
) -> None:
    root = tmp_path / "drop"
    put(root, "a/1.txt", b"1")
    put(root, "a/2.txt", b"22")
    put(root, "top.txt", b"x")
    target = make_target(root, down_after=1)
    poll(store, target, clock)  # the baseline: 3 files, 1 dir
    put(root, "b/new.csv", b"new")
    poll(store, target, clock)  # a batch opens under b/
    shutil.rmtree(root)
    poll(store, target, clock)  # failed: the root is gone; a "down" alert
    live = serve(user_settings(tmp_path, db_url, password_hash), store=store)
    with live.client() as client:
        assert client.get("/metrics").status_code == 401
        response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    got = samples(response.text)
    first, good, failed = snapshots(store)
    assert (good.status, failed.status) == ("complete", "failed")
    drop = (("target", "drop"),)
    assert got[("monitor_polls_total", (("status", "complete"), *drop))] == 2
    assert got[("monitor_polls_total", (("status", "failed"), *drop))] == 1
    assert got[("monitor_entries", (*drop, ("type", "file")))] == 4
    assert got[("monitor_entries", (*drop, ("type", "dir")))] == 2
    assert got[("monitor_bytes", drop)] == 7
    assert got[("monitor_batches_pending", drop)] == 1
    assert got[("monitor_consecutive_failures", drop)] == 1
    assert got[("monitor_last_poll_ok", drop)] == 0
    assert got[("monitor_last_poll_timestamp_seconds", drop)] == failed.finished_at.timestamp()
    took = (failed.finished_at - failed.started_at).total_seconds()
    assert got[("monitor_last_poll_duration_seconds", drop)] == took
    assert got[("monitor_outbox_unsent", ())] == 1
    assert got[("monitor_outbox_given_up", ())] == 0
    assert got[("monitor_database_up", ())] == 1
    assert first.status == "complete"


def test_metrics_recover_and_count_only_failures_since_the_last_good_poll(
    tmp_path: Path, db_url: str, store: Store, serve: Serve, password_hash: str, clock: Clock
) -> None:
    root = tmp_path / "drop"
    target = make_target(root)
    for _ in range(2):
        poll(store, target, clock)  # failed twice: no folder yet
    put(root, "x.txt")
    poll(store, target, clock)
    live = serve(user_settings(tmp_path, db_url, password_hash), store=store)
    with live.client(headers=BEARER) as client:
        got = samples(client.get("/metrics").text)
    drop = (("target", "drop"),)
    assert got[("monitor_polls_total", (("status", "failed"), *drop))] == 2
    assert got[("monitor_consecutive_failures", drop)] == 0
    assert got[("monitor_last_poll_ok", drop)] == 1
    assert got[("monitor_entries", (*drop, ("type", "file")))] == 1


def test_healthz_ok(
    tmp_path: Path, db_url: str, store: Store, serve: Serve, password_hash: str, clock: Clock
) -> None:
    root = tmp_path / "drop"
    put(root, "a.txt")
    poll(store, make_target(root), clock)
    live = serve(user_settings(tmp_path, db_url, password_hash), store=store)
    with live.client() as client:
        response = client.get("/healthz", headers=HTML)  # no login needed
    assert response.status_code == 200
    (snapshot,) = snapshots(store)
    assert response.json() == {
        "status": "ok",
        "database": {
            "reachable": True,
            "schema": "0003",
            "schema_current": True,
            "last_poll": snapshot.finished_at.isoformat(),
        },
    }


def test_healthz_503_when_the_database_is_gone(
    tmp_path: Path, db_url: str, store: Store, serve: Serve, password_hash: str
) -> None:
    live = serve(user_settings(tmp_path, db_url, password_hash), store=store)
    with live.client() as client:
        assert client.get("/healthz").status_code == 200
        if store.dialect == "sqlite":
            path = Path(store.engine.url.database or "")
            for extra in ("", "-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
            path.mkdir()  # where the file was, a folder: SQLite cannot open it
            store.engine.dispose()
        else:
            name = store.engine.url.database
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        response = client.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "failing"
        assert body["database"]["reachable"] is False
        assert body["database"]["error"]
        metrics = samples(client.get("/metrics", headers=BEARER).text)
        assert metrics == {("monitor_database_up", ()): 0}


def test_healthz_503_when_the_schema_is_not_current(
    tmp_path: Path, db_url: str, store: Store, serve: Serve, password_hash: str
) -> None:
    live = serve(user_settings(tmp_path, db_url, password_hash), store=store)
    with store.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    with live.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == {
        "reachable": True,
        "schema": "0002",
        "schema_current": False,
    }


class FakeDaemon:
    def __init__(self) -> None:
        self.running = True

    def scheduler_running(self) -> bool:
        return self.running


@pytest.mark.parametrize("running", [True, False])
def test_healthz_inside_the_daemon_says_whether_the_scheduler_runs(
    settings: object, serve: Serve, running: bool
) -> None:
    daemon = FakeDaemon()
    daemon.running = running
    with serve(settings, daemon=daemon).client() as client:
        response = client.get("/healthz")
    assert response.status_code == (200 if running else 503)
    assert response.json()["scheduler"] == {"running": running}
