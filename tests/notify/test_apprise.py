"""The Apprise channel posting to a real webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from pathlib import Path

import pytest

from monitor.errors import NotifyError
from monitor.notify.apprise import AppriseChannel, scrub
from monitor.notify.base import configured_channels
from monitor.notify.render import render_alert
from tests.notify import payloads as P
from tests.notify.conftest import make_settings
from tests.notify.webhook import webhook
from tests.servers import free_port

pytestmark = pytest.mark.filterwarnings("ignore:.imghdr. is deprecated:DeprecationWarning")


def test_posts_subject_and_text_to_a_json_webhook(tmp_path: Path) -> None:
    with webhook() as hook:
        s = make_settings(tmp_path, notify={"apprise": [f"json://127.0.0.1:{hook.port}/alerts"]})
        (channel,) = configured_channels(s.notify)
        assert isinstance(channel, AppriseChannel)
        assert channel.name.startswith("apprise:") and str(hook.port) not in channel.name
        payload = P.batch(items=[P.item("<b>x</b>\nnext.pdf")], more=0)
        message = render_alert("batch_settled", payload, s, alert_id=1, key="k")
        asyncio.run(channel.send(message))
    ((path, headers, body),) = hook.posts
    assert path == "/alerts" and headers["Content-Type"].startswith("application/json")
    sent = json.loads(body)
    assert sent["title"] == "[monitor] studio-drop: new batch `ep02/sc901` - 143 files, 2.1 GB"
    assert sent["message"].rstrip() == message.chat_text.rstrip()
    assert "`<\u200bb>x<\u200b/b>\\nnext.pdf`" in sent["message"]


def test_hostile_names_reach_a_chat_service_inert(tmp_path: Path) -> None:
    """What Apprise hands on (here as JSON): no mention, link or markup from a file name."""
    names = ["@everyone", "[x](https://evil.example)", "a`b`c", "<@123> <!here>"]
    with webhook() as hook:
        s = make_settings(tmp_path, notify={"apprise": [f"json://127.0.0.1:{hook.port}/"]})
        (channel,) = configured_channels(s.notify)
        payload = P.batch(folder=names[0], items=[P.item(n) for n in names], more=0)
        asyncio.run(channel.send(render_alert("batch_settled", payload, s, alert_id=1, key="k")))
    ((_path, _headers, body),) = hook.posts
    sent = json.loads(body)
    for text in (sent["title"], sent["message"]):
        outside = re.sub(r"`[^`\n]*`", "", text).replace("[monitor] ", "")
        assert not any(mark in outside for mark in ("@", "<", "[", "]("))
        assert not re.search(r"@[a-z0-9]+", text, re.IGNORECASE)
    assert "  `@\u200beveryone`  (1.0 kB, added)" in sent["message"].splitlines()
    assert "  `a\\x60b\\x60c`  (1.0 kB, added)" in sent["message"].splitlines()


def test_each_url_is_a_channel_of_its_own(tmp_path: Path) -> None:
    urls = ["json://127.0.0.1:1/a", "form://127.0.0.1:1/b"]
    s = make_settings(tmp_path, notify={"apprise": urls})
    names = [c.name for c in configured_channels(s.notify)]
    assert len(set(names)) == 2 and all(n.startswith("apprise:") for n in names)


class Lines(logging.Handler):
    """A handler on the root logger, like the daemon's log: every line it would write."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def secrets_of(port: int) -> list[str]:
    return ["usr", "t0kenpw", "127.0.0.1", str(port), "h00kpath", "qt0ken"]


@pytest.mark.parametrize("status", [500, None], ids=["http-500", "nothing-listening"])
def test_a_failing_url_leaks_no_part_of_it(
    tmp_path: Path, status: int | None, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the error (last_error, monitor alerts) nor any line of the daemon's log (its
    handlers are on the root logger), at debug level, holds any part of the URL after its
    scheme: for many services that part is the token."""
    caplog.set_level(logging.DEBUG)  # the root logger at debug, as with --log-level debug
    daemon_log = Lines()
    logging.getLogger().addHandler(daemon_log)
    message = render_alert("down", P.down(), make_settings(tmp_path), alert_id=1, key="d")
    with webhook() as hook:
        hook.statuses = [500]
        port = hook.port if status else free_port()
        url = f"json://usr:t0kenpw@127.0.0.1:{port}/h00kpath?token=qt0ken"
        channel = AppriseChannel(url)
        with pytest.raises(NotifyError) as caught:
            asyncio.run(channel.send(message))
    text = str(caught.value)
    label = f"apprise:json:{channel.name.removeprefix('apprise:')}"
    assert text.startswith(f"Apprise could not deliver to {label}: ")
    if status:
        assert "error=500" in text
    logging.getLogger().removeHandler(daemon_log)
    logged = "\n".join(daemon_log.lines)
    assert "could not deliver" not in logged  # the outbox logs the error, not the channel
    for secret in secrets_of(port):
        assert secret not in text and secret not in logged, secret


@pytest.mark.parametrize(
    "url",
    ["pbul://o.gn5kj6nfhv736I7jC3cj3QLRiyhgl98b", "pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@"
     "axWkR7mTAWVPKZpq5Jj4sBjPBJAidx", "ntfy://my-s3cret-topic", "join://abc123def456/grp"],
)  # fmt: skip
def test_a_label_names_only_the_scheme_and_a_hash(url: str) -> None:
    channel = AppriseChannel(url)
    scheme, rest = url.split("://")
    assert channel.label == f"apprise:{scheme}:{channel.name.removeprefix('apprise:')}"
    assert re.fullmatch(rf"apprise:{scheme}:[0-9a-f]{{12}}", channel.label)
    assert scrub(f"failed to post to {rest} ({url})", url) == "failed to post to … (…)"


def test_an_url_apprise_does_not_know(tmp_path: Path) -> None:
    channel = AppriseChannel("nosuchservice://secret@host/")
    message = render_alert("down", P.down(), make_settings(tmp_path), alert_id=1, key="d")
    with pytest.raises(NotifyError) as caught:
        asyncio.run(channel.send(message))
    assert str(caught.value).startswith(
        "Apprise does not understand the URL apprise:nosuchservice:"
    )
    assert "secret" not in str(caught.value) and "host" not in str(caught.value)


def test_missing_apprise_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # import apprise → ImportError
    channel = AppriseChannel("json://127.0.0.1:1/")
    message = render_alert("down", P.down(), make_settings(tmp_path), alert_id=1, key="d")
    with pytest.raises(NotifyError, match=r"pip install 'filedrop-monitor\[apprise\]'"):
        asyncio.run(channel.send(message))
