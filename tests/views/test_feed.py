"""The feed of new batches, and the export rows of a day diff and of a batch."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from monitor.views import json_text
from monitor.views.batches import review
from monitor.views.days import DayFilters, day_diff
from monitor.views.feed import (
    BatchFileExportRow,
    ChangeRow,
    batch_rows,
    csv_text,
    day_rows,
    newest_batches,
)
from tests.views.conftest import BAD_BYTES, CRLF, HOSTILE, PARIS, World, four_days, paris

CLI_COLUMNS = ["change", "path", "type", "size", "mtime", "detail"]


def test_newest_batches(world: World) -> None:
    four_days(world)
    with world.store.write() as conn:
        review(conn, 2, status="flagged", actor="ana", now=paris("2026-11-25T09:00"), zone=PARIS)
    with world.store.read() as conn:
        feed = newest_batches(conn, zone=PARIS, limit=3)
        settled = newest_batches(conn, zone=PARIS, settled_only=True, target="drop")
    cli = {b["batch"]: b for b in world.cli.json("batches")}
    assert [e.id for e in feed.entries] == sorted(cli, reverse=True)[:3]
    for e in feed.entries:
        assert (e.folder, e.files, e.bytes, e.status, e.review) == (
            cli[e.id]["folder"].strip("/"), cli[e.id]["files"], cli[e.id]["bytes"],
            cli[e.id]["status"], cli[e.id]["review"],
        )  # fmt: skip
    assert all(e.status == "settled" for e in settled.entries)
    flagged = next(e for e in settled.entries if e.id == 2)
    assert flagged.updated_at == paris("2026-11-25T09:00") and flagged.reviewed_by == "ana"
    assert settled.updated_at == flagged.updated_at
    newest = feed.entries[0]
    assert newest.updated_at == max(newest.opened_at, newest.settled_at or newest.opened_at)


def test_day_rows_are_the_cli_csv(world: World) -> None:
    four_days(world)
    for day in (date(2026, 11, 20), date(2026, 11, 21)):
        with world.store.read() as conn:
            diff = day_diff(conn, world.settings, "drop", day, zone=PARIS)
        rows = day_rows(diff)
        cli = world.cli("diff", "drop", "--day", day.isoformat(), "--format", "csv")
        mine = csv_text(rows, ChangeRow, zone=PARIS, keys=CLI_COLUMNS)
        # The test runner reads the CLI's output with universal newlines: CR LF becomes LF.
        assert mine.replace("\r\n", "\n") == cli
    by_path = {r.path: r for r in rows}
    assert by_path["ep01/moved.bin"].detail == "from ep01/old.bin"
    assert by_path["grow.txt"].detail == "size 1 -> 4, mtime"
    assert by_path[CRLF].url == (world.drop / CRLF).as_uri()
    text = csv_text(rows, ChangeRow, zone=PARIS)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed[0]) == list(ChangeRow.model_fields)
    assert {r["path"] for r in parsed} >= {CRLF, "ep03/bad\\xff.txt"}  # as the CLI writes CSV
    assert "\r\n" in text
    assert json.loads(json_text(rows[0])) == rows[0].model_dump(mode="json")
    with world.store.read() as conn:
        only = day_diff(
            conn, world.settings, "drop", day, zone=PARIS, filters=DayFilters(kinds=["removed"])
        )
    assert [(r.change, r.path) for r in day_rows(only)] == [("removed", "gone.txt")]


def test_batch_rows(world: World) -> None:
    four_days(world)
    with world.store.read() as conn:
        rows = batch_rows(conn, world.settings, 2, zone=PARIS)
        hostile = [
            r for r in batch_rows(conn, world.settings, 4, zone=PARIS) if r.path == BAD_BYTES
        ]
    assert [(r.batch, r.folder, r.change, r.path, r.size, r.now) for r in rows] == [
        (2, "ep02", "added", "ep02/50%_off.txt", 10, "gone"),
        (2, "ep02", "added", HOSTILE, 50, "present"),
    ]
    assert [r.sha256 for r in rows] == [None, None]
    text = csv_text(rows, BatchFileExportRow, zone=PARIS)
    assert text.splitlines()[0] == ",".join(BatchFileExportRow.model_fields)
    assert len(hostile) == 1 and json.loads(json_text(hostile[0]))["path"] == BAD_BYTES
