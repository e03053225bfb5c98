"""Shared fixtures: a real SQLite file and a real PostgreSQL database per test, and the CLI."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.store import Store, open_store
from tests.helpers import Clock

PG_ADMIN = os.environ.get("MONITOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A database at the current schema, cloned for each test (CREATE DATABASE … TEMPLATE)."""
    name = f"monitor_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    store = open_store(_pg_url(name), upgrade=True)
    store.close()
    yield name
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database at the current schema."""
    name = f"monitor_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield _pg_url(name)
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitor.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url, upgrade=True)
    yield opened
    opened.close()


@dataclass
class Cli:
    """Runs ``monitor`` commands in-process against one config file."""

    config: Path
    runner: CliRunner

    def __call__(self, *args: str, code: int = 0) -> str:
        result = self.runner.invoke(app, ["--config", str(self.config), *args])
        if result.exit_code != code:
            raise AssertionError(
                f"monitor {' '.join(args)} exited {result.exit_code}, expected {code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            ) from result.exception
        return result.stdout

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self(*args, "--format", "json", code=code))

    def run(self, *args: str) -> Any:
        return self.runner.invoke(app, ["--config", str(self.config), *args])


def write_config(path: Path, db_url: str, targets: str, extra: str = "") -> Path:
    path.write_text(
        f'database = "{db_url}"\ndata_dir = "data"\ntimezone = "Europe/Paris"\n{extra}\n{targets}',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    """The folder a local target watches."""
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def cli(tmp_path: Path, db_url: str, drop: Path) -> Cli:
    """The CLI on a config with one local target named "drop" watching ``drop``."""
    config = write_config(
        tmp_path / "monitor.toml",
        db_url,
        f'[[target]]\nname = "drop"\nkind = "local"\npath = "{drop}"\n'
        'settle = "1h"\nsuspect_min_removed = 2\n',
    )
    return Cli(config, CliRunner(env={"COLUMNS": "200"}))


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves by hand (polls advance it by 30 minutes)."""
    return Clock()
