"""insert_rows: rows straight to SQLite's driver read back exactly as SQLAlchemy's inserts do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import StatementError

from monitor.errors import StoreError
from monitor.store import Store
from monitor.store.queries import TABLES, insert_rows
from tests.helpers import T0, Clock, make_target, poll, put

blob_t = TABLES["blob"]
capture_t = TABLES["capture"]


def _blob(sha: str, when: datetime, verified: datetime | None = None) -> dict[str, object]:
    return {
        "sha256": sha,
        "size": 2**40 + 1,
        "mime": "text/plain",
        "description": None,
        "stored_at": when,
        "verified_at": verified,
    }


def test_rows_read_back_as_sqlalchemys(store: Store) -> None:
    moments = [
        datetime(2026, 3, 29, 1, 30, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 3, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    ]
    ours = [_blob(f"{i:064x}", when, when) for i, when in enumerate(moments)]
    theirs = [_blob(f"{i + 10:064x}", when, None) for i, when in enumerate(moments)]
    with store.write() as conn:
        insert_rows(conn, blob_t, ours)
        conn.execute(insert(blob_t), theirs)
        rows = conn.execute(select(blob_t).order_by(blob_t.c.sha256)).mappings().all()
    got = [dict(row) for row in rows]
    assert [r["stored_at"] for r in got[:3]] == [r["stored_at"] for r in got[3:]]
    assert [r["stored_at"] for r in got[:3]] == [m.astimezone(UTC) for m in moments]
    assert [r["verified_at"] for r in got[:3]] == [m.astimezone(UTC) for m in moments]
    assert all(r["verified_at"] is None for r in got[3:])
    assert {r["size"] for r in got} == {2**40 + 1}
    if store.dialect == "sqlite":
        with store.read() as conn:
            raw = conn.exec_driver_sql("SELECT stored_at FROM blob ORDER BY sha256").all()
        assert [r[0] for r in raw[:3]] == [r[0] for r in raw[3:]]  # the same text


def test_ignore_leaves_a_known_row_and_nothing_else(store: Store) -> None:
    when = datetime(2026, 11, 25, tzinfo=UTC)
    with store.write() as conn:
        insert_rows(conn, blob_t, [_blob("a" * 64, when)])
        insert_rows(conn, blob_t, [_blob("a" * 64, when + timedelta(days=1))], ignore=True)
        stored = conn.execute(select(blob_t.c.stored_at)).scalars().all()
    assert stored == [when]
    with pytest.raises(StoreError), store.write() as conn:
        insert_rows(conn, blob_t, [_blob("a" * 64, when)])  # a conflict without ignore
    bad = _blob("b" * 64, when) | {"size": None}
    with pytest.raises(StoreError), store.write() as conn:
        insert_rows(conn, blob_t, [bad], ignore=True)  # ignore is for keys, not NOT NULL


def test_a_naive_time_is_refused(store: Store) -> None:
    with pytest.raises((ValueError, StatementError), match="naive"), store.write() as conn:
        insert_rows(conn, blob_t, [_blob("c" * 64, datetime(2026, 1, 1))])


def test_paths_are_stored_escaped(store: Store, tmp_path: Path) -> None:
    """A capture's path (PathText) reads back as written, NUL and lone surrogates included;
    ``None`` stays NULL; a column left out gets its default."""
    poll(store, make_target(put(tmp_path / "drop", "a.txt").parent), Clock())
    path = "odd\\name\x00\udcff.txt"
    with store.write() as conn:
        version_t = TABLES["version"]
        version = conn.execute(
            select(version_t.c.id).where(version_t.c.type == "file")
        ).scalar_one()
        target = conn.execute(select(TABLES["target"].c.id)).scalar_one()
        row = {"target_id": target, "version_id": version, "path": path, "status": "failed",
               "url": "file:///a.txt", "fetched_at": T0, "error": None}  # fmt: skip
        insert_rows(conn, capture_t, [row, row | {"error": "cut"}])
        found = conn.execute(select(capture_t.c.path, capture_t.c.error, capture_t.c.attempts))
    assert found.all() == [(path, None, 1), (path, "cut", 1)]  # attempts: its default
