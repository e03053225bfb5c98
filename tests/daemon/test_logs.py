"""JSON log lines parse, carry the poll's fields, and never hold a secret."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path

from monitor.config import settings_from_dict
from monitor.daemon.logs import DaemonLogging, collect_secrets, log_event
from tests.daemon.conftest import DaemonProcess, http_target, write
from tests.servers import AutoindexServer, free_port

Start = Callable[..., DaemonProcess]

SECRETS = {
    "MON_TOKEN": "tok-Zq81-secret",
    "MON_PASS": "pw-Vb27-secret",
    "MON_HEADER": "hdr-Kx55-secret",
    "MON_SMTP": "smtp-Ud39-secret",
    "MON_DB_PASS": "db-Pw93-secret",
    "MON_HOOK": "hook-Tq44-secret",
}


def test_json_lines_hold_no_secret(tmp_path: Path, pg_url: str, daemons: Start) -> None:
    db_url = pg_url.replace("postgres@", "postgres:${MON_DB_PASS}@")  # the test server trusts
    dead = free_port()
    with AutoindexServer({"a.txt": 1}) as bearer, AutoindexServer({"b.txt": 2}) as basic:
        bearer.bearer = SECRETS["MON_TOKEN"]
        pair = f"analyst:{SECRETS['MON_PASS']}".encode()
        basic.basic = "Basic " + base64.b64encode(pair).decode()
        body = (
            http_target(
                "tokened",
                bearer.url,
                extra='auth = { kind = "bearer", token = "${MON_TOKEN}" }\n'
                'headers = { "X-Api-Key" = "${MON_HEADER}" }',
            )
            + http_target(
                "basic",
                basic.url,
                extra='auth = { kind = "basic", username = "analyst", password = "${MON_PASS}" }',
            )
            + http_target(  # refused: its token is wrong, so its polls fail and say why
                "refused", basic.url, extra='auth = { kind = "bearer", token = "${MON_TOKEN}" }'
            )
            + '[notify]\nto = ["analyst@example.org"]\napprise = ["json://127.0.0.1:'
            + f'{dead}/${{MON_HOOK}}"]\n'
            + f'[notify.smtp]\nhost = "127.0.0.1"\nport = {dead}\nsecurity = "none"\n'
            + 'username = "monitor"\npassword = "${MON_SMTP}"\n'
        )
        config = write(tmp_path / "m.toml", db_url, body)
        daemon = daemons(config, tmp_path / "log", "--log-level", "debug", env=SECRETS)
        daemon.wait_polls(2, "tokened")
        daemon.wait_polls(2, "basic")
        daemon.wait_polls(2, "refused")
        assert daemon.stop() == 0
    text = daemon.text()
    for name, secret in {**SECRETS, "basic": base64.b64encode(pair).decode()}.items():
        assert secret not in text, name
    lines = daemon.lines()  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    polls = {p["target"]: p for p in daemon.polls()}
    assert polls["tokened"]["status"] == "complete" and polls["tokened"]["files"] == 1
    assert polls["basic"]["status"] == "complete" and polls["basic"]["files"] == 1
    assert polls["refused"]["status"] == "failed" and "401" in polls["refused"]["error"]
    assert "postgres:***@" in daemon.events("started")[0]["database"]
    assert any(line["level"] == "debug" for line in lines)


def test_secrets_are_masked_in_messages_and_tracebacks(tmp_path: Path) -> None:
    raw = {
        "database": "postgresql://monitor:db-Pw93-secret@db.example.org/monitor",
        "notify": {"smtp": {"host": "mail", "username": "m", "password": "smtp-Ud39-secret"}},
        "target": [
            {
                "name": "web",
                "kind": "http",
                "url": "https://files.example.org/drop/",
                "auth": {"kind": "basic", "username": "analyst", "password": "pw-Vb27-secret"},
                "headers": {"X-Api-Key": 'hdr-"Kx55"-secret'},
            }
        ],
    }
    settings = settings_from_dict(raw, path=tmp_path / "m.toml", environ={})
    secrets = collect_secrets(settings)
    assert {"db-Pw93-secret", "smtp-Ud39-secret", "pw-Vb27-secret", 'hdr-"Kx55"-secret'} <= secrets
    for fmt in ("text", "json"):
        stream = io.StringIO()
        logs = DaemonLogging(stream)
        logs.configure(fmt, "info", secrets)
        log = logging.getLogger("monitor.daemon.test")
        try:
            log_event(log, logging.WARNING, "poll", target="web", error="sent pw-Vb27-secret")
            try:
                raise ValueError('header hdr-"Kx55"-secret refused')
            except ValueError:
                log.exception("smtp login smtp-Ud39-secret failed")
            auth = base64.b64encode(b"analyst:pw-Vb27-secret").decode()
            log.info("Authorization: Basic %s", auth)
        finally:
            logs.close()
        out = stream.getvalue()
        assert not any(s in out for s in ("Vb27", "Kx55", "Ud39")) and out.count("***") >= 4, out
        if fmt == "json":
            assert [json.loads(line)["level"] for line in out.splitlines() if line[0] == "{"] == [
                "warning",
                "error",
                "info",
            ]
