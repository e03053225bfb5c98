"""Migrations: the schema they build is exactly the one the models describe, on both backends."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from monitor.errors import StoreError
from monitor.store import open_store, schema_revisions
from monitor.store.engine import SCHEMA_HEAD, make_engine, upgrade_schema


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
