"""Migrations: the schema they build is exactly the one the models describe, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from monitor.errors import StoreError
from monitor.store import Store, open_store, schema_revisions
from monitor.store.engine import (
    SCHEMA_HEAD,
    _alembic_config,
    make_engine,
    stored_revision,
    upgrade_schema,
)


def test_migrations_match_models(db_url: str) -> None:
    store = open_store(db_url, upgrade=True)
    try:
        with store.read() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, SQLModel.metadata) == []
            indexes = {i["name"] for i in inspect(conn).get_indexes("version")}
        assert {"ix_version_target_first", "ix_version_target_gone", "uq_version_open"} <= indexes
        current, head = schema_revisions(store)
        assert current == head == SCHEMA_HEAD
        upgrade_schema(store)  # idempotent
    finally:
        store.close()


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_postgres_needs_explicit_upgrade(pg_url: str) -> None:
    db_url = pg_url
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    try:
        open_store(db_url)
    except StoreError as exc:
        assert "monitor db upgrade" in str(exc)
    else:
        raise AssertionError("an empty PostgreSQL database must not open without an upgrade")
    open_store(db_url, upgrade=True).close()
    open_store(db_url).close()


def _store_at(db_url: str, revision: str) -> Store:
    """A store whose schema is exactly at ``revision`` (PostgreSQL: emptied first)."""
    engine = make_engine(db_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    store = Store(engine)
    upgrade_schema(store, revision)
    return store


def test_0002_keeps_alerts_and_adds_delivery_columns(db_url: str) -> None:
    store = _store_at(db_url, "0001")
    try:
        now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
        with store.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO alert (key, kind, created_at, payload, attempts, sent_at) "
                    "VALUES ('digest:2026-11-23', 'digest', :now, '{}', 2, NULL), "
                    "('down:1', 'down', :now, '{}', 1, :now)"
                ),
                {"now": now},
            )
        upgrade_schema(store, "0002")
        assert stored_revision(store) == "0002"
        with store.read() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("alert")}
            rows = conn.execute(
                text(
                    "SELECT key, attempts, next_attempt_at, delivered, gave_up_at FROM alert "
                    "ORDER BY id"
                )
            ).all()
        assert {"next_attempt_at", "delivered", "gave_up_at"} <= columns
        assert [tuple(r) for r in rows] == [
            ("digest:2026-11-23", 2, None, None, None),
            ("down:1", 1, None, None, None),
        ]
        with store.write() as conn:  # and back down, data kept
            command.downgrade(_alembic_config(conn), "0001")
        with store.read() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("alert")}
            count = conn.execute(text("SELECT count(*) FROM alert")).scalar()
        assert "delivered" not in columns and count == 2
    finally:
        store.close()


def test_0003_adds_the_archive_tables_and_goes_back(db_url: str) -> None:
    store = _store_at(db_url, "0002")
    try:
        upgrade_schema(store)
        assert stored_revision(store) == SCHEMA_HEAD == "0003"
        with store.read() as conn:
            tables = set(inspect(conn).get_table_names())
            indexes = {i["name"] for i in inspect(conn).get_indexes("capture")}
        assert {"blob", "capture"} <= tables
        assert "ix_capture_due" in indexes
        with store.write() as conn:
            command.downgrade(_alembic_config(conn), "0002")
        with store.read() as conn:
            assert not {"blob", "capture"} & set(inspect(conn).get_table_names())
    finally:
        store.close()
