"""Printing rows for people (Rich tables), for scripts (JSON) and for spreadsheets (CSV).

File names are hostile data: in tables every control character, invalid byte and markup-like
text is shown escaped and never interpreted; in JSON they are exact (an undecodable byte is
the lone surrogate ``\\udcXX`` that ``os.fsencode`` turns back into that byte).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import IO, Any
from zoneinfo import ZoneInfo

from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\\\\\ud800-\udfff\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_SURROGATES = re.compile("[\ud800-\udfff]")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def display_name(name: str) -> str:
    """A file name safe to show in a terminal: control, bidi and undecodable characters escaped."""
    if not _UNPRINTABLE.search(name):
        return name

    def escape(m: re.Match[str]) -> str:
        ch = m.group(0)
        if ch in _NAMED:
            return _NAMED[ch]
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
            return f"\\x{code - 0xDC00:02x}"
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNPRINTABLE.sub(escape, name)


def human_size(size: int | None) -> str:
    """1536 -> '1.5 KiB'."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_duration(value: timedelta) -> str:
    """``"7d"``, ``"36h"``, ``"1h30m"``, ``"45s"``: the largest units that say it exactly."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def iso(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 with the offset, in the configured zone."""
    return None if moment is None else moment.astimezone(zone).isoformat()


def short_time(moment: datetime | None, zone: ZoneInfo) -> str:
    return "-" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def to_json(data: Any) -> str:
    """JSON text that is valid UTF-8 even for undecodable file names (kept as \\udcXX)."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)
    return _SURROGATES.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


@dataclass(frozen=True)
class Column:
    """One column: the row key, its header, and how to show it in a table."""

    key: str
    header: str
    kind: str = "text"  # text | name | size | int | time

    def cell(self, value: Any, zone: ZoneInfo) -> Text | str:
        if value is None:
            return Text("-", style="dim")
        if self.kind == "name":
            return Text(display_name(str(value)))
        if self.kind == "size":
            return human_size(int(value))
        if self.kind == "time":
            return short_time(value, zone) if isinstance(value, datetime) else str(value)
        if self.kind == "int":
            return f"{int(value):,}"
        return Text(str(value), style=_STATUS_STYLES.get(str(value), ""))


_STATUS_STYLES = {
    "complete": "green",
    "partial": "yellow",
    "failed": "bold red",
    "suspect": "bold magenta",
    "open": "yellow",
    "settled": "green",
    "new": "cyan",
    "reviewed": "green",
    "flagged": "bold red",
    "dismissed": "dim",
    "added": "green",
    "removed": "red",
    "modified": "yellow",
    "moved": "blue",
    "present": "green",
    "changed": "yellow",
    "gone": "red",
}


def emit(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    fmt: Format,
    *,
    zone: ZoneInfo,
    title: str | None = None,
    console: Console | None = None,
    stream: IO[str] | None = None,
) -> None:
    """Print ``rows`` in ``fmt``; JSON and CSV carry every key, tables the given columns."""
    out = stream or sys.stdout
    if fmt is Format.json:
        out.write(to_json([_jsonable(r, zone) for r in rows]) + "\n")
    elif fmt is Format.csv:
        write_csv(rows, [c.key for c in columns], zone=zone, stream=out)
    else:
        table = Table(
            title=Text(title) if title else None, title_justify="left", header_style="bold"
        )
        for column in columns:
            justify: JustifyMethod = "right" if column.kind in {"size", "int"} else "left"
            wrap = column.kind == "name"
            table.add_column(column.header, justify=justify, overflow="fold", no_wrap=not wrap)
        for row in rows:
            table.add_row(*(c.cell(row.get(c.key), zone) for c in columns))
        (console or _console(out)).print(table)


def _console(out: IO[str]) -> Console:
    """A console for ``out``; piped output gets room for whole rows instead of 80 columns."""
    console = Console(file=out)
    if not console.is_terminal and console.width < 200:
        console = Console(file=out, width=200)
    return console


def _jsonable(row: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    return {k: iso(v, zone) if isinstance(v, datetime) else v for k, v in row.items()}


def write_csv(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], *, zone: ZoneInfo, stream: IO[str]
) -> None:
    """CSV with a header; undecodable bytes as \\xNN, and a cell that a spreadsheet would
    run as a formula (=, +, -, @) starts with a quote.

    Rows end in ``\\n``, and a cell holding a CR or LF is quoted: a writer whose line
    terminator is ``\\n`` alone leaves a bare CR unquoted, where a spreadsheet starts a new
    row (whose first cell is then the rest of a hostile name: ``x\\r=HYPERLINK(...)``)."""
    line = io.StringIO()
    writer = csv.writer(line, lineterminator="\r\n")
    cells = ([_csv_cell(row.get(k), zone) for k in keys] for row in rows)
    for line_cells in itertools.chain([list(keys)], cells):
        writer.writerow(line_cells)
        stream.write(line.getvalue()[:-2] + "\n")
        line.seek(0)
        line.truncate()


def _csv_cell(value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value, zone) or ""
    text = str(value)
    if text.startswith(_FORMULA_STARTS):  # a hostile name must not run as a spreadsheet formula
        text = "'" + text
    if _SURROGATES.search(text):
        text = _SURROGATES.sub(lambda m: f"\\x{ord(m.group(0)) - 0xDC00:02x}", text)
    return text
