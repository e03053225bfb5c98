"""The outbox sender on SQLite and PostgreSQL, to a real SMTP server and a real webhook.

Time is the ``now`` passed in; backoff jitter is fixed; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Notify, Settings
from monitor.notify.apprise import APPRISE_REQUESTS
from monitor.notify.base import Channel, Message, configured_channels
from monitor.notify.email import SMTP_ROUND_TRIPS, EmailChannel
from monitor.notify.outbox import (
    BACKOFF_MAX,
    CLAIM_FOR,
    GIVE_UP_AFTER,
    RECORD_AT_MOST,
    RECORD_WAITS,
    DeliveryReport,
    _claim,
    backoff,
    claim_for,
    deliver_due,
    get_alert,
    list_alerts,
)
from monitor.store import Store, open_store
from monitor.store.models import Alert
from tests.notify import payloads as P
from tests.notify.conftest import NOW, add_alert, make_settings, smtp_settings
from tests.notify.smtpd import SmtpServer, smtp_server
from tests.notify.webhook import webhook
from tests.servers import free_port

pytestmark = pytest.mark.filterwarnings("ignore:.imghdr. is deprecated:DeprecationWarning")


def deliver(
    store: Store, settings: Settings, at: timedelta = timedelta(0), **kw: Any
) -> DeliveryReport:
    return asyncio.run(deliver_due(store, settings, now=NOW + at, jitter=lambda: 0.0, **kw))


def row(store: Store, alert_id: int) -> Alert:
    with store.read() as conn:
        found = get_alert(conn, alert_id)
    assert found is not None
    return found


@pytest.fixture
def server(tmp_path: Path) -> Any:
    with smtp_server(tmp_path) as running:
        yield running


def settings_for(tmp_path: Path, server: SmtpServer | int, **extra: Any) -> Settings:
    port = server if isinstance(server, int) else server.port
    target = {"name": "studio", "kind": "local", "path": str(tmp_path)}
    return make_settings(
        tmp_path,
        notify={**smtp_settings(port), **extra.pop("notify", {})},
        targets=[{**target, "notify_to": ["studio@example.org"]}],
        **extra,
    )


def test_sends_every_due_alert_once_oldest_first(
    tmp_path: Path, store: Store, server: SmtpServer
) -> None:
    s = settings_for(tmp_path, server)
    first = add_alert(store, "down", P.down(target="studio"), target="studio")
    second = add_alert(store, "digest", P.digest())
    third = add_alert(store, "down", P.down(target="elsewhere"), target="elsewhere")
    report = deliver(store, s)
    assert report.channels == ["email"] and report.sent == [first, second, third]
    assert not report.failed
    assert [r.rcpt_tos for r in server.received] == [
        ["studio@example.org"],  # the target's notify_to
        ["analyst@example.org"],  # the digest: [notify] to
        ["analyst@example.org"],  # a target without notify_to
    ]
    ids = [r.message["Message-ID"] for r in server.received]
    assert len(set(ids)) == 3 and ids[0].startswith(f"<monitor.alert.{first}.")
    done = row(store, first)
    assert (done.sent_at, done.attempts, done.delivered, done.last_error) == (
        NOW,
        1,
        '["email"]',
        None,
    )
    assert done.next_attempt_at is None and done.gave_up_at is None
    again = deliver(store, s, timedelta(hours=5))
    assert again.sent == [] and len(server.received) == 3


def test_451_then_accepted_with_backoff_and_the_same_message_id(
    tmp_path: Path, store: Store, server: SmtpServer
) -> None:
    s = settings_for(tmp_path, server)
    alert_id = add_alert(store, "down", P.down(target="studio"), target="studio")
    server.recorder.replies = ["451 4.3.0 Try again later"]
    report = deliver(store, s)
    assert report.retrying == [alert_id] and not report.sent
    failed = row(store, alert_id)
    assert failed.attempts == 1 and failed.sent_at is None
    assert (
        failed.last_error is not None and "answered 451 4.3.0 Try again later" in failed.last_error
    )
    assert failed.next_attempt_at == NOW + timedelta(seconds=30)  # 1 min x jitter 0.5
    assert deliver(store, s, timedelta(seconds=29)).sent == []  # not due yet
    assert len(server.recorder.tried) == 1
    assert deliver(store, s, timedelta(seconds=30)).sent == [alert_id]
    first_try, second_try = server.recorder.tried
    assert (
        first_try["Message-ID"]
        == second_try["Message-ID"]
        == (server.received[0].message["Message-ID"])
    )
    sent = row(store, alert_id)
    assert (sent.attempts, sent.last_error, sent.sent_at) == (2, None, NOW + timedelta(seconds=30))


def test_a_refused_message_is_retried_with_growing_waits_then_given_up(
    tmp_path: Path, store: Store, server: SmtpServer
) -> None:
    s = settings_for(tmp_path, server, daemon={"send_retries": 2})
    alert_id = add_alert(store, "down", P.down(target="studio"), target="studio")
    server.recorder.replies = ["554 5.6.0 Message rejected"] * 3  # this message, every try
    at, waits = timedelta(0), []
    for _ in range(2):
        report = deliver(store, s, at)
        assert report.retrying == [alert_id]
        assert "answered 554 5.6.0 Message rejected" in report.errors[alert_id]
        next_at = row(store, alert_id).next_attempt_at
        assert next_at is not None
        waits.append(next_at - (NOW + at))
        at = next_at - NOW
    assert waits == [timedelta(seconds=30), timedelta(seconds=60)]
    report = deliver(store, s, at)
    assert report.gave_up == [alert_id] and not report.retrying
    given_up = row(store, alert_id)
    assert (given_up.attempts, given_up.gave_up_at, given_up.next_attempt_at) == (3, NOW + at, None)
    assert given_up.sent_at is None and "554 5.6.0" in (given_up.last_error or "")
    assert deliver(store, s, timedelta(days=30)).failed == []  # kept, never tried again
    assert not server.received


def test_a_mail_outage_of_hours_gives_nothing_up(tmp_path: Path, store: Store) -> None:
    """Channel-level failures (connection, TLS, login) never count as tries: after six hours
    of a dead mail server every alert is still waiting, and goes out once the server is back."""
    dead = settings_for(tmp_path, free_port(), daemon={"send_retries": 2})
    ids = [add_alert(store, "stale", P.stale(), key=f"stale:{i}") for i in range(5)]
    at, connections = timedelta(0), 0
    while at < timedelta(hours=6):  # the daemon, every 5 minutes
        report = deliver(store, dead, at)
        connections += len(report.retrying)
        assert not report.gave_up and not report.sent
        at += timedelta(minutes=5)
    rows = [row(store, i) for i in ids]
    assert all(r.gave_up_at is None and r.attempts == 0 for r in rows)
    assert all("refused the connection" in (r.last_error or "") for r in rows)
    assert connections < 72  # at most one per call; waits grow with the outage
    longest = max((r.next_attempt_at or NOW) - (NOW + at) for r in rows)
    assert longest > timedelta(minutes=20)
    with smtp_server(tmp_path) as server:
        back = settings_for(tmp_path, server, daemon={"send_retries": 2})
        assert sorted(deliver(store, back, timedelta(hours=8)).sent) == ids
    assert len(server.received) == 5


def test_an_alert_undeliverable_for_a_week_is_given_up(tmp_path: Path, store: Store) -> None:
    dead = settings_for(tmp_path, free_port())
    old = add_alert(store, "stale", P.stale(), key="old", created_at=NOW - GIVE_UP_AFTER)
    recent = add_alert(store, "down", P.down(), key="recent")
    report = deliver(store, dead)
    assert report.gave_up == [old] and report.waiting == [recent]
    given_up = row(store, old)
    assert given_up.gave_up_at == NOW and given_up.attempts == 0
    assert "not delivered within 7 days" in (given_up.last_error or "")
    assert "refused the connection" in (given_up.last_error or "")


def test_backoff_doubles_and_is_capped() -> None:
    assert backoff(1, jitter=1.0) == timedelta(minutes=1)
    assert backoff(3, jitter=1.0) == timedelta(minutes=4)
    assert backoff(3, jitter=0.0) == timedelta(minutes=2)
    assert backoff(7, jitter=1.0) == BACKOFF_MAX == timedelta(hours=1)
    assert backoff(500, jitter=0.5) == BACKOFF_MAX * 0.75


def test_without_any_channel_nothing_is_sent_nor_marked(tmp_path: Path, store: Store) -> None:
    s = make_settings(tmp_path, notify={"to": ["analyst@example.org"]})
    alert_id = add_alert(store, "digest", P.digest())
    report = deliver(store, s)
    assert (report.channels, report.sent, report.failed) == ([], [], [])
    waiting = row(store, alert_id)
    assert (waiting.attempts, waiting.sent_at, waiting.next_attempt_at) == (0, None, None)


def test_a_retry_skips_the_channels_that_delivered(
    tmp_path: Path, store: Store, server: SmtpServer
) -> None:
    with webhook() as hook:
        hook.statuses = [500]
        url = f"json://127.0.0.1:{hook.port}/"
        s = settings_for(tmp_path, server, notify={"apprise": [url]})
        alert_id = add_alert(store, "down", P.down(target="studio"), target="studio")
        report = deliver(store, s)
        assert report.retrying == [alert_id] and report.errors[alert_id].startswith("apprise:")
        half = row(store, alert_id)
        assert json.loads(half.delivered or "") == ["email"] and half.sent_at is None
        assert len(server.received) == 1 and len(hook.posts) == 1
        report = deliver(store, s, timedelta(minutes=1))
        assert report.sent == [alert_id]
        assert len(server.received) == 1 and len(hook.posts) == 2  # email not sent again
    done = row(store, alert_id)
    assert sorted(json.loads(done.delivered or "")) == sorted(["email", report.channels[1]])


class CrashAfterSend(Channel):
    """Sends for real, then dies before the outbox can mark it (like kill -9 at that moment)."""

    kind = "email"

    def __init__(self, inner: Channel) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @classmethod
    def from_settings(cls, notify: Notify) -> list[Channel]:
        return []

    async def send(self, message: Message) -> None:
        await self.inner.send(message)
        raise SystemExit("killed")


def test_a_crash_between_send_and_mark_resends_once_after_restart(
    tmp_path: Path, db_url: str, store: Store, server: SmtpServer
) -> None:
    s = settings_for(tmp_path, server)
    alert_id = add_alert(store, "down", P.down(target="studio"), target="studio")
    email: Sequence[Channel] = EmailChannel.from_settings(s.notify)
    with pytest.raises(SystemExit):
        deliver(store, s, channels=[CrashAfterSend(email[0])])
    store.close()
    restarted = open_store(db_url)
    hold = claim_for(s, email)
    try:
        assert deliver(restarted, s, timedelta(minutes=1)).sent == []  # the dead try's claim
        assert deliver(restarted, s, hold - timedelta(seconds=1)).sent == []
        assert deliver(restarted, s, hold).sent == [alert_id]
        assert deliver(restarted, s, hold * 3).sent == []
        assert row(restarted, alert_id).attempts == 2
    finally:
        restarted.close()
    first, second = server.received
    assert first.message["Message-ID"] == second.message["Message-ID"]


def test_an_alert_committed_before_a_crash_is_sent_after_restart(
    tmp_path: Path, db_url: str, store: Store, server: SmtpServer
) -> None:
    s = settings_for(tmp_path, server)
    alert_id = add_alert(store, "suspect", P.suspect(target="studio"), target="studio")
    store.close()  # the process died after the poll's commit, before any send
    restarted = open_store(db_url)
    try:
        assert deliver(restarted, s).sent == [alert_id]
        assert deliver(restarted, s, timedelta(hours=1)).sent == []
    finally:
        restarted.close()
    (got,) = server.received
    assert got.message["Subject"].endswith("suspect snapshot held (912 of 1,000 files vanished)")


def test_one_claim_at_a_time(tmp_path: Path, store: Store) -> None:
    alert_id = add_alert(store, "down", P.down())
    assert _claim(store, alert_id, NOW, CLAIM_FOR) is not None
    assert _claim(store, alert_id, NOW, CLAIM_FOR) is None  # another worker, same moment
    assert _claim(store, alert_id, NOW + CLAIM_FOR, CLAIM_FOR) is not None  # the first one died


class Clock:
    """A clock the test moves (a slow send moves it too)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("db_url", ["postgresql", "sqlite"], indirect=True)
def test_a_claim_taken_late_in_a_long_call_holds(tmp_path: Path, store: Store) -> None:
    """The clock is read at each claim: after minutes of slow sends, the alert claimed last
    is not free for a second sender (monitor digest --send, a restarted daemon) meanwhile."""
    s = make_settings(tmp_path, notify={"to": ["analyst@example.org"]})
    ids = [add_alert(store, "stale", P.stale(), key=f"stale:{i}") for i in range(3)]
    clock, sent, other = Clock(NOW), [], []

    class Slow(Channel):
        kind = "slow"
        name = "email"  # type: ignore[assignment]

        @classmethod
        def from_settings(cls, notify: Notify) -> list[Channel]:
            return []

        async def send(self, message: Message) -> None:
            sent.append(message.message_id)
            if len(sent) == 3:  # while the third alert is being sent, someone else looks
                second = await deliver_due(store, s, clock=clock, channels=[Slow()], only=ids)
                other.append(second)
            clock.now += timedelta(minutes=3)  # each send takes 3 minutes

    report = asyncio.run(deliver_due(store, s, clock=clock, channels=[Slow()]))
    assert report.sent == ids and len(sent) == 3 and other[0].sent == []
    assert row(store, ids[2]).sent_at == NOW + timedelta(minutes=9)


class Held:
    """The database's write lock held by a long poll transaction in another thread, until
    released (by the outbox's pause between tries to record, in these tests)."""

    def __init__(self, store: Store) -> None:
        self.store, self.release = store, threading.Event()
        self.pauses: list[float] = []
        held = threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(held,))
        self.thread.start()
        assert held.wait(10)

    def _hold(self, held: threading.Event) -> None:
        with self.store.write():
            held.set()
            self.release.wait(30)

    def done(self) -> None:
        self.release.set()
        self.thread.join(10)


class LocksAfterSend(Channel):
    """Sends for real, then a poll takes the database's write lock before the outbox marks."""

    kind = "email"

    def __init__(self, inner: Channel, store: Store) -> None:
        self.inner, self.store = inner, store
        self.held: list[Held] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @classmethod
    def from_settings(cls, notify: Notify) -> list[Channel]:
        return []

    async def send(self, message: Message) -> None:
        await self.inner.send(message)
        self.held.append(Held(self.store))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_mark_that_meets_a_busy_database_waits_and_is_made(
    tmp_path: Path, db_url: str, store: Store, server: SmtpServer
) -> None:
    s = settings_for(tmp_path, server)
    alert_id = add_alert(store, "down", P.down(target="studio"), target="studio")
    busy = open_store(db_url, busy_timeout=0.1)  # a write waits 0.1 s for the lock, not 30
    channel = LocksAfterSend(EmailChannel.from_settings(s.notify)[0], busy)

    async def pause(seconds: float) -> None:  # the poll commits while the outbox waits
        channel.held[0].pauses.append(seconds)
        channel.held[0].done()

    try:
        report = asyncio.run(
            deliver_due(busy, s, now=NOW, channels=[channel], jitter=lambda: 0.0, pause=pause)
        )
        assert report.sent == [alert_id] and not report.unrecorded
        assert channel.held[0].pauses == [RECORD_WAITS[0]]
        assert row(busy, alert_id).sent_at == NOW
        assert deliver(busy, s, timedelta(hours=1), channels=[channel]).sent == []
    finally:
        for held in channel.held:
            held.done()
        busy.close()
    assert len(server.received) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_mark_the_database_keeps_refusing_is_logged_not_raised(
    tmp_path: Path, db_url: str, store: Store, server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    s = settings_for(tmp_path, server)
    alert_id = add_alert(store, "down", P.down(target="studio"), target="studio")
    busy = open_store(db_url, busy_timeout=0.1)
    channel = LocksAfterSend(EmailChannel.from_settings(s.notify)[0], busy)
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    try:
        report = asyncio.run(deliver_due(busy, s, now=NOW, channels=[channel], pause=pause))
    finally:
        for held in channel.held:
            held.done()
    try:
        assert report.sent == [alert_id] and report.unrecorded == [alert_id]
        assert pauses == list(RECORD_WAITS)
        assert "the database refused 4 times to record this try" in caplog.text
        assert any(r.levelname == "ERROR" for r in caplog.records)
        still = row(busy, alert_id)  # the claim stays: tried again once it expires
        assert still.sent_at is None and still.next_attempt_at == NOW + claim_for(s, [channel])
    finally:
        busy.close()


def test_a_claim_outlasts_the_channels_timeouts(tmp_path: Path, store: Store) -> None:
    s = settings_for(tmp_path, free_port(), notify={"smtp": {"host": "mail", "timeout": "2m"}})
    channels = configured_channels(s.notify)
    worst = timedelta(minutes=2) * (SMTP_ROUND_TRIPS + 1)  # one recipient at most
    assert claim_for(s, channels) >= 2 * worst > CLAIM_FOR
    alert_id = add_alert(store, "down", P.down())
    assert _claim(store, alert_id, NOW, claim_for(s, channels)) is not None
    assert _claim(store, alert_id, NOW + worst, CLAIM_FOR) is None  # still being sent
    hook = "json://127.0.0.1:1/?cto=30&rto=60"
    apprise = make_settings(tmp_path, notify={"apprise": [hook]})
    sends = timedelta(seconds=90 * APPRISE_REQUESTS)  # cto + rto, per request
    assert claim_for(apprise, configured_channels(apprise.notify)) == 2 * sends + 2 * RECORD_AT_MOST


def test_an_unrenderable_alert_fails_alone(
    tmp_path: Path, store: Store, server: SmtpServer
) -> None:
    s = settings_for(tmp_path, server)
    broken = add_alert(store, "down", {"target": "studio"}, key="broken")
    fine = add_alert(store, "stale", P.stale())
    report = deliver(store, s)
    assert report.retrying == [broken] and report.sent == [fine]
    assert "cannot be rendered" in (row(store, broken).last_error or "")


def test_only_the_given_alerts_and_the_listing(
    tmp_path: Path, store: Store, server: SmtpServer
) -> None:
    s = settings_for(tmp_path, server)
    first = add_alert(store, "down", P.down())
    second = add_alert(store, "stale", P.stale())
    assert deliver(store, s, only=[second]).sent == [second]
    with store.read() as conn:
        assert [a.id for a in list_alerts(conn)] == [second, first]
        assert [a.id for a in list_alerts(conn, pending=True)] == [first]


def test_tries_that_all_died_are_given_up(tmp_path: Path, store: Store, server: SmtpServer) -> None:
    s = settings_for(tmp_path, server, daemon={"send_retries": 1})
    alert_id = add_alert(store, "down", P.down())
    assert _claim(store, alert_id, NOW, CLAIM_FOR) is not None  # a try killed mid-send
    assert _claim(store, alert_id, NOW + CLAIM_FOR, CLAIM_FOR) is not None  # and another
    report = deliver(store, s, CLAIM_FOR * 2)
    assert report.gave_up == [alert_id] and not server.received
    assert "the sender stopped during each of 2 tries" in (row(store, alert_id).last_error or "")


def test_a_dead_channel_is_tried_once_per_call(tmp_path: Path, store: Store) -> None:
    with webhook() as hook:
        s = settings_for(
            tmp_path, free_port(), notify={"apprise": [f"json://127.0.0.1:{hook.port}/"]}
        )
        first = add_alert(store, "down", P.down())
        second = add_alert(store, "stale", P.stale())
        report = deliver(store, s)
        assert list(report.down) == ["email"] and "refused the connection" in report.down["email"]
        assert report.retrying == [first, second] and len(hook.posts) == 2  # apprise went out
        assert report.errors[second].startswith("email: not tried, the mail server 127.0.0.1:")
    only_email = settings_for(tmp_path, free_port())
    third = add_alert(store, "recovered", P.recovered())
    report = deliver(store, only_email, timedelta(hours=2))
    assert report.retrying == [first] and report.waiting == [second, third]
    # only the dead channel failed: no try counted for any of them
    assert [row(store, i).attempts for i in (first, second, third)] == [0, 0, 0]
