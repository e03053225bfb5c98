"""The daemon's log: one line per event, as text or as JSON, with every secret masked.

An event is a name and fields (:func:`log_event`). As text it reads
``2026-11-20T09:00:01.123+00:00 INFO poll target=drop status=complete added=3 …``; as JSON it is
one object per line: ``{"time", "level", "logger", "event", <fields>…, "message"}``. Plain log
records (from the engine, libraries) come out the same way, without ``event`` and fields.

Secrets never reach the output: every value of a ``SecretStr`` or a hidden header in the
settings, the database URL's password, Apprise URLs (and their parts) and the ``Authorization``
values built from them are replaced by ``***`` in each line, after formatting (so a secret inside an
exception message or a traceback is masked too).
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import IO, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from monitor.config import BasicAuth, DigestAuth, HiddenValue, Settings

LogFormat = Literal["text", "json"]
MASK = "***"
#: Secrets shorter than this are not masked: they would mask ordinary words in every line.
MIN_SECRET = 4
#: The engine's loggers that speak at INFO about every poll's steps; below debug they say only
#: warnings (like every library), so that the log holds one line per poll.
CHATTY = ("monitor.poll", "monitor.crawl", "monitor.sources")
#: Loggers kept at warnings even at level debug: watchdog logs every event in the config's
#: folder, which holds the log file itself, often: each line would log another.
QUIET = ("watchdog",)


def log_event(log: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log ``event`` with ``fields`` (None values are left out)."""
    shown = {k: v for k, v in fields.items() if v is not None}
    text = " ".join([event, *(f"{k}={_text_value(v)}" for k, v in shown.items())])
    log.log(level, "%s", text, extra={"event": event, "fields": shown})


def _text_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    text = str(value)
    if not text or any(c in text for c in ' "=\\\n\t') or not text.isprintable():
        return json.dumps(text, ensure_ascii=False)
    return text


def collect_secrets(settings: Settings) -> set[str]:
    """Every value in ``settings`` that must never be logged."""
    found: set[str] = set()
    _walk(settings, found)
    try:
        password = make_url(settings.database_url).password
    except ArgumentError:
        password = None
    if password:
        found.add(str(password))
    for url in settings.notify.apprise:
        found.update(_apprise_parts(url))
    return {s for s in found if len(s) >= MIN_SECRET}


def _apprise_parts(url: str) -> set[str]:
    """An Apprise URL and the parts of it that may be a key, as Apprise may log them apart.

    Every user name, password, path segment and query value; the host too unless it looks like
    a domain name (``tgram://<bot token>/...``, ``discord://<webhook id>/...``).
    """
    parts = urlsplit(url)
    found = {url, url.split("://", 1)[-1]}
    found.update(p for p in (parts.username, parts.password) if p)
    found.update(unquote(p) for p in parts.path.split("/") if p)
    found.update(v for _, v in parse_qsl(parts.query) if v)
    if parts.hostname and "." not in parts.hostname:
        found.add(parts.hostname)
    return found


def _walk(value: object, found: set[str]) -> None:
    if isinstance(value, SecretStr):
        found.add(value.get_secret_value())
    elif isinstance(value, HiddenValue):
        found.add(str(value))
    elif isinstance(value, BasicAuth | DigestAuth):
        password = value.password.get_secret_value()
        pair = f"{value.username}:{password}".encode()
        found.update({password, base64.b64encode(pair).decode("ascii")})
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _walk(getattr(value, name), found)
    elif isinstance(value, Mapping):
        for item in value.values():
            _walk(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, found)


class _Masking(logging.Formatter):
    """A formatter that masks known secrets in everything it writes."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def set_secrets(self, secrets: Iterable[str]) -> None:
        forms = set(secrets)
        forms.update(json.dumps(s, ensure_ascii=False)[1:-1] for s in secrets)
        forms.update(json.dumps(s)[1:-1] for s in secrets)
        self.secrets = sorted(forms, key=len, reverse=True)  # longest first: no partial leak

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    @staticmethod
    def when(record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).astimezone()
        return stamp.isoformat(timespec="milliseconds")

    def details(self, record: logging.LogRecord) -> str:
        """The traceback and stack of a record, if any."""
        parts = []
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)


class TextFormatter(_Masking):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.when(record)} {record.levelname} {record.getMessage()}"
        details = self.details(record)
        return self.mask(f"{line}\n{details}" if details else line)


class JsonFormatter(_Masking):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.when(record),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        event = getattr(record, "event", None)
        if event is not None:
            data["event"] = event
            fields = getattr(record, "fields", {})
            data.update({k: _json_value(v) for k, v in fields.items() if k not in data})
        data["message"] = record.getMessage()
        details = self.details(record)
        if details:
            data["error"] = details
        return self.mask(json.dumps(data, ensure_ascii=False, default=str))


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 3)
    return value


class DaemonLogging:
    """The root handler of ``monitor run``: its format, level and secrets change on reload.

    Warnings, errors in threads and errors Python cannot raise ("Exception ignored in …") go
    through it too, so every line of the daemon's stderr has the chosen format and is masked.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.handler = logging.StreamHandler(stream or sys.stderr)
        self.secrets: set[str] = set()
        self._hooks: tuple[Any, Any] | None = None

    def configure(self, fmt: LogFormat, level: str, secrets: Iterable[str] = ()) -> None:
        """Use ``fmt`` and ``level`` from now on; mask ``secrets`` too (old ones stay masked)."""
        self.secrets.update(secrets)
        formatter = JsonFormatter() if fmt == "json" else TextFormatter()
        formatter.set_secrets(self.secrets)
        self.handler.setFormatter(formatter)
        if self._hooks is None:
            self._install()
        number = logging.getLevelNamesMapping()[level.upper()]
        quiet = number if number <= logging.DEBUG else max(number, logging.WARNING)
        logging.getLogger().setLevel(quiet)
        logging.getLogger("monitor").setLevel(number)
        for name in CHATTY:
            logging.getLogger(name).setLevel(quiet)
        for name in QUIET:
            logging.getLogger(name).setLevel(max(number, logging.WARNING))

    def _install(self) -> None:
        root = logging.getLogger()
        for old in list(root.handlers):
            root.removeHandler(old)
        root.addHandler(self.handler)
        logging.captureWarnings(True)
        self._hooks = (threading.excepthook, sys.unraisablehook)
        threading.excepthook = _thread_error
        sys.unraisablehook = _unraisable

    def close(self, *, keep_handler: bool = False) -> None:
        """Give back the hooks; ``keep_handler`` for a process about to exit, so that what is
        logged while it exits still comes out formatted and masked."""
        self.handler.flush()
        if self._hooks is not None:
            logging.captureWarnings(False)
            threading.excepthook, sys.unraisablehook = self._hooks
            self._hooks = None
        if not keep_handler:
            logging.getLogger().removeHandler(self.handler)


def _thread_error(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "a thread"
    error = (args.exc_type, args.exc_value, args.exc_traceback)
    logging.getLogger("monitor.daemon").error("error in %s", name, exc_info=error)  # type: ignore[arg-type]


def _unraisable(args: Any) -> None:
    error = (args.exc_type, args.exc_value, args.exc_traceback)
    what = args.err_msg or "Exception ignored in"
    logging.getLogger("monitor.daemon").warning("%s: %r", what, args.object, exc_info=error)
