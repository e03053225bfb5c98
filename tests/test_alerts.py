"""Alerts are written to the outbox by the poll that causes them, once each."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitor.alerts import alert_t, insert_alert
from monitor.store import Store
from tests.helpers import T0, Clock, make_target, poll, put


def alerts(store: Store, kind: str | None = None) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(select(alert_t).order_by(alert_t.c.id)).all()
    return [
        {**r._mapping, "payload": json.loads(r.payload)}
        for r in rows
        if kind is None or r.kind == kind
    ]


def test_the_baseline_raises_no_alert(store: Store, drop: Path, clock: Clock) -> None:
    put(drop, "ep01/contract.pdf", b"x" * 5000)
    target = make_target(drop, watch=[{"name": "pdfs", "types": ["pdf"]}], settle="0s")
    poll(store, target, clock)
    poll(store, target, clock)
    assert alerts(store) == []


def test_a_settled_batch_is_announced_once_with_its_files(
    store: Store, drop: Path, clock: Clock
) -> None:
    target = make_target(drop, settle="1h")
    poll(store, target, clock)
    put(drop, "ep02/sc901/small.txt", b"ab")
    put(drop, "ep02/sc901/big.exr", b"x" * 300)
    put(drop, "ep02/mid.exr", b"x" * 20)
    opened = poll(store, target, clock)
    clock.advance(hours=1)
    settled = poll(store, target, clock)
    poll(store, target, clock)
    (alert,) = alerts(store, "batch_settled")
    assert alert["batch_id"] == opened.batches[0] and alert["snapshot_id"] == settled.snapshot_id
    payload = alert["payload"]
    assert (payload["target"], payload["folder"], payload["files"], payload["bytes"]) == (
        "drop",
        "ep02",
        3,
        322,
    )
    assert [i["path"] for i in payload["items"]] == [
        "ep02/sc901/big.exr",
        "ep02/mid.exr",
        "ep02/sc901/small.txt",
    ]
    assert payload["items"][0]["url"] == (drop / "ep02/sc901/big.exr").as_uri()
    assert payload["items"][0]["change"] == "added" and payload["more"] == 0
    assert payload["settled_at"] == (clock.now - timedelta(minutes=60)).isoformat()


def test_watch_rules_alert_at_once_naming_the_rule(store: Store, drop: Path, clock: Clock) -> None:
    rules = [
        {"name": "contracts", "glob": "**/contract*", "types": ["pdf"]},
        {"name": "big", "min_size": "1KB"},
        {"name": "never", "regex": "^nothing$"},
    ]
    target = make_target(drop, watch=rules)
    poll(store, target, clock)
    put(drop, "in/contract-7.PDF", b"x" * 10)
    put(drop, "in/contract-7.txt", b"x" * 10)
    put(drop, "in/huge.bin", b"x" * 2000)
    result = poll(store, target, clock)
    got = {a["payload"]["rule"]: a for a in alerts(store, "watch")}
    assert set(got) == {"contracts", "big"}
    assert [i["path"] for i in got["contracts"]["payload"]["items"]] == ["in/contract-7.PDF"]
    assert [i["path"] for i in got["big"]["payload"]["items"]] == ["in/huge.bin"]
    assert got["big"]["snapshot_id"] == result.snapshot_id
    put(drop, "in/huge.bin", b"y" * 3000, mtime=1_700_000_100)  # still big: no new alert
    put(drop, "in/grows.bin", b"y" * 10)
    poll(store, target, clock)
    assert len(alerts(store, "watch")) == 2
    put(drop, "in/grows.bin", b"y" * 1500, mtime=1_700_000_100)  # now it is big
    grown = poll(store, target, clock)
    (third,) = [a for a in alerts(store, "watch") if a["snapshot_id"] == grown.snapshot_id]
    assert [(i["path"], i["change"]) for i in third["payload"]["items"]] == [
        ("in/grows.bin", "modified")
    ]


def test_an_upload_renamed_from_its_temporary_name(store: Store, drop: Path, clock: Clock) -> None:
    target = make_target(drop, settle="1h", watch=[{"name": "pdf", "types": ["pdf"]}])
    poll(store, target, clock)
    put(drop, "in/.contract.pdf.Xa81", b"x" * 100)
    poll(store, target, clock)
    assert alerts(store, "watch") == []
    (drop / "in/.contract.pdf.Xa81").rename(drop / "in/contract.pdf")
    moved = poll(store, target, clock)
    assert moved.moved == 1
    (hit,) = alerts(store, "watch")
    assert [(i["path"], i["change"]) for i in hit["payload"]["items"]] == [
        ("in/contract.pdf", "moved")
    ]
    clock.advance(hours=1)
    poll(store, target, clock)
    (settled,) = alerts(store, "batch_settled")
    assert [i["path"] for i in settled["payload"]["items"]] == ["in/contract.pdf"]


def test_down_after_n_failures_then_recovered_once(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    root = tmp_path / "gone"
    root.mkdir()
    target = make_target(root, down_after=3)
    poll(store, target, clock)
    root.rmdir()
    first_failure = clock.now
    failed = [poll(store, target, clock) for _ in range(4)]
    assert [r.status for r in failed] == ["failed"] * 4
    (down,) = alerts(store, "down")
    assert down["snapshot_id"] == failed[2].snapshot_id
    assert down["payload"]["failures"] == 3
    assert down["payload"]["since"] == first_failure.isoformat()
    assert str(root) in down["payload"]["error"]
    root.mkdir()
    back = poll(store, target, clock)
    poll(store, target, clock)
    (recovered,) = alerts(store, "recovered")
    assert recovered["snapshot_id"] == back.snapshot_id
    assert recovered["payload"]["failures"] == 4
    assert recovered["payload"]["down_since"] == first_failure.isoformat()


def test_a_suspect_listing_ends_a_down_streak(store: Store, tmp_path: Path, clock: Clock) -> None:
    root = tmp_path / "back"
    root.mkdir()
    for i in range(20):
        put(root, f"f{i:02d}")
    target = make_target(root, down_after=2, suspect_min_removed=1)
    poll(store, target, clock)
    away = tmp_path / "away"
    root.rename(away)
    poll(store, target, clock)
    poll(store, target, clock)
    root.mkdir()
    put(root, "f00")  # back, with most files missing
    held = poll(store, target, clock)
    assert held.status == "suspect"
    assert [a["kind"] for a in alerts(store)] == ["down", "suspect", "recovered"]
    assert alerts(store, "recovered")[0]["snapshot_id"] == held.snapshot_id


def test_a_short_failure_streak_raises_nothing(store: Store, tmp_path: Path, clock: Clock) -> None:
    root = tmp_path / "flaky"
    root.mkdir()
    target = make_target(root, down_after=3)
    poll(store, target, clock)
    root.rmdir()
    poll(store, target, clock)
    poll(store, target, clock)
    root.mkdir()
    poll(store, target, clock)
    assert alerts(store) == []


def test_a_held_suspect_snapshot_is_alerted(store: Store, drop: Path, clock: Clock) -> None:
    for i in range(10):
        put(drop, f"d/f{i}.txt")
    target = make_target(drop, suspect_min_removed=1)
    poll(store, target, clock)
    for i in range(6):
        (drop / f"d/f{i}.txt").unlink()
    held = poll(store, target, clock)
    (alert,) = alerts(store, "suspect")
    assert alert["snapshot_id"] == held.snapshot_id
    assert (alert["payload"]["removed"], alert["payload"]["files_before"]) == (6, 10)
    assert "6 of 10 files vanished" in alert["payload"]["reason"]


def test_stale_once_per_quiet_spell(store: Store, drop: Path, clock: Clock) -> None:
    target = make_target(drop, stale_after="2h")
    poll(store, target, clock)  # watching since T0
    for _ in range(4):
        poll(store, target, clock)
    (stale,) = alerts(store, "stale")
    assert stale["payload"]["last_arrival"] is None
    assert stale["payload"]["quiet_for"] == "2h"
    assert stale["created_at"].replace(tzinfo=UTC) == T0 + timedelta(hours=2)
    put(drop, "new.txt")
    arrival = clock.now
    for _ in range(6):
        poll(store, target, clock)
    second = alerts(store, "stale")[1]
    assert second["payload"]["last_arrival"] == arrival.isoformat()
    assert len(alerts(store, "stale")) == 2


def test_hostile_names_survive_in_the_payload(store: Store, drop: Path, clock: Clock) -> None:
    target = make_target(drop, watch=[{"name": "all", "glob": "*"}])
    poll(store, target, clock)
    name = "<script>alert(1)</script>\n\u202eexe.pdf \"'&"
    put(drop, name, b"x")
    raw = b"bad-\xff-name"
    (drop / raw.decode("utf-8", "surrogateescape")).write_bytes(b"y")
    poll(store, target, clock)
    (alert,) = alerts(store, "watch")
    paths = {i["path"] for i in alert["payload"]["items"]}
    assert paths == {name, raw.decode("utf-8", "surrogateescape")}


def test_an_alert_key_is_written_once(store: Store) -> None:
    with store.write() as conn:
        first = insert_alert(conn, kind="digest", key="digest:x", payload={}, now=T0)
        again = insert_alert(conn, kind="digest", key="digest:x", payload={"a": 1}, now=T0)
    assert first is not None and again is None
    assert [a["payload"] for a in alerts(store)] == [{}]
