"""The review pages on a real server: the day diff (and its exports), the batches list, a
batch's page with previews and its trail, the review forms, and archived bodies.

The data comes from real polls of a local target (the view tests' four days, and batches whose
bodies are archived); the day diff's numbers are checked against ``monitor diff --day``, and
the HTML is read with a parser, not grepped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from monitor.web.files import SANDBOX_CSP
from monitor.web.pages._overview import shown
from tests.archive.helpers import archive
from tests.helpers import Clock, put
from tests.views.conftest import HOSTILE, World, four_days, paris
from tests.web.conftest import HTML, PASSWORD, LiveApp, csrf_of, login
from tests.web.pages.helpers import PagesSite, pages_world
from tests.web.test_files import filename_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n'
PAGE = b"<!doctype html><html><body><script>alert(1)</script><b>bold</b></body></html>\n"
NOTES = "first line\nsecond line with <b>tags</b> & \u202eevil\n"
RTL = "ep02/\u202egnp.exe"
CJK = "ep02/한국어 日本語.txt"
LONG = "ep02/" + "long-name-" * 24 + ".txt"
FORMULAS = ["=HYPERLINK(1).txt", "+1.txt", "-2.txt", "@SUM(A1).txt", "\tTAB.txt", "\rCR.txt"]


Site = PagesSite


@pytest.fixture
def make_site(
    tmp_path: Path,
    db_url: str,
    drop: Path,
    clock: Clock,
    password_hash: str,
    serve: Callable[..., LiveApp],
) -> Iterator[Callable[[Callable[[World], None]], Site]]:
    made: list[World] = []

    def make(fill: Callable[[World], None]) -> Site:
        world = pages_world(
            tmp_path, db_url, drop, clock, password_hash,
            target_extra="archive = { enabled = true }\n",
        )  # fmt: skip
        made.append(world)
        fill(world)
        live = serve(world.settings, store=world.store, clock=clock)
        client = live.client()
        assert login(client).status_code == 303
        return Site(world, live, client)

    yield make
    for world in made:
        world.store.close()


def batches_world(world: World) -> None:
    """Batch 1 (ep01): a PNG, a text, an SVG and an HTML body, archived. Batch 2 (ep02):
    hostile names, archived. Batch 3 (ep03): not archived."""
    drop = world.drop
    put(drop, "root.txt", b"r")
    world.poll("2026-11-20T10:00")
    put(drop, "ep01/a.png", PNG, mtime=1_700_000_001)
    put(drop, "ep01/notes.txt", NOTES.encode(), mtime=1_700_000_002)
    put(drop, "ep01/icon.svg", SVG, mtime=1_700_000_003)
    put(drop, "ep01/page.html", PAGE, mtime=1_700_000_004)
    put(drop, "ep01/big.log", b"0123456789abcdef" * 1024, mtime=1_700_000_005)
    for rel in (HOSTILE, RTL, CJK, LONG):
        put(drop, rel, PNG if rel.endswith(".png") else b"h", mtime=1_700_000_006)
    world.poll("2026-11-20T11:00")
    archive(world.store, world.settings, paris("2026-11-20T11:05"))
    put(drop, "ep03/later.txt", b"later", mtime=1_700_000_007)
    world.poll("2026-11-20T12:30")
    world.clock.now = paris("2026-11-20T13:00")


@pytest.fixture
def days_site(make_site: Callable[[Callable[[World], None]], Site]) -> Site:
    def fill(world: World) -> None:
        four_days(world)
        world.clock.now = paris("2026-11-24T14:00")

    return make_site(fill)


@pytest.fixture
def batches_site(make_site: Callable[[Callable[[World], None]], Site]) -> Site:
    return make_site(batches_world)


# -- the day diff ------------------------------------------------------------------------------


def folder_counts(report: dict[str, Any]) -> dict[str, Counter[str]]:
    """Counts and bytes of changes under every folder, from ``monitor diff`` JSON."""
    found: dict[str, Counter[str]] = {}
    changes = [("added", e) for e in report["added"]] + [("removed", e) for e in report["removed"]]
    changes += [("modified", m["after"]) for m in report["modified"]]
    changes += [("moved", m["entry"]) for m in report["moved"]]
    for kind, entry in changes:
        parts = entry["path"].split("/")[:-1]
        for depth in range(len(parts) + 1):
            counter = found.setdefault("/".join(parts[:depth]), Counter())
            counter[kind] += 1
            counter["bytes"] += (entry["size"] or 0) if entry["type"] == "file" else 0
    return found


def page_counts(page: LexborHTMLParser) -> dict[str, Counter[str]]:
    found = {}
    for node in page.css(".tree [data-folder]"):
        attrs = node.attributes
        found[attrs["data-folder"] or ""] = Counter(
            {
                k: int(attrs[f"data-{k}"] or 0)
                for k in ("added", "removed", "modified", "moved", "bytes")
            }
        )
    return found


@pytest.mark.parametrize("day", ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-24"])
def test_day_page_numbers_and_tree_equal_monitor_diff(days_site: Site, day: str) -> None:
    report = days_site.world.cli.json("diff", "drop", "--day", day)
    page = days_site.page(f"/targets/drop/days/{day}")
    summary = {n.attributes["data-count"]: n for n in page.css("[data-summary] [data-count]")}
    for kind in ("added", "removed", "modified", "moved"):
        assert int(summary[kind].text()) == report["summary"][kind], kind
    assert summary["bytes_added"].attributes["title"] == f"{report['summary']['bytes_added']} bytes"
    expected = folder_counts(report)
    found = page_counts(page)
    assert set(found) == {shown(f) for f in expected}
    for folder, counter in expected.items():
        assert found[shown(folder)] == counter + Counter(), folder
    # Every change is listed once, by its path, as text.
    listed = Counter(n.attributes["data-path"] for n in page.css("li.change"))
    paths = [e["path"] for e in report["added"] + report["removed"]]
    paths += [m["path"] for m in report["modified"]] + [m["to"] for m in report["moved"]]
    assert listed == Counter(shown(p) for p in paths)
    assert page.css("main img") == [] and page.css("main script") == []


def test_day_page_shows_hostile_names_as_text_and_links_days(days_site: Site) -> None:
    page = days_site.page("/targets/drop/days/2026-11-20")
    link = page.css_first(f'li.change[data-path="{HOSTILE}"] a.path')
    assert link.text() == HOSTILE.rpartition("/")[2]
    assert link.attributes["title"] == HOSTILE
    assert link.attributes["href"].startswith("/targets/drop/history?path=ep02/%3Cimg")
    assert page.css_first("a[rel=prev]").attributes["href"] == "/targets/drop/days/2026-11-19"
    assert page.css_first("a[rel=next]").attributes["href"] == "/targets/drop/days/2026-11-21"
    latest = days_site.page("/targets/drop/days/2026-11-24")
    assert latest.css_first("a[rel=next]") is None  # the clock says it is the 24th
    today = days_site.client.get("/targets/drop/days/today", headers=HTML)
    assert (today.status_code, today.headers["location"]) == (303, "/targets/drop/days/2026-11-24")
    days_site.page("/targets/drop/days/2026-13-01", status=404)
    days_site.page("/targets/nobody/days/2026-11-20", status=404)


def test_day_page_filters(days_site: Site) -> None:
    def numbers(query: str) -> dict[str, int]:
        page = days_site.page(f"/targets/drop/days/2026-11-21?{query}")
        return {
            n.attributes["data-count"] or "": int(n.text())
            for n in page.css("[data-summary] [data-count]")
            if n.attributes["data-count"] != "bytes_added"
        }

    everything = days_site.world.cli.json("diff", "drop", "--day", "2026-11-21")["summary"]
    assert numbers("") == {k: everything[k] for k in ("added", "removed", "modified", "moved")}
    assert numbers("kind=removed&kind=moved") == {
        "added": 0, "removed": 1, "modified": 0, "moved": 1
    }  # fmt: skip
    assert numbers("ext=png") == {"added": 1, "removed": 0, "modified": 0, "moved": 0}
    assert numbers("min_size=1k") == {"added": 1, "removed": 0, "modified": 0, "moved": 0}
    assert numbers("path=crlf") == {"added": 1, "removed": 0, "modified": 0, "moved": 0}
    assert numbers("path=ep01/**") == {"added": 0, "removed": 0, "modified": 0, "moved": 1}
    assert numbers("folder=ep03") == {"added": 5, "removed": 0, "modified": 0, "moved": 0}
    page = days_site.page("/targets/drop/days/2026-11-21?kind=added&ext=png")
    assert "checked" in page.css_first("input[name=kind][value=added]").attributes
    assert "checked" not in page.css_first("input[name=kind][value=removed]").attributes
    assert page.css_first("input[name=ext]").attributes["value"] == "png"
    export = page.css_first('a[href*=".csv"]').attributes["href"]
    assert export == "/targets/drop/days/2026-11-21.csv?kind=added&ext=png"
    days_site.page("/targets/drop/days/2026-11-21?min_size=lots", status=400)
    days_site.page("/targets/drop/days/2026-11-21?kind=exploded", status=400)


def test_day_exports_are_monitor_diff(days_site: Site) -> None:
    cli = days_site.world.cli
    as_json = days_site.client.get("/targets/drop/days/2026-11-21.json")
    assert as_json.status_code == 200
    assert as_json.headers["content-type"].startswith("application/json")
    assert filename_of(as_json.headers["content-disposition"]) == "drop-2026-11-21.json"
    assert as_json.headers["content-disposition"].startswith("attachment;")
    assert json.loads(as_json.text) == cli.json("diff", "drop", "--day", "2026-11-21")
    as_csv = days_site.client.get("/targets/drop/days/2026-11-21.csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    # The test runner reads the CLI's output with universal newlines: CR LF becomes LF.
    rows = list(csv.DictReader(io.StringIO(as_csv.text.replace("\r\n", "\n"))))
    text = cli("diff", "drop", "--day", "2026-11-21", "--format", "csv")
    expected = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(expected) == 11
    for got, want in zip(rows, expected, strict=True):
        assert {k: got[k] for k in want} == want
    assert all(row["url"].startswith("file://") for row in rows)
    filtered = days_site.client.get("/targets/drop/days/2026-11-21.json?kind=removed")
    assert [e["path"] for e in filtered.json()["removed"]] == ["gone.txt"]
    assert filtered.json()["added"] == [] and filtered.json()["summary"]["removed"] == 1


def test_csv_export_neutralises_formulas(
    make_site: Callable[[Callable[[World], None]], Site],
) -> None:
    def fill(world: World) -> None:
        world.poll("2026-11-20T10:00")
        for name in FORMULAS:
            put(world.drop, name, b"=1+1")
        world.poll("2026-11-20T11:00")
        world.clock.now = paris("2026-11-20T12:00")

    site = make_site(fill)
    text = site.client.get("/targets/drop/days/2026-11-20.csv").text
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert sorted(r[1] for r in rows) == sorted("'" + n for n in FORMULAS)
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row
    batch = site.client.get("/batches/1.csv").text
    cells = [cell for row in list(csv.reader(io.StringIO(batch)))[1:] for cell in row]
    assert "'=HYPERLINK(1).txt" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


# -- batches -----------------------------------------------------------------------------------


def test_batch_page_shows_files_previews_downloads_and_trail(batches_site: Site) -> None:
    page = batches_site.page("/batches/1")
    paths = [a.text() for a in page.css("table.files a.path")]
    assert paths == ["ep01/a.png", "ep01/big.log", "ep01/icon.svg", "ep01/notes.txt",
                     "ep01/page.html"]  # fmt: skip
    history = page.css_first("table.files a.path").attributes["href"]
    assert history == "/targets/drop/history?path=ep01/a.png"
    # Only the PNG is an image; its <img> asks for the body inline, through the batch.
    images = page.css("main img")
    assert len(images) == 1
    src = images[0].attributes["src"] or ""
    assert src.startswith("/batches/1/files/") and src.endswith("/body?inline=1")
    assert images[0].attributes["alt"] == "ep01/a.png"
    # Text bodies are shown as text (the SVG's and the HTML's scripts too), never as markup.
    texts = {
        fig.css_first("figcaption .path").text(): fig.css_first("pre").text()
        for fig in page.css("figure.text-preview")
    }
    assert texts["ep01/notes.txt"] == NOTES.replace("\u202e", "\\u202e")
    assert texts["ep01/icon.svg"] == SVG.decode()
    assert texts["ep01/page.html"] == PAGE.decode()
    assert texts["ep01/big.log"].startswith("0123456789abcdef") and "…" in texts["ep01/big.log"]
    assert [s.attributes["src"] for s in page.css("script")] == [
        "/static/app.js", "/static/review.js"
    ]  # fmt: skip
    assert page.css("main svg, main iframe, main object, main embed") == []
    # Every archived body has a download link that answers with the body.
    downloads = page.css("table.files a.download")
    assert len(downloads) == 5
    for a in downloads:
        body = batches_site.client.get(a.attributes["href"] or "")
        assert body.status_code == 200
        assert body.headers["content-disposition"].startswith("attachment;")
    assert page.css_first("[data-review]").attributes["data-review"] == "new"
    assert page.css_first("ol.trail") is None  # nobody reviewed it yet
    assert page.css_first('a[href="/batches/1.csv"]') is not None


def test_file_history_links_the_archived_body(batches_site: Site) -> None:
    page = batches_site.page("/targets/drop/history?path=ep01/a.png")
    (link,) = page.css("td.archive a[download]")
    body = batches_site.client.get(link.attributes["href"] or "")
    assert body.status_code == 200 and body.content == PNG
    assert body.headers["content-disposition"].startswith("attachment;")
    later = batches_site.page("/targets/drop/history?path=ep03/later.txt")
    assert later.css("td.archive a") == []  # not archived: nothing to download


def test_batch_page_without_archive_and_hostile_names(batches_site: Site) -> None:
    later = batches_site.page("/batches/3")
    assert later.css("figure.preview") == [] and later.css("a.download") == []
    assert "not archived" in later.css_first("table.files").text()
    page = batches_site.page("/batches/2")
    links = {a.text(): a.attributes for a in page.css("table.files a.path")}
    assert set(links) == {shown(p) for p in (HOSTILE, RTL, CJK, LONG)}
    assert "ep02/\\u202egnp.exe" in links  # the override is shown, not obeyed
    assert links[HOSTILE]["title"] == f"History of {HOSTILE}"
    image = page.css_first("main img")
    assert image.attributes["alt"] == HOSTILE and image.attributes["title"] == HOSTILE
    assert [s.attributes["src"] for s in page.css("script")] == [
        "/static/app.js", "/static/review.js"
    ]  # fmt: skip
    hostile = next(f for f in page.css("figure.image-preview"))
    download = hostile.css_first("a[download]").attributes["href"] or ""
    response = batches_site.client.get(download)
    assert filename_of(response.headers["content-disposition"]) == HOSTILE.rpartition("/")[2]
    assert hashlib.sha256(response.content).hexdigest() == hashlib.sha256(PNG).hexdigest()


@pytest.mark.parametrize(
    ("name", "inline"),
    [("a.png", True), ("icon.svg", False), ("page.html", False), ("notes.txt", False)],
)
def test_only_safe_images_are_served_inline(batches_site: Site, name: str, inline: bool) -> None:
    page = batches_site.page("/batches/1")
    row = next(
        r for r in page.css("table.files tbody tr") if r.css_first("a.path").text().endswith(name)
    )
    url = row.css_first("a.download").attributes["href"] or ""
    response = batches_site.client.get(url + "?inline=1")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == SANDBOX_CSP
    disposition = response.headers["content-disposition"]
    if inline:
        assert disposition.startswith("inline;")
        assert response.headers["content-type"] == "image/png"
    else:
        assert disposition.startswith("attachment;")
        assert response.headers["content-type"] == "application/octet-stream"
    assert filename_of(disposition) == name


def test_numbers_no_database_can_hold_are_refused_not_errors(batches_site: Site) -> None:
    huge = "99999999999999999999"
    for url in [
        f"/batches/{huge}", f"/batches/{huge}.csv", f"/batches/1/files/{huge}/body",
        f"/batches?offset={huge}", f"/batches/1?offset={huge}", f"/targets/drop?offset={huge}",
    ]:  # fmt: skip
        assert batches_site.client.get(url).status_code == 422, url
    for day in ["0001-01-01", "9999-12-31"]:
        assert batches_site.client.get(f"/targets/drop/days/{day}").status_code == 404, day


def test_bodies_only_of_the_batch_and_only_archived(batches_site: Site) -> None:
    page = batches_site.page("/batches/1")
    url = page.css_first("table.files a.download").attributes["href"] or ""
    version = url.split("/")[4]
    assert batches_site.client.get(f"/batches/2/files/{version}/body").status_code == 404
    assert batches_site.client.get(f"/batches/99/files/{version}/body").status_code == 404
    later = batches_site.page("/batches/3")
    not_archived = later.css_first("tr[data-version]").attributes["data-version"]
    assert batches_site.client.get(f"/batches/3/files/{not_archived}/body").status_code == 404
    anonymous = batches_site.live.client()
    assert anonymous.get(url).status_code == 401


def test_review_needs_the_csrf_token_and_leaves_a_trail(batches_site: Site) -> None:
    form = {"status": "flagged", "note": "looks like <b>credentials</b>"}
    refused = batches_site.client.post("/batches/1/review", data=form, headers=HTML)
    assert refused.status_code == 403 and batches_site.events() == []
    token = batches_site.csrf("/batches/1")
    done = batches_site.client.post(
        "/batches/1/review", data={**form, "csrf_token": token}, headers=HTML
    )
    assert (done.status_code, done.headers["location"]) == (303, "/batches/1")
    assert batches_site.events() == [(1, "ana", "new", "flagged", "looks like <b>credentials</b>")]
    note = batches_site.client.post(
        "/batches/1/review", data={"note": "asked the owner", "csrf_token": token}, headers=HTML
    )
    assert note.status_code == 303
    assert batches_site.events()[-1] == (1, "ana", "flagged", "flagged", "asked the owner")
    empty = batches_site.client.post("/batches/1/review", data={"csrf_token": token}, headers=HTML)
    assert empty.status_code == 400 and len(batches_site.events()) == 2
    bad = batches_site.client.post(
        "/batches/1/review", data={"status": "burnt", "csrf_token": token}, headers=HTML
    )
    assert bad.status_code == 400 and len(batches_site.events()) == 2

    # A second reviewer sees who reviewed it and why.
    ben = batches_site.live.client()
    login(ben, "ben", PASSWORD)
    page = LexborHTMLParser(ben.get("/batches/1", headers=HTML).text)
    assert page.css_first("[data-review]").attributes["data-review"] == "flagged"
    assert page.css_first(".reviewer").text() == "ana"
    events = page.css("ol.trail li.event")
    assert [(e.attributes["data-actor"], e.attributes["data-to"]) for e in events] == [
        ("ana", "flagged"), ("ana", "flagged")
    ]  # fmt: skip
    assert events[0].css_first(".note").text() == "looks like <b>credentials</b>"
    assert events[0].css("b") == []
    assert events[1].css_first(".note").text() == "asked the owner"


def test_bulk_review_from_the_list(batches_site: Site) -> None:
    page = batches_site.page("/batches")
    assert [r.attributes["data-batch"] for r in page.css("tr[data-batch]")] == ["3", "2", "1"]
    token = csrf_of(batches_site.client.get("/batches", headers=HTML))
    form = {
        "csrf_token": token,
        "batch": ["1", "3"],
        "status": "dismissed",
        "note": "test uploads",
        "back": "/batches?review=new",
    }
    done = batches_site.client.post("/batches/review", data=form, headers=HTML)
    assert (done.status_code, done.headers["location"]) == (303, "/batches?review=new")
    assert batches_site.events() == [
        (1, "ana", "new", "dismissed", "test uploads"),
        (3, "ana", "new", "dismissed", "test uploads"),
    ]
    left = batches_site.page("/batches?review=new")
    assert [r.attributes["data-batch"] for r in left.css("tr[data-batch]")] == ["2"]
    dismissed = batches_site.page("/batches?review=dismissed")
    assert [r.attributes["data-batch"] for r in dismissed.css("tr[data-batch]")] == ["3", "1"]
    assert dismissed.css_first("tr[data-batch] .by").text() == "by ana"
    # Never back to another site; nothing ticked or no status changes nothing.
    away = batches_site.client.post(
        "/batches/review", data={**form, "back": "//evil.example/"}, headers=HTML
    )
    assert away.headers["location"] == "/batches"
    before = len(batches_site.events())
    for missing in ({"batch": []}, {"status": ""}):
        refused = batches_site.client.post(
            "/batches/review", data={**form, **missing}, headers=HTML
        )
        assert refused.status_code == 400
    unknown = batches_site.client.post(
        "/batches/review", data={**form, "batch": ["2", "99"]}, headers=HTML
    )
    assert unknown.status_code == 404
    assert len(batches_site.events()) == before
    no_token = {k: v for k, v in form.items() if k != "csrf_token"}
    assert (
        batches_site.client.post("/batches/review", data=no_token, headers=HTML).status_code == 403
    )


def test_batches_list_filters_and_queue(batches_site: Site) -> None:
    page = batches_site.page("/batches?status=open")
    assert [r.attributes["data-batch"] for r in page.css("tr[data-batch]")] == ["3"]
    settled = batches_site.page("/batches?status=settled&target=drop")
    assert [r.attributes["data-batch"] for r in settled.css("tr[data-batch]")] == ["2", "1"]
    selected = settled.css_first("select[name=status] option[selected]")
    assert selected.attributes["value"] == "settled"
    batches_site.page("/batches?target=nobody", status=404)
    middle = batches_site.page("/batches/2")
    assert middle.css_first('a[data-key="j"]').attributes["href"] == "/batches/1"
    assert middle.css_first('a[data-key="k"]').attributes["href"] == "/batches/3"
    keys = [b.attributes["data-key"] for b in middle.css("form#review button[data-key]")]
    assert keys == ["r", "f", "d"]


def test_batch_exports(batches_site: Site) -> None:
    as_json = batches_site.client.get("/batches/1.json")
    assert filename_of(as_json.headers["content-disposition"]) == "batch-1.json"
    data = as_json.json()
    assert data["batch"]["id"] == 1 and data["events"] == []
    assert data["files"][0]["path"] == "ep01/a.png"
    assert data["files"][0]["sha256"] == hashlib.sha256(PNG).hexdigest()
    as_csv = batches_site.client.get("/batches/1.csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["path"] for r in rows] == [f["path"] for f in data["files"]]
    assert batches_site.client.get("/batches/99.json").status_code == 404
