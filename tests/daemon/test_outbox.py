"""An alert committed with its poll is sent exactly once, even when the daemon is killed
between the commit and the send: the next daemon sends it, once, with a stable Message-ID."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitor.notify.outbox import alert_t
from monitor.notify.render import message_id
from monitor.store import open_store
from tests.daemon.conftest import DaemonProcess, local_target, write
from tests.helpers import put
from tests.notify.smtpd import smtp_server

Start = Callable[..., DaemonProcess]


def alerts(db_url: str) -> list[dict[str, Any]]:
    store = open_store(db_url)
    try:
        with store.read() as conn:
            rows = conn.execute(select(alert_t).order_by(alert_t.c.id))
            return [dict(r._mapping) for r in rows]
    finally:
        store.close()


def test_kill_9_between_commit_and_send_sends_once_after_restart(
    tmp_path: Path, sqlite_url: str, daemons: Start
) -> None:
    missing = tmp_path / "missing"  # polling it fails: with down_after = 1, a "down" alert
    down = local_target("gone", missing, "1h", extra="down_after = 1")
    with smtp_server(tmp_path) as smtp:
        notify = (
            '[notify]\nfrom = "monitor@lab.example.org"\nto = ["analyst@example.org"]\n'
            f'digest = false\n[notify.smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
            'security = "none"\ntimeout = "5s"\n[daemon]\nsend_every = "1h"\n'
        )
        config = write(tmp_path / "m.toml", sqlite_url, down + notify)
        first = daemons(config, tmp_path / "log1")
        line = first.wait_for(
            lambda: [p for p in first.polls("gone") if p["outbox"] >= 1], what="committed alert"
        )[0]
        first.kill()  # kill -9 right after the commit, before the delivery that follows a poll
        assert first.proc.returncode == -9 and line["status"] == "failed"
        assert smtp.received == []
        (pending,) = alerts(sqlite_url)
        assert pending["kind"] == "down" and pending["sent_at"] is None
        # Restart, with a busy target whose polls make the sender run again and again.
        drop = put(tmp_path / "drop", "a.txt").parent
        write(config, sqlite_url, down + local_target("drop", drop, "0.3s") + notify)
        second = daemons(config, tmp_path / "log2", "--log-level", "debug")
        second.wait_for(lambda: smtp.received, what="the alert sent")
        second.wait_for(lambda: second.events("send", sent=1), what="the send line")
        second.wait_for(lambda: len(second.events("send", sent=0)) >= 2, what="more deliveries")
        assert second.stop() == 0
    (sent,) = alerts(sqlite_url)
    assert len(smtp.received) == 1 and sent["sent_at"] is not None and sent["attempts"] == 1
    mail = smtp.received[0].message
    assert mail["Message-ID"] == message_id(sent["id"], sent["key"], "monitor@lab.example.org")
    assert "gone" in str(mail["Subject"]) and smtp.received[0].rcpt_tos == ["analyst@example.org"]
    assert not second.polls("gone")  # the failed target waits out its backoff: no new alert
