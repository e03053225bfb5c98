"""The pages' data over the API, value for value against what the CLI says of the same data."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from tests.api.conftest import FORMULA, Api
from tests.views.conftest import BAD_BYTES, CRLF, HOSTILE

DAYS = [date(2026, 11, d) for d in range(20, 27)]
SUMMARY = ("added", "removed", "modified", "moved", "bytes_added")


def moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def test_day_diff_and_its_json_export_are_the_cli_diff(api: Api) -> None:
    for day in DAYS:
        cli = api.cli.json("diff", "drop", "--day", day.isoformat())
        view = api.get(f"/api/targets/drop/days/{day}")
        assert {k: view[k] for k in cli} == cli
        assert view["total"] == view["summary"] == cli["summary"]
        with api.token() as client:
            export = client.get(f"/api/targets/drop/days/{day}.json")
        assert export.status_code == 200 and export.json() == cli
        assert export.headers["content-type"] == "application/json"
        assert export.headers["content-disposition"] == (
            f"attachment; filename=\"drop-{day}.json\"; filename*=UTF-8''drop-{day}.json"
        )
    added = [e["path"] for e in api.get("/api/targets/drop/days/2026-11-21")["added"]]
    assert {CRLF, BAD_BYTES} <= set(added)  # undecodable bytes come back as the same name


def test_day_diff_filters_and_caps(api: Api) -> None:
    url = "/api/targets/drop/days/2026-11-21"
    removed = api.get(url, params={"kind": "removed"})
    assert [e["path"] for e in removed["removed"]] == ["gone.txt"]
    assert removed["added"] == [] and removed["summary"]["removed"] == 1
    assert removed["filters"]["kinds"] == ["removed"]
    two = api.get(url, params=[("kind", "added"), ("kind", "moved")])
    counts = two["summary"]
    assert (counts["added"], counts["moved"], counts["removed"]) == (8, 1, 0)
    big = api.get(url, params={"min_size": 4})
    assert [e["path"] for e in big["added"]] == [BAD_BYTES, "ep03/deep/x.PNG", "ep04/late.txt"]
    png = api.get(url, params=[("ext", "png"), ("kind", "added")])
    assert [e["path"] for e in png["added"]] == ["ep03/deep/x.PNG"]
    glob = api.get(url, params={"path": "ep03/**", "folder": "ep03"})
    assert glob["summary"]["added"] == 5 and glob["total"]["added"] == 8
    capped = api.get(url, params={"limit": 1, "tree_limit": 0})
    assert len(capped["added"]) == 1 and capped["more"]["added"] == 7
    assert capped["tree"]["added"] == 8 and capped["tree"]["changes"] == []
    with api.token() as client:
        assert client.get(url, params={"kind": "renamed"}).status_code == 422
        assert client.get(url, params={"min_size": -1}).status_code == 422
        bad_glob = client.get(url, params={"path": "[z-a]*"})
        assert bad_glob.status_code == 422
        assert "path filter" in bad_glob.json()["detail"][0]["msg"]
        assert client.get("/api/targets/drop/days/2026-13-01").status_code == 422
        missing = client.get("/api/targets/nope/days/2026-11-21")
        assert missing.status_code == 404 and missing.json() == {"detail": "no target named 'nope'"}


def cli_csv(api: Api, day: date) -> list[dict[str, str]]:
    text = api.cli("diff", "drop", "--day", day.isoformat(), "--format", "csv")
    return list(csv.DictReader(io.StringIO(text)))


def test_day_csv_is_the_cli_csv_with_formulas_neutralised(api: Api) -> None:
    with api.token() as client:
        response = client.get("/api/targets/drop/days/2026-11-25.csv")
        day_21 = client.get("/api/targets/drop/days/2026-11-21.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="drop-2026-11-25.csv"'
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["change", "path", "type", "size", "mtime", "url", "detail"]
    cli = cli_csv(api, date(2026, 11, 25))
    assert [{k: r[k] for k in cli[0]} for r in rows] == cli
    formula = next(r for r in rows if FORMULA in r["path"])
    assert formula["path"] == "'" + FORMULA  # a spreadsheet shows it, never runs it
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())
    hostile = {r["path"] for r in csv.DictReader(io.StringIO(day_21.text))}
    assert {CRLF, "ep03/bad\\xff.txt"} <= hostile  # CR LF kept inside a quoted cell
    day_20 = api.get("/api/targets/drop/days/2026-11-20")
    assert HOSTILE in [e["path"] for e in day_20["added"]]


def test_dashboard_and_target_page_match_the_cli(api: Api) -> None:
    board = api.get("/api/dashboard", params={"days": 7})
    (card,) = board["targets"]
    snapshots = api.cli.json("snapshots", "drop")
    latest = max(snapshots, key=lambda s: s["snapshot"])
    assert card["last_poll"]["snapshot"] == latest["snapshot"]
    assert card["last_poll"]["status"] == latest["status"]
    listing = api.cli.json("ls", "drop")
    assert card["files"] == sum(1 for e in listing if e["type"] == "file")
    pending = api.cli.json("batches", "--review", "new")
    assert card["pending"]["open"] + card["pending"]["settled"] == len(pending)
    assert board["timezone"] == "Europe/Paris" and board["days"][-1] == "2026-11-26"
    page = api.get("/api/targets/drop", params={"start": "2026-11-20", "end": "2026-11-26"})
    assert [d["day"] for d in page["days"]] == [d.isoformat() for d in DAYS]
    for day in page["days"]:
        summary = api.cli.json("diff", "drop", "--day", day["day"])["summary"]
        assert {k: day[k] for k in SUMMARY} == summary
    arrivals = {a["day"]: a["files"] for a in card["arrivals"]}
    assert arrivals == {d["day"]: d["files_added"] for d in page["days"]}
    assert [s["id"] for s in page["snapshots"]["items"]] == sorted(
        (s["snapshot"] for s in snapshots), reverse=True
    )
    assert page["snapshots"]["total"] == len(snapshots)
    one = api.get("/api/targets/drop", params={"limit": 2, "offset": 1})["snapshots"]
    assert [s["id"] for s in one["items"]] == [s["id"] for s in page["snapshots"]["items"][1:3]]
    with api.token() as client:
        too_long = client.get("/api/targets/drop", params={"start": "2020-01-01"})
        assert too_long.status_code == 422 and "400 days" in too_long.json()["detail"][0]["msg"]
        assert client.get("/api/targets/drop", params={"limit": 1001}).status_code == 422
        assert client.get("/api/targets/no%20such").status_code == 422
        assert client.get("/api/targets/nope").status_code == 404


def versions(history: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (v["first_snapshot"], v["gone_snapshot"], v["size"], moment(v["first_seen"]))
        for v in history["versions"]
    ]


def test_history_matches_the_cli_even_for_undecodable_names(api: Api) -> None:
    for path in ("grow.txt", "ep01/moved.bin", "gone.txt"):
        history = api.get("/api/targets/drop/history", params={"path": path})
        cli = api.cli.json("history", "drop", path)
        assert versions(history) == [
            (r["first_snapshot"], r["gone_snapshot"], r["size"], moment(r["seen"])) for r in cli
        ]
    grow = api.get("/api/targets/drop/history", params={"path": "grow.txt"})
    assert [v["size"] for v in grow["versions"]] == [1, 4] and grow["present"] is True
    # The name's bytes are b"bad\xff.txt": the query sends them as they are.
    bad = api.get("/api/targets/drop/history?path=ep03/bad%FF.txt")
    assert bad["path"] == BAD_BYTES and len(bad["versions"]) == 1
    with api.token() as client:
        raw = client.get("/api/targets/drop/history?path=ep03/bad%FF.txt")
        assert b'"ep03/bad\\udcff.txt"' in raw.content  # valid UTF-8 JSON, the byte escaped
        hostile = client.get("/api/targets/drop/history", params={"path": HOSTILE})
        assert hostile.status_code == 200 and hostile.json()["path"] == HOSTILE
        never = client.get("/api/targets/drop/history", params={"path": "nope.txt"})
        assert never.status_code == 404 and "was never seen" in never.json()["detail"]
        assert client.get("/api/targets/drop/history").status_code == 422
        assert client.get("/api/targets/drop/history?path=a%00b").status_code == 422


def test_search_and_paging(api: Api) -> None:
    found = api.get("/api/search", params={"q": "BAD"})
    assert [h["path"] for h in found["hits"]] == [BAD_BYTES]
    literal = api.get("/api/search", params={"q": "50%_"})
    assert [(h["path"], h["present"]) for h in literal["hits"]] == [("ep02/50%_off.txt", False)]
    every = api.get("/api/search", params={"q": "ep0", "target": "drop"})
    paths = [h["path"] for h in every["hits"]]
    assert every["total"] == len(paths) and paths == sorted(paths)
    page = api.get("/api/search", params={"q": "ep0", "offset": 2, "limit": 3})
    assert [h["path"] for h in page["hits"]] == paths[2:5] and page["limit"] == 3
    with api.token() as client:
        for params in ({"q": ""}, {"q": "x", "limit": 0}, {"q": "x", "limit": 1001},
                       {"q": "x", "offset": -1}, {"q": "x\x00"}):  # fmt: skip
            assert client.get("/api/search", params=params).status_code == 422, params
        assert client.get("/api/search", params={"q": "x", "target": "nope"}).status_code == 404


def test_feed_is_the_newest_batches(api: Api) -> None:
    cli = {b["batch"]: b for b in api.cli.json("batches")}
    feed = api.get("/api/feed", params={"limit": 3})
    assert [e["id"] for e in feed["entries"]] == sorted(cli, reverse=True)[:3]
    for entry in feed["entries"]:
        mine = (entry["files"], entry["bytes"], entry["status"], entry["review"])
        theirs = cli[entry["id"]]
        assert mine == (theirs["files"], theirs["bytes"], theirs["status"], theirs["review"])
    settled = api.get("/api/feed", params={"settled": "true"})
    assert {e["id"] for e in settled["entries"]} == {
        i for i, b in cli.items() if b["status"] == "settled"
    }
    with api.token() as client:
        assert client.get("/api/feed", params={"limit": 501}).status_code == 422
