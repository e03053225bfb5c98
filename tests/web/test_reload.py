"""A reloaded config reaches the running web UI (apply_settings): users, tokens and targets
at once; bind, port, trusted proxies and the session key at the next start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.web.app import apply_settings
from tests.web.conftest import HTML, SECRET, LiveApp, login, web_settings

Serve = Callable[..., LiveApp]


def _settings(tmp_path: Path, password_hash: str, users: list[str], **web: Any) -> Settings:
    return web_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'monitor.db'}",
        users=[{"name": name, "password_hash": password_hash} for name in users],
        **{"secret_key": SECRET, **web},
    )


def test_new_users_log_in_and_removed_ones_are_out(
    tmp_path: Path, password_hash: str, serve: Serve
) -> None:
    live = serve(_settings(tmp_path, password_hash, ["ana"]))
    app = live.server.app
    with live.client() as ana, live.client() as ben:
        assert login(ana).status_code == 303
        assert login(ben, "ben").status_code == 401
        assert apply_settings(app, _settings(tmp_path, password_hash, ["ana", "ben"])) == []
        assert login(ben, "ben").status_code == 303
        assert apply_settings(app, _settings(tmp_path, password_hash, ["ben"])) == []
        assert ana.get("/", headers=HTML).headers.get("location") == "/login"  # ana is out
        assert ben.get("/", headers=HTML).status_code == 200


def test_socket_proxies_and_key_wait_for_a_restart(
    tmp_path: Path, password_hash: str, serve: Serve
) -> None:
    live = serve(_settings(tmp_path, password_hash, ["ana"]))
    app = live.server.app
    changed = _settings(
        tmp_path, password_hash, ["ana"], port=8123, secret_key="s" * 40, session_max_age="1h"
    )
    assert apply_settings(app, changed) == ["port", "secret_key", "session_max_age"]
    running = app.state.web.settings.web
    assert running.port == 0 and running.secret_key.get_secret_value() == SECRET
    assert running.session_max_age.total_seconds() == 12 * 3600
    with live.client() as client:
        done = login(client)  # the session key and length did not change under it
        assert done.status_code == 303 and f"Max-Age={12 * 3600}" in done.headers["set-cookie"]


def test_no_login_waits_for_a_restart(tmp_path: Path, password_hash: str, serve: Serve) -> None:
    """``auth = "none"`` (with its Host check) and a loopback bind are a valid config, but the
    running socket (here on every address) and middleware stay until a restart: the UI keeps
    asking for a login; a config left without users is refused and changes nothing."""
    live = serve(_settings(tmp_path, password_hash, ["ana"], bind="0.0.0.0"))
    app = live.server.app
    open_door = _settings(tmp_path, password_hash, ["ana"], auth="none", bind="127.0.0.1")
    assert apply_settings(app, open_door) == ["bind", "auth"]
    running = app.state.web.settings.web
    assert (running.auth, running.bind) == ("password", "0.0.0.0")
    with live.client() as client:
        assert client.get("/", headers=HTML).headers.get("location") == "/login"
        assert login(client).status_code == 303
    before = app.state.web.settings
    with pytest.raises(ConfigError, match="no user"):
        apply_settings(app, _settings(tmp_path, password_hash, [], bind="0.0.0.0"))
    assert app.state.web.settings is before
