"""Batches over the API against ``monitor batches`` / ``monitor batch``, the review actions and
their audit trail, the queue, exports of a batch, and who may do what."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import httpx

from tests.api.conftest import AUTH, FORMULA, Api, session_csrf
from tests.views.conftest import BAD_BYTES, HOSTILE, paris

#: The "/" in the formula's name makes a folder: its batch's folder is a formula too.
FORMULA_FOLDER = FORMULA.split("/")[0]


def by_id(api: Api) -> dict[int, dict[str, Any]]:
    return {b["batch"]: b for b in api.cli.json("batches")}


def batch_with(api: Api, path: str) -> int:
    for batch_id in by_id(api):
        if any(f["path"] == path for f in api.cli.json("batch", str(batch_id))["files"]):
            return batch_id
    raise AssertionError(f"no batch holds {path!r}")


def test_batch_list_and_filters_match_the_cli(api: Api) -> None:
    cli = by_id(api)
    page = api.get("/api/batches", params={"limit": 1000})
    assert [b["id"] for b in page["items"]] == sorted(cli, reverse=True)
    assert page["total"] == len(cli)
    for b in page["items"]:
        theirs = cli[b["id"]]
        assert (b["folder"] or "/", b["files"], b["bytes"], b["status"], b["review"]) == (
            theirs["folder"], theirs["files"], theirs["bytes"], theirs["status"], theirs["review"]
        )  # fmt: skip
        assert datetime.fromisoformat(b["opened_at"]) == datetime.fromisoformat(theirs["opened"])
    settled = api.get("/api/batches", params={"status": "settled"})
    assert {b["id"] for b in settled["items"]} == {
        i for i, b in cli.items() if b["status"] == "settled"
    }
    on_25 = api.get("/api/batches", params={"start": "2026-11-25", "end": "2026-11-25"})
    assert {b["folder"] for b in on_25["items"]} == {FORMULA_FOLDER, "ep05"}
    second = api.get("/api/batches", params={"offset": 1, "limit": 2})
    assert [b["id"] for b in second["items"]] == sorted(cli, reverse=True)[1:3]
    with api.token() as client:
        assert client.get("/api/batches", params={"target": "nope"}).status_code == 404
        for params in ({"review": "maybe"}, {"status": "closed"}, {"limit": 0}, {"limit": 1001},
                       {"start": "2026-11-30", "end": "2026-11-01"}):  # fmt: skip
            assert client.get("/api/batches", params=params).status_code == 422, params


def test_batch_detail_and_exports_match_the_cli(api: Api) -> None:
    batch_id = batch_with(api, HOSTILE)
    cli = api.cli.json("batch", str(batch_id))
    detail = api.get(f"/api/batches/{batch_id}")
    assert detail["batch"]["id"] == batch_id and detail["batch"]["files"] == 2
    keys = ("path", "size", "change", "now", "url")
    assert [[f[k] for k in keys] for f in detail["files"]["items"]] == [
        [f[k] for k in keys] for f in cli["files"]
    ]
    files = api.get(f"/api/batches/{batch_id}/files", params={"offset": 1, "limit": 1})
    assert files["total"] == 2 and files["items"] == detail["files"]["items"][1:]
    with api.token() as client:
        exported = client.get(f"/api/batches/{batch_id}.json")
        assert client.get("/api/batches/999").status_code == 404
        assert client.get("/api/batches/999.csv").status_code == 404
        assert client.get("/api/batches/0").status_code == 422
    assert exported.headers["content-disposition"].startswith(
        f'attachment; filename="batch-{batch_id}.json"'
    )
    assert same_instants(exported.json()) == same_instants(cli)


def same_instants(data: Any) -> Any:
    """``data`` with every ISO time as an aware datetime (the CLI writes some in UTC)."""
    if isinstance(data, dict):
        return {k: same_instants(v) for k, v in data.items()}
    if isinstance(data, list):
        return [same_instants(v) for v in data]
    if isinstance(data, str) and len(data) >= 25 and data[10:11] == "T":
        try:
            return datetime.fromisoformat(data)
        except ValueError:
            return data
    return data


def test_batch_csv_neutralises_formulas_and_keeps_hostile_names(api: Api) -> None:
    root = batch_with(api, FORMULA)
    bad = batch_with(api, BAD_BYTES)
    with api.token() as client:
        response = client.get(f"/api/batches/{root}.csv")
        hostile = client.get(f"/api/batches/{bad}.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["path"] for r in rows] == ["'" + FORMULA]
    assert rows[0]["folder"] == "'" + FORMULA_FOLDER and rows[0]["batch"] == str(root)
    paths = [r["path"] for r in csv.DictReader(io.StringIO(hostile.text))]
    assert "ep03/bad\\xff.txt" in paths and "ep03/crlf\r\nname.txt" in paths
    export = api.get(f"/api/batches/{root}.json")
    assert export["folder"] == FORMULA_FOLDER and export["files"][0]["path"] == FORMULA


def events(api: Api, batch_id: int) -> list[tuple[str, str, str, str | None]]:
    trail = api.get(f"/api/batches/{batch_id}")["events"]
    return [(e["actor"], e["from_status"], e["to_status"], e["note"]) for e in trail]


def test_review_by_token_and_by_session_is_an_audit_trail(api: Api) -> None:
    batch_id = batch_with(api, HOSTILE)
    api.world.clock.now = paris("2026-11-26T10:00")
    with api.token() as robot:
        flagged = robot.post(
            f"/api/batches/{batch_id}/review", json={"status": "flagged", "note": "odd names"}
        )
    assert flagged.status_code == 200, flagged.text
    row = flagged.json()
    assert (row["review"], row["reviewed_by"], row["note"]) == ("flagged", "robot", "odd names")
    assert row["reviewed_at"] == "2026-11-26T10:00:00+01:00"
    with api.session("ana") as ana:
        token = session_csrf(ana)
        refused = ana.post(f"/api/batches/{batch_id}/review", json={"status": "reviewed"})
        assert refused.status_code == 403
        done = ana.post(
            f"/api/batches/{batch_id}/review",
            json={"status": "reviewed", "note": "harmless test files", "expect": "flagged"},
            headers={"X-CSRF-Token": token},
        )
        assert done.status_code == 200 and done.json()["reviewed_by"] == "ana"
        note = ana.post(
            f"/api/batches/{batch_id}/notes",
            json={"note": "told the vendor"},
            headers={"X-CSRF-Token": token},
        )
        assert note.status_code == 200 and note.json()["review"] == "reviewed"
    # A second reviewer sees who reviewed it and why, here and in the CLI.
    with api.session("ben") as ben:
        trail = ben.get(f"/api/batches/{batch_id}").json()["events"]
    assert [(e["actor"], e["from_status"], e["to_status"], e["note"]) for e in trail] == [
        ("robot", "new", "flagged", "odd names"),
        ("ana", "flagged", "reviewed", "harmless test files"),
        ("ana", "reviewed", "reviewed", "told the vendor"),
    ]
    cli = api.cli.json("batch", str(batch_id))
    assert [(e["actor"], e["to_status"], e["note"]) for e in cli["events"]] == [
        (e["actor"], e["to_status"], e["note"]) for e in trail
    ]
    assert (cli["review"], cli["reviewed_by"], cli["note"]) == (
        "reviewed",
        "ana",
        "told the vendor",
    )


def test_bulk_review_is_all_or_nothing(api: Api) -> None:
    ids = sorted(by_id(api))
    first, second = ids[0], ids[1]
    with api.token() as robot:
        missing = robot.post(
            "/api/batches/review", json={"ids": [first, 999], "status": "dismissed"}
        )
        assert missing.status_code == 404 and missing.json() == {"detail": "no batch 999"}
        assert events(api, first) == []
        done = robot.post(
            "/api/batches/review",
            json={"ids": [second, first, second], "status": "dismissed", "note": "noise"},
        )
        assert done.status_code == 200, done.text
        assert [(b["id"], b["review"]) for b in done.json()] == [
            (second, "dismissed"), (first, "dismissed"),
        ]  # fmt: skip
        moved_on = robot.post(
            "/api/batches/review",
            json={"ids": [first, ids[2]], "status": "reviewed", "expect": "new"},
        )
        assert moved_on.status_code == 409
        assert f"batch {first} is dismissed by robot now" in moved_on.json()["detail"]
        for body in ({"ids": [], "status": "reviewed"}, {"ids": [first], "status": "done"},
                     {"ids": [first], "status": "reviewed", "note": "a\x00b"}):  # fmt: skip
            assert robot.post("/api/batches/review", json=body).status_code == 422, body
        blank = robot.post(f"/api/batches/{first}/notes", json={"note": "   "})
        assert blank.status_code == 422 and "needs some text" in blank.json()["detail"][0]["msg"]
    for batch_id in (first, second):
        assert events(api, batch_id) == [("robot", "new", "dismissed", "noise")]
    assert events(api, ids[2]) == []
    assert by_id(api)[first]["review"] == "dismissed"


def test_queue_walks_the_batches_to_review(api: Api) -> None:
    todo = sorted((i for i, b in by_id(api).items() if b["review"] == "new"), reverse=True)
    start = api.get("/api/queue")
    assert (start["previous"], start["next"], start["pending"]) == (None, todo[0], len(todo))
    middle = api.get("/api/queue", params={"current": todo[1]})
    assert (middle["previous"], middle["next"]) == (todo[0], todo[2])
    assert api.get(f"/api/batches/{todo[1]}")["queue"] == middle
    settled = api.get("/api/queue", params={"status": "open"})
    assert settled["pending"] == sum(1 for b in by_id(api).values() if b["status"] == "open")
    with api.token() as client:
        assert client.get("/api/queue", params={"current": 999}).status_code == 404


def test_login_or_token_required(api: Api) -> None:
    with api.client() as anonymous:
        for path in ("/api/dashboard", "/api/batches/1", "/api/openapi.json", "/api/batches/1.csv"):
            response = anonymous.get(path, headers={"Accept": "text/html"})
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["detail"].startswith("login required")
        post = anonymous.post("/api/batches/1/review", json={"status": "reviewed"})
        assert post.status_code in (401, 403)
        assert events(api, 1) == []
    with api.client(headers={"Authorization": "Bearer wrong"}) as wrong:
        assert wrong.get("/api/dashboard").status_code == 401
        assert wrong.post("/api/batches/1/review", json={"status": "reviewed"}).status_code == 401
    with api.session("ben") as ben:
        assert ben.get("/api/dashboard").status_code == 200
        bad_token = ben.post(
            "/api/batches/1/notes", json={"note": "x"}, headers={"X-CSRF-Token": "forged"}
        )
        assert bad_token.status_code == 403
    with httpx.Client(base_url=api.live.url, headers=AUTH) as robot:
        # A token needs no CSRF token: no browser sends it by itself.
        assert robot.post("/api/batches/1/notes", json={"note": "seen"}).status_code == 200
    assert events(api, 1) == [("robot", "new", "new", "seen")]
