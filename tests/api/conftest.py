"""A served app on each database with real polls of a real local folder behind it.

The world is :func:`tests.views.conftest.four_days` (every kind of change, hostile names),
then on 2026-11-25 a root file named like a spreadsheet formula and a folder of bodies that
the archive stores (a PNG, a text file, an HTML page). The app runs on uvicorn on loopback
with two users (ana, ben) and an API token named "robot"; the CLI runs on the same config,
so the API is checked against what the CLI says.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner
from typer.testing import CliRunner

from monitor.config import load_settings
from monitor.store import open_store
from monitor.web.passwords import hash_token
from monitor.web.sessions import COOKIE
from tests.archive.helpers import archive
from tests.conftest import Cli, write_config
from tests.helpers import Clock, put
from tests.views.conftest import World, four_days, paris
from tests.web.conftest import (  # noqa: F401  (fixtures)
    PASSWORD,
    SECRET,
    TOKEN,
    LiveApp,
    login,
    password_hash,
    serve,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}
FORMULA = "=cmd|' /C calc'!A0.csv"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TEXT = b"line one\nline two \xff\n"
PAGE = b"<html><script>alert(1)</script></html>"


@dataclass
class Api:
    """The world, and the app serving it."""

    world: World
    live: LiveApp

    @property
    def cli(self) -> Cli:
        return self.world.cli

    def client(self, **kw: Any) -> httpx.Client:
        return self.live.client(**kw)

    def token(self) -> httpx.Client:
        """A client that sends the API token."""
        return self.live.client(headers=AUTH)

    def get(self, path: str, **kw: Any) -> Any:
        """GET ``path`` with the token; the JSON of a 200 answer."""
        with self.token() as client:
            response = client.get(path, **kw)
        assert response.status_code == 200, response.text
        return response.json()

    @contextmanager
    def session(self, user: str = "ana") -> Iterator[httpx.Client]:
        """A client logged in as ``user`` through the login form."""
        with self.live.client() as client:
            assert login(client, user).status_code == 303
            yield client


def web_toml(hashed: str) -> str:
    users = ", ".join(
        f'{{ name = "{name}", password_hash = "{hashed}" }}' for name in ("ana", "ben")
    )
    return (
        f'[web]\nport = 0\nsecret_key = "{SECRET}"\nusers = [{users}]\n'
        f'api_tokens = [{{ name = "robot", token_hash = "{hash_token(TOKEN)}" }}]\n'
    )


def fill(world: World) -> None:
    """four_days, then on the 25th a formula-named root file and archived bodies."""
    four_days(world)
    drop = world.drop
    put(drop, FORMULA, b"=1+1", mtime=1_700_000_031)
    put(drop, "ep05/pic.png", PNG, mtime=1_700_000_032)
    put(drop, "ep05/notes.txt", TEXT, mtime=1_700_000_033)
    put(drop, "ep05/page.html", PAGE, mtime=1_700_000_034)
    world.poll("2026-11-25T10:00")
    archive(world.store, world.settings, paris("2026-11-25T10:05"))
    world.poll("2026-11-25T12:00")
    world.clock.now = paris("2026-11-26T09:00")


@pytest.fixture
def api(
    tmp_path: Path,
    db_url: str,
    drop: Path,
    clock: Clock,
    password_hash: str,  # noqa: F811
    serve: Callable[..., LiveApp],  # noqa: F811
) -> Iterator[Api]:
    config = write_config(
        tmp_path / "monitor.toml",
        db_url,
        f'[[target]]\nname = "drop"\nkind = "local"\npath = "{drop}"\n'
        'settle = "1h"\nsuspect_min_removed = 2\narchive = { enabled = true }\n',
        extra=web_toml(password_hash),
    )
    settings = load_settings(config)
    store = open_store(db_url, upgrade=True)
    world = World(store, settings, Cli(config, CliRunner(env={"COLUMNS": "200"})), clock, drop)
    fill(world)
    yield Api(world, serve(settings, store=store, clock=clock))
    store.close()


def session_csrf(client: httpx.Client) -> str:
    """The CSRF token of a logged-in session, as its pages carry it (read here from the
    signed session cookie, so these tests do not depend on any page's markup)."""
    signer = TimestampSigner(SECRET, salt="monitor.web.session")
    token = json.loads(signer.unsign(client.cookies[COOKIE]))["csrf"]
    assert isinstance(token, str)
    return token


__all__ = ["AUTH", "FORMULA", "PAGE", "PASSWORD", "PNG", "TEXT", "Api", "session_csrf"]
