"""The Apprise channel posting to a real webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from monitor.errors import NotifyError
from monitor.notify.apprise import AppriseChannel
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
    assert sent["title"] == "[monitor] studio-drop: new batch ep02/sc901 - 143 files, 2.1 GB"
    assert sent["message"].rstrip() == message.text.rstrip()
    assert "<b>x</b>\\nnext.pdf" in sent["message"]


def test_each_url_is_a_channel_of_its_own(tmp_path: Path) -> None:
    urls = ["json://127.0.0.1:1/a", "form://127.0.0.1:1/b"]
    s = make_settings(tmp_path, notify={"apprise": urls})
    names = [c.name for c in configured_channels(s.notify)]
    assert len(set(names)) == 2 and all(n.startswith("apprise:") for n in names)


def test_a_failing_webhook_is_a_notify_error_without_the_token(tmp_path: Path) -> None:
    with webhook() as hook:
        hook.statuses = [500]
        url = f"json://user:t0ken@127.0.0.1:{hook.port}/alerts"
        channel = AppriseChannel(url)
        message = render_alert("down", P.down(), make_settings(tmp_path), alert_id=1, key="d")
        with pytest.raises(NotifyError) as caught:
            asyncio.run(channel.send(message))
    text = str(caught.value)
    assert text.startswith(f"Apprise could not deliver to json://127.0.0.1:{hook.port}: ")
    assert "t0ken" not in text and "500" in text


def test_nothing_listening(tmp_path: Path) -> None:
    channel = AppriseChannel(f"json://127.0.0.1:{free_port()}/")
    message = render_alert("down", P.down(), make_settings(tmp_path), alert_id=1, key="d")
    with pytest.raises(NotifyError, match=r"Apprise could not deliver to json://127\.0\.0\.1"):
        asyncio.run(channel.send(message))


def test_an_url_apprise_does_not_know(tmp_path: Path) -> None:
    channel = AppriseChannel("nosuchservice://secret@host/")
    message = render_alert("down", P.down(), make_settings(tmp_path), alert_id=1, key="d")
    with pytest.raises(NotifyError, match="Apprise does not understand the URL nosuchservice://"):
        asyncio.run(channel.send(message))


def test_missing_apprise_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # import apprise → ImportError
    channel = AppriseChannel("json://127.0.0.1:1/")
    message = render_alert("down", P.down(), make_settings(tmp_path), alert_id=1, key="d")
    with pytest.raises(NotifyError, match=r"pip install 'filedrop-monitor\[apprise\]'"):
        asyncio.run(channel.send(message))
