"""Rendering: each kind's subject and key lines, hostile names, links, sizes, times, recipients."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from monitor.errors import NotifyError
from monitor.notify.render import (
    MAX_SUBJECT_NAME,
    header_line,
    human_size,
    message_id,
    render_alert,
)
from tests.notify import payloads as P
from tests.notify.conftest import make_settings

SUBJECTS = {
    "batch_settled": "[monitor] studio-drop: new batch ep02/sc901 - 143 files, 2.1 GB",
    "watch": '[monitor] studio-drop: 3 files match watch rule "contracts"',
    "down": "[monitor] studio-drop: target down (3 failed polls)",
    "recovered": "[monitor] studio-drop: recovered after 3 failed polls",
    "suspect": "[monitor] studio-drop: suspect snapshot held (912 of 1,000 files vanished)",
    "stale": "[monitor] studio-drop: no new file for 7d",
    "digest": "[monitor] digest 2026-11-23: 2 targets, 143 added, 2 new batches, 1 failed poll",
}

# Lines each kind's text part must hold (times in Europe/Paris, the configured zone).
KEY_LINES = {
    "batch_settled": [
        "A new batch settled on studio-drop: ep02/sc901",
        "143 files, 2.1 GB; first seen 2026-11-23 09:00 CET, settled 2026-11-23 12:30 CET.",
        "Review status: new",
        "  ep02/sc901/plate_0001.exr  (48.0 MB, added)",
        "  and 142 more",
    ],
    "watch": [
        '3 files on studio-drop match the watch rule "contracts" '
        "(poll at 2026-11-23 11:00 CET, snapshot 40).",
        "  legal/c.pdf  (1.0 kB, modified)",
    ],
    "down": [
        "studio-drop is down: 3 polls in a row failed, the first at 2026-11-23 10:00 CET.",
        "Last error: connection refused",
    ],
    "recovered": [
        "studio-drop has recovered: the poll at 2026-11-23 13:00 CET (snapshot 45) worked "
        "after 3 failed polls.",
        "It was down since 2026-11-23 10:00 CET.",
    ],
    "suspect": [
        "The poll of studio-drop at 2026-11-23 11:30 CET lost 912 of 1,000 files at once.",
        "Reason: 91% of the files vanished at once (max_removed_ratio 0.5)",
    ],
    "stale": [
        "No new file has arrived on studio-drop for 7d.",
        "The last one arrived 2026-11-16 09:00 CET; the latest snapshot is 43.",
    ],
    "digest": [
        "Digest for 2026-11-23 (Europe/Paris)",
        "== studio-drop ==",
        "143 added (2.1 GB), 2 removed, 5 modified, 1 moved",
        "Health: 48 polls (46 complete, 1 partial, 1 failed, 0 suspect); "
        "last complete at 2026-11-23 23:30 CET",
        "  #12 ep02/sc901 - 140 files, 2.0 GB - settled, review: new",
        "  #13 ep02/sc902 - 3 files, 100.0 MB - open, review: flagged",
        "Busiest folders:",
        "  ep02/sc901 - 140 files, 2.0 GB",
        "== vendor-ftp ==",
    ],
}


def settings(tmp_path: Path, **notify: Any) -> Any:
    return make_settings(tmp_path, notify={"to": ["analyst@example.org"], **notify})


@pytest.mark.parametrize("kind", sorted(SUBJECTS))
def test_subject_and_key_lines(tmp_path: Path, kind: str) -> None:
    message = render_alert(kind, P.PAYLOADS[kind], settings(tmp_path), alert_id=7, key=kind)
    assert message.subject == SUBJECTS[kind]
    lines = message.text.splitlines()
    for line in KEY_LINES[kind]:
        assert line in lines, f"{line!r} not in:\n{message.text}"
    assert "http" not in message.text and "<a href" not in message.html  # no base_url: no links
    assert message.html.startswith("<!DOCTYPE html>") and "</html>" in message.html
    assert f"<title>{escape(SUBJECTS[kind])}</title>" in message.html
    assert message.headers["X-Monitor-Alert"] == kind
    assert message.recipients == ("analyst@example.org",)


def test_singular_and_root_folder(tmp_path: Path) -> None:
    s = settings(tmp_path)
    one = P.watch(items=[P.item("a.pdf")], more=0)
    assert render_alert("watch", one, s, alert_id=1, key="w").subject.endswith(
        ': 1 file matches watch rule "contracts"'
    )
    root = P.batch(folder="", files=1, bytes=999, items=[P.item("a", 999)], more=0)
    message = render_alert("batch_settled", root, s, alert_id=1, key="b")
    assert message.subject == "[monitor] studio-drop: new batch / - 1 file, 999 B"
    down = render_alert("down", P.down(failures=1), s, alert_id=1, key="d")
    assert down.subject.endswith("target down (1 failed poll)")
    never = render_alert("stale", P.stale(last_arrival=None), s, alert_id=1, key="s")
    assert "No file has arrived since it is watched" in never.text


def test_subject_prefix_is_configurable(tmp_path: Path) -> None:
    message = render_alert(
        "down", P.down(), settings(tmp_path, subject_prefix=""), alert_id=1, key="d"
    )
    assert message.subject == "studio-drop: target down (3 failed polls)"


def test_empty_digest_is_one_line(tmp_path: Path) -> None:
    message = render_alert("digest", P.digest(empty=True), settings(tmp_path), alert_id=3, key="d")
    assert message.subject == "[monitor] digest 2026-11-23: no changes on 2 targets"
    assert message.text == "No changes on 2026-11-23 (2 targets watched).\n"
    assert "No changes on 2026-11-23 (2 targets watched).</p>" in message.html


def test_a_digest_with_more_batches_than_it_lists(tmp_path: Path) -> None:
    payload: Any = P.digest()
    payload["targets"][0]["batches_total"] = 502  # the payload lists the first 2
    message = render_alert("digest", payload, settings(tmp_path), alert_id=3, key="d")
    assert message.subject.endswith("143 added, 502 new batches, 1 failed poll")
    assert "  and 500 more\n" in message.text
    assert "<li>and 500 more</li>" in message.html


@pytest.mark.parametrize("name", P.HOSTILE_NAMES)
def test_hostile_names_are_inert_everywhere(tmp_path: Path, name: str) -> None:
    s = settings(tmp_path, base_url="https://mon.example.org")
    payload = P.batch(folder=name, items=[P.item(f"{name}/{name}")], more=0)
    message = render_alert("batch_settled", payload, s, alert_id=1, key="k")
    # subject: one line, no control / format characters, cut when long
    assert not re.search(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff]", message.subject)
    assert len(message.subject) <= 200
    # text: the name never breaks a line or reorders text; the line is there whole
    assert "\nBcc:" not in message.text and "\nSubject:" not in message.text
    assert "\u202e" not in message.text and "\udcff" not in message.text
    # HTML: escaped, so no markup of its own
    assert "<script>" not in message.html
    if name.startswith("<script>"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;.pdf" in message.html
        assert "<script>alert(1)</script>.pdf" in message.text
    assert "\u202e" not in message.html
    if name.startswith('"&'):
        assert "&#34;&amp;&#39;quotes&#39;&amp;amp;.txt" in message.html
    if name.startswith("契約書"):
        assert name in message.subject and name in message.text and name in message.html
    if len(name) == 300:
        assert message.subject.count("x") < 100 and name in message.text and name in message.html


def test_header_line_removes_controls_and_line_breaks() -> None:
    assert header_line("a\r\nBcc: x@y\tz\u202e\u200b\x00q") == "a Bcc: x@y zq"
    assert header_line("bad\udcffbyte") == "bad\ufffdbyte"
    assert header_line("\u2028x\u2029y\x85z") == "x y z"
    assert header_line("y" * 300, 50) == "y" * 49 + "…"


CHAT_HOSTILE = [
    "@everyone look.pdf",
    "@here",
    "[click me](https://evil.example/x).pdf",
    "`code` ``and`` ```fence```.txt",
    "<@123456789> <@&42> <!channel> <#C1> <https://evil.example|report.pdf>",
    "**bold** __u__ ~~s~~ ||spoiler|| # head > quote.txt",
]


def outside_code_spans(text: str) -> str:
    """What a chat service would read as markup: all but code spans and the subject prefix."""
    return re.sub(r"`[^`\n]*`", "", text).replace("[monitor] ", "")


@pytest.mark.parametrize("name", CHAT_HOSTILE)
def test_chat_text_makes_names_inert(tmp_path: Path, name: str) -> None:
    """What chat channels get: every name is one code span, backticks in it escaped, and no
    @ or < is followed by anything a service or Apprise would read as a mention or a link."""
    payload = P.batch(folder=name, items=[P.item(f"{name}/{name}")], more=0)
    message = render_alert("batch_settled", payload, settings(tmp_path), alert_id=1, key="k")
    for text in (message.chat_subject, message.chat_text):
        outside = outside_code_spans(text)
        for markup in ("@", "<", "[", "](", "**", "__", "~~", "||", "# h", "> q"):
            assert markup not in outside, (markup, text)
        assert not re.search(r"[@<][^\u200b]", text)  # a zero-width space after each
        assert not re.search(r"@[a-z0-9]+", text, re.IGNORECASE)  # Apprise's ping detection

    def shown(text: str) -> str:
        return text.replace("`", "\\x60").replace("@", "@\u200b").replace("<", "<\u200b")

    assert f"`{shown(name)}`" in message.chat_text  # the folder line
    assert f"`{shown(name)}/{shown(name)}`" in message.chat_text  # the file line
    cut = header_line(name, MAX_SUBJECT_NAME)
    assert f"new batch `{shown(cut)}` - " in message.chat_subject
    assert name in message.text and "`" + name not in message.text  # mail: untouched


def test_chat_text_says_the_same_as_the_mail(tmp_path: Path) -> None:
    message = render_alert("down", P.down(), settings(tmp_path), alert_id=1, key="d")
    assert message.chat_subject == "[monitor] studio-drop: target down (3 failed polls)"
    unquoted = message.chat_text.replace("`", "")
    assert unquoted == message.text
    assert message.chat_text.startswith("`studio-drop` is down: 3 polls in a row failed")


def test_header_line_breaks_encoded_words() -> None:
    assert header_line("a=?utf-8?q?=E2=80=AE?=b") == "a= ?utf-8?q?=E2=80=AE?=b"
    assert header_line("=\u200b?x?q?y?=") == "= ?x?q?y?="  # what dropping characters makes
    assert header_line("==??=?") == "== ??= ?"
    assert header_line("=" * 10 + "?", 8) == "=" * 7 + "…"


def test_links_only_with_base_url_and_quoted(tmp_path: Path) -> None:
    s = settings(tmp_path, base_url="https://mon.example.org/ui/")
    target = "studio drop"
    message = render_alert("batch_settled", P.batch(target=target), s, alert_id=1, key="b")
    assert "Review it at https://mon.example.org/ui/batches/12" in message.text.splitlines()
    assert '<a href="https://mon.example.org/ui/batches/12">' in message.html
    down = render_alert("down", P.down(target=target), s, alert_id=2, key="d")
    assert "Target: https://mon.example.org/ui/targets/studio%20drop" in down.text
    digest = render_alert("digest", P.digest(), s, alert_id=3, key="g")
    assert '<a href="https://mon.example.org/ui/batches/13">ep02/sc902</a>' in digest.html
    assert "https://mon.example.org/ui/targets/vendor-ftp" in digest.text
    # a base_url that is not http(s) never becomes a link
    bad = settings(tmp_path, base_url="javascript:alert(1)")
    assert "javascript" not in render_alert("down", P.down(), bad, alert_id=1, key="d").html


def test_file_urls_link_only_when_http(tmp_path: Path) -> None:
    items = [
        {**P.item("a.pdf"), "url": "https://files.example.org/drop/a.pdf"},
        {**P.item("b.pdf"), "url": "javascript:alert(1)"},
    ]
    message = render_alert("watch", P.watch(items=items), settings(tmp_path), alert_id=1, key="w")
    assert '<a href="https://files.example.org/drop/a.pdf">a.pdf</a>' in message.html
    assert "javascript" not in message.html


def test_long_lists_are_cut_with_and_n_more(tmp_path: Path) -> None:
    items = [P.item(f"f{i:03}.bin") for i in range(30)]
    s = settings(tmp_path, max_files=10)
    message = render_alert("watch", P.watch(items=items, more=5), s, alert_id=1, key="w")
    assert message.subject.endswith(': 35 files match watch rule "contracts"')
    assert "  f009.bin  (1.0 kB, added)" in message.text and "f010.bin" not in message.text
    assert "  and 25 more" in message.text.splitlines()
    assert "<p>and 25 more</p>" in message.html


def test_recipients_per_target_override_the_default(tmp_path: Path) -> None:
    target = {"name": "studio-drop", "kind": "local", "path": str(tmp_path)}
    s = make_settings(
        tmp_path,
        notify={"to": ["all@example.org"]},
        targets=[{**target, "notify_to": ["studio@example.org", "lead@example.org"]}],
    )
    down = render_alert("down", P.down(), s, alert_id=1, key="d")
    assert down.recipients == ("studio@example.org", "lead@example.org")
    other = render_alert("down", P.down(target="elsewhere"), s, alert_id=2, key="e")
    assert other.recipients == ("all@example.org",)
    digest = render_alert("digest", P.digest(), s, alert_id=3, key="g")
    assert digest.recipients == ("all@example.org",)


def test_message_id_is_stable_per_alert_row() -> None:
    first = message_id(12, "batch:3", "monitor@lab.example.org")
    assert first == message_id(12, "batch:3", "monitor@lab.example.org")
    assert re.fullmatch(r"<monitor\.alert\.12\.[0-9a-f]{16}@lab\.example\.org>", first)
    assert first != message_id(12, "batch:4", "monitor@lab.example.org")
    assert first != message_id(13, "batch:3", "monitor@lab.example.org")


def test_human_sizes_are_si_with_one_decimal() -> None:
    cases = {
        None: "-",
        0: "0 B",
        999: "999 B",
        1000: "1.0 kB",
        1_500: "1.5 kB",
        999_960: "1.0 MB",
        2_100_000_000: "2.1 GB",
        3 * 10**15: "3.0 PB",
        5 * 10**18: "5.0 EB",
    }
    assert {size: human_size(size) for size in cases} == cases


def test_a_payload_that_does_not_fit_is_a_notify_error(tmp_path: Path) -> None:
    with pytest.raises(NotifyError, match="alert 5 \\(down\\) cannot be rendered"):
        render_alert("down", {"target": "x"}, settings(tmp_path), alert_id=5, key="d")
    with pytest.raises(NotifyError, match="no template for the kind 'nope'"):
        render_alert("nope", {}, settings(tmp_path), alert_id=5, key="n")
