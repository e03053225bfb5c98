"""Rendering an alert row into a :class:`~monitor.notify.base.Message`: subject, text and HTML.

Each kind has a subject function here and two templates in ``templates/`` (``KIND.txt``,
``KIND.html``) that extend a shared layout. Everything in a payload that came from a watched
server (file and folder names, error texts) is hostile:

- in HTML it is escaped by Jinja's autoescape, after :func:`~monitor.output.display_name`
  made control, bidi and undecodable characters visible (``\\n``, ``\\u202e``, ``\\xff``);
- in text it goes through ``display_name`` too, so a name can never start a line of its own;
- in the text and title chat channels get (Apprise: Discord, Slack, Teams... render Markdown
  or their own markup and ping on mentions), each name is also a code span, so nothing in it
  is markup, with a backtick shown as ``\\x60`` (:func:`chat_name`); and a zero-width space
  follows every ``@`` and ``<`` of that text, so no ``@everyone``, ``<@id>``, ``<!channel>``
  or ``<url|text>`` link is formed, by the service or by Apprise (:func:`no_mentions`);
- in the subject and every header, control characters, line breaks and bidi or zero-width
  format characters are removed, ``=?`` becomes ``= ?`` so no RFC 2047 encoded word of a name
  is decoded by mail clients (:func:`header_line`), and long names are cut.

Sizes are SI with one decimal ("2.1 GB"), times are shown in the configured time zone, and
web UI links (``{base_url}/batches/{id}``, ``{base_url}/targets/{name}``) appear only when
``[notify] base_url`` is set.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from monitor.config import Settings
from monitor.errors import NotifyError
from monitor.notify.base import Message
from monitor.output import display_name

if TYPE_CHECKING:  # jinja2 is imported when a message is rendered, not with the CLI
    import jinja2

#: Longest subject; a longer one is cut with "…".
MAX_SUBJECT = 200
#: Longest name (folder, rule) inside a subject.
MAX_SUBJECT_NAME = 60
_HEADER_DROP = {"Cc", "Cf", "Zl", "Zp"}
_SURROGATE = re.compile("[\ud800-\udfff]")


# -- plain helpers (also used by the CLI) ----------------------------------------------------


def human_size(size: int | None) -> str:
    """Bytes in SI units with one decimal: 2_100_000_000 → "2.1 GB"."""
    if size is None:
        return "-"
    if abs(size) < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if abs(value) < 999.95:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} EB"


def header_line(text: str, limit: int = MAX_SUBJECT) -> str:
    """``text`` as one header-safe line: no control, format or line-break characters, and no
    RFC 2047 encoded word (``=?charset?b?...?=``).

    Undecodable bytes (lone surrogates) become U+FFFD; runs of whitespace become one space;
    every ``=?`` becomes ``= ?``, so what mail clients show is the text as written: an encoded
    word in a name would be decoded by them, and could hold a bidi override, line breaks or
    what looks like another header.
    """
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs":
            kept.append("\ufffd")
        elif category in _HEADER_DROP:
            kept.append(" " if ch in "\t\n\r\x0b\x0c\x85\u2028\u2029" else "")
        else:
            kept.append(ch)
    line = " ".join("".join(kept).split()).replace("=?", "= ?")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _encodable(text: str) -> str:
    """Valid UTF-8 whatever slipped through: a lone surrogate becomes U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _short(name: str) -> str:
    return header_line(name, MAX_SUBJECT_NAME)


def chat_name(name: str) -> str:
    """A name as chat text: a code span, so nothing in it is markup (links, emphasis, headings,
    spoilers); a backtick in it, which would close the span, is shown as ``\\x60``."""
    return "`" + name.replace("`", "\\x60") + "`"


def no_mentions(text: str) -> str:
    """``text`` with a zero-width space after every ``@`` and ``<``: no mention (``@everyone``,
    ``@here``, ``<@id>``, ``<!channel>``) nor Slack link (``<url|text>``) can be formed."""
    return text.replace("@", "@\u200b").replace("<", "<\u200b")


def _chat_short(name: str) -> str:
    return chat_name(_short(name))


def _chat_display(name: str) -> str:
    return chat_name(display_name(name))


def _count(value: int) -> str:
    return f"{value:,}"


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def message_id(alert_id: int, key: str, sender: str) -> str:
    """The Message-ID of an alert: the same for one alert row on every try and restart."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<monitor.alert.{alert_id}.{digest}@{domain}>"


def recipients_for(kind: str, payload: Mapping[str, Any], settings: Settings) -> tuple[str, ...]:
    """The target's ``notify_to`` when it has one, else ``[notify] to`` (the digest: always)."""
    if kind != "digest":
        name = payload.get("target")
        for target in settings.targets:
            if target.name == name and target.notify_to:
                return tuple(target.notify_to)
    return tuple(settings.notify.to)


# -- subjects ---------------------------------------------------------------------------------


#: How a subject shows a name from a payload: cut short, and for chat as a code span.
Name = Callable[[str], str]


def _batch_subject(p: Mapping[str, Any], name: Name) -> str:
    folder = name(p["folder"]) if p["folder"] else "/"
    files = _plural(p["files"], "file")
    return f"{p['target']}: new batch {folder} - {files}, {human_size(p['bytes'])}"


def _watch_subject(p: Mapping[str, Any], name: Name) -> str:
    count = len(p["items"]) + p["more"]
    verb = "matches" if count == 1 else "match"
    return f'{p["target"]}: {_plural(count, "file")} {verb} watch rule "{name(p["rule"])}"'


def _down_subject(p: Mapping[str, Any], name: Name) -> str:
    return f"{p['target']}: target down ({_plural(p['failures'], 'failed poll')})"


def _recovered_subject(p: Mapping[str, Any], name: Name) -> str:
    return f"{p['target']}: recovered after {_plural(p['failures'], 'failed poll')}"


def _suspect_subject(p: Mapping[str, Any], name: Name) -> str:
    return (
        f"{p['target']}: suspect snapshot held "
        f"({_count(p['removed'])} of {_plural(p['files_before'], 'file')} vanished)"
    )


def _stale_subject(p: Mapping[str, Any], name: Name) -> str:
    return f"{p['target']}: no new file for {p['quiet_for']}"


def _digest_subject(p: Mapping[str, Any], name: Name) -> str:
    targets = p["targets"]
    head = f"digest {p['day']}: "
    if p["empty"]:
        return head + f"no changes on {_plural(len(targets), 'target')}"
    added = sum(t["added"] for t in targets)
    batches = sum(t.get("batches_total", len(t["batches"])) for t in targets)
    failed = sum(t["health"]["failed"] for t in targets)
    line = (
        f"{_plural(len(targets), 'target')}, {_count(added)} added, "
        f"{_plural(batches, 'new batch', 'new batches')}"
    )
    if failed:
        line += f", {_plural(failed, 'failed poll')}"
    return head + line


SUBJECTS: dict[str, Callable[[Mapping[str, Any], Name], str]] = {
    "batch_settled": _batch_subject,
    "watch": _watch_subject,
    "down": _down_subject,
    "recovered": _recovered_subject,
    "suspect": _suspect_subject,
    "stale": _stale_subject,
    "digest": _digest_subject,
}


# -- templates --------------------------------------------------------------------------------


@cache
def environment(chat: bool = False) -> jinja2.Environment:
    """The templates' environment: autoescape for ``.html``, undefined names are errors;
    ``chat``: names as code spans (:func:`chat_name`), for the text chat channels get."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.notify", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(name=_chat_display if chat else display_name, size=human_size, count=_count)
    env.globals.update(plural=_plural)
    return env


def _when(zone: ZoneInfo) -> Callable[[str | None], str]:
    def when(value: str | None) -> str:
        if not value:
            return "never"
        moment = datetime.fromisoformat(value)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    return when


def _linker(base_url: str | None) -> Callable[..., str | None]:
    """``link("batches", 12)`` → ``{base_url}/batches/12``, path parts quoted; None unset."""
    base = (base_url or "").rstrip("/")
    if urlsplit(base).scheme not in {"http", "https"}:
        base = ""

    def link(*parts: object) -> str | None:
        if not base:
            return None
        return base + "/" + "/".join(quote(str(part), safe="") for part in parts)

    return link


def _safe_href(url: str | None) -> str | None:
    """A file's own URL, only when it is plain http(s) (a link in a mail must not run code)."""
    if url and urlsplit(url).scheme in {"http", "https"} and url.isprintable():
        return url
    return None


def _context(kind: str, payload: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    max_files = settings.notify.max_files
    items = list(payload.get("items", []))
    more = int(payload.get("more", 0)) + max(0, len(items) - max_files)
    link = _linker(settings.notify.base_url)
    return {
        "kind": kind,
        "p": payload,
        "items": items[:max_files],
        "more": more,
        "link": link,
        "home": link(),
        "href": _safe_href,
        "when": _when(settings.zone),
        "timezone": settings.timezone,
        "one_line": kind == "digest" and bool(payload.get("empty")),
    }


def subject_of(
    kind: str, payload: Mapping[str, Any], settings: Settings, *, chat: bool = False
) -> str:
    """The subject an alert's message has (raises like :func:`render_alert`); ``chat``: the
    title chat channels get, names as code spans and no mention."""
    subject_fn = SUBJECTS.get(kind)
    if subject_fn is None:
        raise NotifyError(f"no template for the kind {kind!r}")
    prefix = settings.notify.subject_prefix
    try:
        line = subject_fn(payload, _chat_short if chat else _short)
        subject = header_line(f"{prefix} {line}" if prefix else line)
    except (KeyError, TypeError, ValueError) as exc:
        raise NotifyError(f"a {kind} alert cannot be rendered: {exc!r}") from exc
    return no_mentions(subject) if chat else subject


def render_alert(
    kind: str,
    payload: Mapping[str, Any],
    settings: Settings,
    *,
    alert_id: int,
    key: str,
) -> Message:
    """The message for one alert row; :class:`NotifyError` when the payload does not fit."""
    if kind not in SUBJECTS:
        raise NotifyError(f"alert {alert_id}: no template for the kind {kind!r}")
    import jinja2

    try:
        subject = subject_of(kind, payload, settings)
        context = _context(kind, payload, settings) | {"subject": subject}
        env = environment()
        text = env.get_template(f"{kind}.txt").render(context)
        html = env.get_template(f"{kind}.html").render(context)
        chat_subject = subject_of(kind, payload, settings, chat=True)
        chat_text = environment(chat=True).get_template(f"{kind}.txt").render(context)
    except (NotifyError, KeyError, TypeError, ValueError, jinja2.TemplateError) as exc:
        cause = exc.__cause__ if isinstance(exc, NotifyError) else exc
        raise NotifyError(f"alert {alert_id} ({kind}) cannot be rendered: {cause!r}") from exc
    headers = {"Auto-Submitted": "auto-generated", "X-Monitor-Alert": kind}
    if isinstance(payload.get("target"), str):
        headers["X-Monitor-Target"] = header_line(payload["target"], 100)
    return Message(
        subject=subject,
        text=_encodable(text),
        html=_encodable(html),
        chat_subject=chat_subject,
        chat_text=no_mentions(_encodable(chat_text)),
        recipients=recipients_for(kind, payload, settings),
        message_id=message_id(alert_id, key, settings.notify.sender),
        headers=headers,
    )
