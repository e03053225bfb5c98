"""Opening the database: engine setup, transactions, schema migrations.

SQLite (a file in WAL mode) is the default and upgrades its schema by itself on open;
PostgreSQL (``postgresql+psycopg://``) is upgraded by ``monitor db upgrade``. Writers take the
write lock up front (``BEGIN IMMEDIATE`` on SQLite), so two polls never interleave: one waits
for the other up to ``busy_timeout`` and then fails with a clear message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from monitor.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

BUSY_TIMEOUT_S = 30.0
#: The newest migration. Opening a database at this revision needs no alembic at all, which
#: keeps every command quick to start; a test checks it against the migrations folder.
SCHEMA_HEAD = "0003"


@dataclass
class Store:
    """An open database: use :meth:`read` and :meth:`write` for transactions."""

    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent view on both backends)."""
        with _translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction holding the write lock from its start; all or nothing."""
        with (
            _translated(),
            self.engine.connect().execution_options(monitor_write=True) as conn,
            conn.begin(),
        ):
            yield conn

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        text = str(exc.orig)
        if "locked" in text or "busy" in text:
            raise StoreError(
                "the database is busy: another process holds its write lock "
                "(a poll still writing?); try again"
            ) from exc
        raise StoreError(f"database error: {text}") from exc
    except DBAPIError as exc:
        raise StoreError(f"database error: {exc.orig}") from exc
    except OverflowError as exc:
        raise StoreError(f"a value is too large for the database: {exc}") from exc


def open_store(
    url: str, *, upgrade: bool | None = None, busy_timeout: float = BUSY_TIMEOUT_S
) -> Store:
    """Open the database at ``url``; SQLite files and their folder are created as needed.

    ``upgrade`` defaults to True for SQLite and False otherwise; without it, a schema that is
    not at the current revision is an error that says to run ``monitor db upgrade``.
    """
    engine = make_engine(url, busy_timeout=busy_timeout)
    store = Store(engine)
    current = stored_revision(store)
    if current == SCHEMA_HEAD:
        return store
    if upgrade is None:
        upgrade = store.dialect == "sqlite"
    if upgrade:
        upgrade_schema(store)
        return store
    store.close()
    raise StoreError(
        f"the database schema is at {current or 'nothing'}, this version needs {SCHEMA_HEAD}: "
        "run 'monitor db upgrade'"
    )


def stored_revision(store: Store) -> str | None:
    """The schema revision recorded in the database (None: no schema yet)."""
    with _translated(), store.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def make_engine(url: str, *, busy_timeout: float = BUSY_TIMEOUT_S) -> Engine:
    """An engine for ``url`` with the settings this project relies on."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r}") from exc
    if parsed.drivername == "postgresql":  # the driver this project installs: psycopg 3
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed.database, busy_timeout)
        return create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError as exc:
        raise StoreError(
            f"no database driver for {parsed.drivername!r}; for PostgreSQL install "
            "'filedrop-monitor[postgres]' and use a postgresql+psycopg:// URL"
        ) from exc
    except ImportError as exc:
        raise StoreError(f"the database driver is not installed: {exc}") from exc


def _sqlite_engine(database: str | None, busy_timeout: float) -> Engine:
    if database and database != ":memory:":
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the database folder for {database}: {exc}") from exc
    engine = create_engine(
        f"sqlite:///{database or ''}",
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_size_limit=4194304")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("monitor_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _alembic_config(connection: Connection) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(files("monitor.store") / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def schema_revisions(store: Store) -> tuple[str | None, str | None]:
    """The database's schema revision and the newest one the migrations folder holds."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with store.read() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        head = ScriptDirectory.from_config(_alembic_config(conn)).get_current_head()
    return current, head


def upgrade_schema(store: Store, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (all migrations in one transaction)."""
    from alembic import command

    with store.write() as conn:
        command.upgrade(_alembic_config(conn), revision)
