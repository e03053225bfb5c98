"""The web app on a real uvicorn server on a free loopback port, in a thread of the test.

:func:`web_settings` builds settings for a test's database; the ``serve`` fixture serves an
app and stops it at the end of the test; ``login`` logs a client in through the real form.
The server runs in this process, so a :class:`~tests.helpers.Clock` handed to the app and
``time_machine`` control its time.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.config import Settings, settings_from_dict
from monitor.store import Store
from monitor.web import create_app
from monitor.web.deps import DaemonStatus
from monitor.web.passwords import hash_password, hash_token
from monitor.web.server import WebServer

PASSWORD = "correct horse battery staple"
TOKEN = "mon_test-token-0123456789abcdefghijklmnopqrstuvwxyz"
SECRET = "k" * 40
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD, n=2**14)


def web_settings(tmp_path: Path, db_url: str, **web: Any) -> Settings:
    """Settings on ``db_url`` whose ``[web]`` table is ``web`` (given: a loopback port 0)."""
    raw = {
        "database": db_url,
        "data_dir": str(tmp_path / "data"),
        "web": {"port": 0, **web},
    }
    return settings_from_dict(raw, path=tmp_path / "monitor.toml", environ={})


def user_settings(tmp_path: Path, db_url: str, password_hash: str, **web: Any) -> Settings:
    """One user "ana" (password :data:`PASSWORD`) and one API token "prometheus"."""
    return web_settings(
        tmp_path,
        db_url,
        users=[{"name": "ana", "password_hash": password_hash}],
        api_tokens=[{"name": "prometheus", "token_hash": hash_token(TOKEN)}],
        secret_key=SECRET,
        **web,
    )


@pytest.fixture
def settings(tmp_path: Path, password_hash: str) -> Settings:
    """:func:`user_settings` on SQLite: for what does not depend on the database."""
    return user_settings(tmp_path, f"sqlite:///{tmp_path / 'monitor.db'}", password_hash)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class LiveApp:
    """An app served by uvicorn on 127.0.0.1, a free port, in a thread."""

    def __init__(self, server: WebServer) -> None:
        self.server = server
        self.url = server.url
        self.thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
        self.thread.start()
        wait_until(lambda: server.server.started, "the web server to start")

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kw)

    def stop(self) -> None:
        self.server.request_stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the web server did not stop"


@pytest.fixture
def serve() -> Iterator[Callable[..., LiveApp]]:
    started: list[LiveApp] = []

    def start(
        settings: Settings,
        *,
        store: Store | None = None,
        clock: Any = None,
        daemon: DaemonStatus | None = None,
    ) -> LiveApp:
        app = create_app(settings, store=store, clock=clock, daemon=daemon)
        proxies = settings.web.trusted_proxies
        live = LiveApp(WebServer(app, bind="127.0.0.1", port=0, trusted_proxies=proxies))
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


def csrf_of(page: httpx.Response) -> str:
    match = CSRF_FIELD.search(page.text)
    assert match, f"no csrf_token field in the page:\n{page.text}"
    return match.group(1)


HTML = {"Accept": "text/html"}


def login(client: httpx.Client, user: str = "ana", password: str = PASSWORD) -> httpx.Response:
    """Open the login page (for its CSRF token) and post the form."""
    token = csrf_of(client.get("/login", headers=HTML))
    form = {"username": user, "password": password, "csrf_token": token, "next": "/"}
    return client.post("/login", data=form, headers=HTML)
