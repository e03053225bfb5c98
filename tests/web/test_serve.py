"""``monitor serve`` and ``monitor run`` as real processes serving the web UI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.web.passwords import hash_token
from tests.daemon.conftest import MONITOR, DaemonProcess, local_target, write
from tests.helpers import put
from tests.web.conftest import HTML, TOKEN, login

BEARER = {"Authorization": f"Bearer {TOKEN}"}
URL = re.compile(r"Serving the web UI at (http://127\.0\.0\.1:\d+/)")


def web_table(password_hash: str | None, **extra: str) -> str:
    lines = ["[web]", "port = 0"]
    if password_hash:
        lines.append(f'users = [{{ name = "ana", password_hash = "{password_hash}" }}]')
    lines.append(f'api_tokens = [{{ name = "prom", token_hash = "{hash_token(TOKEN)}" }}]')
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(config: Path, log: Path, *args: str, **kw: Any) -> DaemonProcess:
        started.append(DaemonProcess(config, log, *args, **kw))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.db'}"


def refused(url: str) -> bool:
    try:
        httpx.get(url + "healthz", timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_serve_answers_http_and_stops_on_sigterm(
    tmp_path: Path, sqlite_url: str, password_hash: str
) -> None:
    config = write(tmp_path / "m.toml", sqlite_url, web_table(password_hash))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*MONITOR, "--config", str(config), "serve"], stderr=out)
    try:
        runner = DaemonProcess.__new__(DaemonProcess)
        runner.proc, runner.log_path = proc, log
        url = runner.wait_for(lambda: (m := URL.search(log.read_text())) and m.group(1))
        with httpx.Client(base_url=url, timeout=10) as client:
            health = client.get("/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert "scheduler" not in health.json()  # not inside the daemon
            assert client.get("/login").status_code == 200
            assert client.get("/metrics", headers=BEARER).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log.read_text()
        assert refused(url)
        assert (tmp_path / "data" / "web-secret").stat().st_mode & 0o777 == 0o600
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("body", "args", "message"),
    [
        ("", [], "no user is configured"),
        ('[web]\nauth = "none"\n', ["--bind", "0.0.0.0"], "only allowed when bind is a loopback"),
        ("[web]\nport = 99999\n", [], "port"),
    ],
)
def test_serve_refuses_to_start(
    tmp_path: Path, sqlite_url: str, body: str, args: list[str], message: str
) -> None:
    config = write(tmp_path / "m.toml", sqlite_url, body)
    done = subprocess.run(
        [*MONITOR, "--config", str(config), "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_serve_port_in_use(tmp_path: Path, sqlite_url: str, password_hash: str) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write(tmp_path / "m.toml", sqlite_url, web_table(password_hash))
        done = subprocess.run(
            [*MONITOR, "--config", str(config), "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot serve the web UI on 127.0.0.1:{port}" in done.stderr


def test_run_serves_the_web_ui_and_stops_cleanly(
    tmp_path: Path, sqlite_url: str, password_hash: str, daemons: Callable[..., DaemonProcess]
) -> None:
    drop = tmp_path / "drop"
    put(drop, "a.txt")
    body = local_target("drop", drop, every="1h") + web_table(password_hash)
    config = write(tmp_path / "m.toml", sqlite_url, body)
    daemon = daemons(config, tmp_path / "log")
    (started,) = daemon.wait_for(lambda: daemon.events("web"), what="the web UI's URL")
    url = started["url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
    daemon.wait_polls(1)
    with httpx.Client(base_url=url, timeout=10) as client:
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["scheduler"] == {"running": True}
        assert health.json()["database"]["last_poll"]
        metrics = client.get("/metrics", headers=BEARER).text
        assert 'monitor_polls_total{status="complete",target="drop"} 1.0' in metrics
    assert daemon.stop() == 0
    assert daemon.events("stopped", code=0)
    assert len(daemon.events("web")) == 1
    assert refused(url)


def test_run_without_web(
    tmp_path: Path, sqlite_url: str, daemons: Callable[..., DaemonProcess]
) -> None:
    drop = tmp_path / "drop"
    put(drop, "a.txt")
    # a [web] table without users cannot be served: --no-web runs the daemon all the same
    config = write(tmp_path / "m.toml", sqlite_url, local_target("drop", drop) + web_table(None))
    daemon = daemons(config, tmp_path / "log", "--no-web")
    daemon.wait_polls(1)
    assert daemon.stop() == 0
    assert not daemon.events("web")


def test_run_refuses_a_web_ui_without_users(tmp_path: Path, sqlite_url: str) -> None:
    drop = tmp_path / "drop"
    config = write(tmp_path / "m.toml", sqlite_url, local_target("drop", drop) + web_table(None))
    started = time.monotonic()
    done = subprocess.run(
        [*MONITOR, "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert done.returncode == 2, done.stderr
    assert "no user is configured" in done.stderr and "--no-web" in done.stderr
    assert time.monotonic() - started < 30


def test_run_applies_a_reloaded_config_to_the_web_ui(
    tmp_path: Path, sqlite_url: str, password_hash: str, daemons: Callable[..., DaemonProcess]
) -> None:
    drop, more = tmp_path / "drop", tmp_path / "more"
    put(drop, "a.txt")
    put(more, "b.txt")
    targets = local_target("drop", drop, every="1h")
    config = write(tmp_path / "m.toml", sqlite_url, targets + web_table(password_hash))
    daemon = daemons(config, tmp_path / "log")
    (started,) = daemon.wait_for(lambda: daemon.events("web"), what="the web UI's URL")
    daemon.wait_polls(1, "drop")  # the config is watched by now
    two_users = web_table(password_hash).replace(
        "users = [", f'users = [{{ name = "ben", password_hash = "{password_hash}" }}, '
    )
    write(config, sqlite_url, targets + local_target("more", more, every="1h") + two_users)
    (reload,) = daemon.wait_for(lambda: daemon.events("reload", status="applied"), what="reload")
    assert reload["added"] == "more" and reload["sections"] == "web"
    daemon.wait_polls(1, "more")
    with httpx.Client(base_url=started["url"], timeout=10) as client:
        assert login(client, "ben").status_code == 303
        page = client.get("/targets/more", headers=HTML)
        assert page.status_code == 200 and str(more) in page.text
    write(config, sqlite_url, targets + two_users.replace("port = 0", "port = 1"))
    partial = daemon.wait_for(lambda: daemon.events("reload", status="partial"), what="port")
    assert "port" in partial[0]["reason"] and "starts again" in partial[0]["reason"]
    assert daemon.stop() == 0
