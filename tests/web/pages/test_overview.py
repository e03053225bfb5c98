"""The overview pages on a real server: dashboard, target page, file history, search, feed.

The world is the view tests' four days (tests/views/conftest.py: every kind of change, hostile
names) and one more poll that opens a batch of more hostile names; the numbers the pages show
are checked against the views and the CLI, and the HTML is read with a parser, not grepped.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from defusedxml import ElementTree as SafeET
from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.config import Settings
from monitor.views.dashboard import dashboard
from monitor.views.targets import target_page
from monitor.web.pages import search as search_page
from monitor.web.pages import targets as target_module
from tests.helpers import Clock, put
from tests.views.conftest import HOSTILE, PARIS, World, four_days, paris
from tests.web.conftest import HTML, TOKEN, LiveApp, login
from tests.web.pages.helpers import PagesSite, pages_world

ATOM = "{http://www.w3.org/2005/Atom}"
RTL = "ep06/\u202egnp.exe"
CJK = "ep06/한국어 日本語.txt"
LONG = "ep06/" + "long-name-" * 24 + ".txt"
QUOTE_FOLDER = '"><svg onload=alert(1)>'
NOW = "2026-11-24T14:00"


Overview = PagesSite


@pytest.fixture
def make_overview(
    tmp_path: Path,
    db_url: str,
    drop: Path,
    clock: Clock,
    password_hash: str,
    serve: Callable[..., LiveApp],
) -> Iterator[Callable[..., Overview]]:
    made: list[World] = []

    def make(extra: str = "", polls: bool = True) -> Overview:
        world = pages_world(tmp_path, db_url, drop, clock, password_hash, extra=extra)
        made.append(world)
        if polls:
            four_days(world)
            for rel in (RTL, CJK, LONG, f"{QUOTE_FOLDER}/x.txt"):
                put(drop, rel, b"h" * 3)
            world.poll("2026-11-24T13:00")  # a batch still open at NOW
        clock.now = paris(NOW)
        live = serve(world.settings, store=world.store, clock=clock)
        client = live.client()
        assert login(client).status_code == 303
        return Overview(world, live, client)

    yield make
    for world in made:
        world.store.close()


@pytest.fixture
def overview(make_overview: Callable[..., Overview]) -> Overview:
    return make_overview()


def heights(svg: LexborNode, kind: str | None = None) -> list[float]:
    rects = svg.css("rect.bar" + (f".{kind}" if kind else ""))
    return [float(r.attributes["height"] or "") for r in rects]


def assert_proportional(
    found: list[float], values: list[int], full: float, most: int | None = None
) -> None:
    """Each bar is ``value / most * full`` tall; ``most``: the chart's biggest value."""
    most = max(values) if most is None else most
    assert len(found) == len(values)
    for height, value in zip(found, values, strict=True):
        assert height == pytest.approx(value / most * full if most else 0, abs=0.01)


def text(node: LexborNode | None) -> str:
    assert node is not None
    return " ".join(node.text(deep=True, separator=" ").split())


# -- dashboard --------------------------------------------------------------------------------


def test_dashboard_shows_health_last_poll_pending_and_arrivals(overview: Overview) -> None:
    doc = overview.page("/")
    (card,) = doc.css("li.target-card")
    assert card.attributes["data-target"] == "drop"
    assert text(card.css_first(".card-head .badge")) == "✓ OK"
    assert "health-ok" in (card.css_first(".card-head .badge").attributes["class"] or "")
    last = text(card.css_first(".last-poll dd"))
    assert last == "2026-11-24 13:00:00 · complete · 15 files · 2.1 KiB"
    assert card.css_first(".last-poll time").attributes["datetime"] == "2026-11-24T13:00:00+01:00"
    cli_target = overview.world.cli.json("targets")[0]
    assert cli_target["files"] == 15
    size = card.css_first(".now dd span[title]")
    assert size.attributes["title"] == f"{cli_target['bytes']:,} bytes"
    link = card.css_first(".pending dd a")
    assert link.attributes["href"] == "/batches?target=drop&review=new"
    new = overview.world.cli.json("batches", "--review", "new")
    assert text(link) == f"{len(new)} batches" == "7 batches"
    assert text(card.css_first(".pending .muted")) == "(5 settled, 2 still arriving)"
    with overview.world.store.read() as conn:
        view = dashboard(conn, overview.settings, now=paris(NOW), zone=PARIS, days=14)
    files = [a.files for a in view.targets[0].arrivals]
    assert files[-5:] == [7, 5, 1, 0, 4]
    svg = card.css_first("svg.chart")
    assert svg.attributes["role"] == "img"
    assert "17 in all" in (svg.attributes["aria-label"] or "")
    assert_proportional(heights(svg), files, 40.0)
    titles = [text(t) for t in svg.css("rect title")]
    assert titles[-5:-2] == [
        "2026-11-20: 7 files added (172 B)",
        "2026-11-21: 5 files added (2.0 KiB)",
        "2026-11-22: 1 file added (6 B)",
    ]
    totals = [text(d) for d in doc.css(".totals .figures dd")]
    assert totals == ["1", "15", "2.1 KiB", "7"]


def test_a_target_never_polled_says_how_to_poll_it(
    make_overview: Callable[..., Overview],
) -> None:
    doc = make_overview(polls=False).page("/")
    (card,) = doc.css("li.target-card")
    assert text(card.css_first(".card-head .badge")) == "○ Never polled"
    assert "run monitor poll drop" in text(card.css_first(".last-poll dd"))


def test_dashboard_empty_state(settings: Settings, serve: Callable[..., LiveApp]) -> None:
    live = serve(settings)
    with live.client() as client:
        login(client)
        doc = LexborHTMLParser(client.get("/", headers=HTML).text)
    empty = doc.css_first(".empty-state")
    assert text(empty.css_first("h2")) == "Nothing is watched yet"
    steps = [text(li) for li in empty.css("ol > li")]
    assert any("[[target]]" in s for s in steps)
    assert any("monitor poll" in s for s in steps)
    assert doc.css("svg") == []


# -- target page ------------------------------------------------------------------------------


def test_target_page_charts_days_and_range(overview: Overview) -> None:
    doc = overview.page("/targets/drop?days=14")
    assert [text(a) for a in doc.css(".range a[aria-current]")] == ["14 days"]
    assert [a.attributes["href"] for a in doc.css(".range a")] == [
        "?days=14", "?days=30", "?days=90",
    ]  # fmt: skip
    with overview.world.store.read() as conn:
        view = target_page(conn, overview.settings, "drop", now=paris(NOW), zone=PARIS)
    days = view.days[-14:]
    files_svg, bytes_svg = doc.css("svg.chart.wide")
    kinds = ("added", "removed", "modified")
    for svg, measure in ((files_svg, "files"), (bytes_svg, "bytes")):
        values = {kind: [getattr(d, f"{measure}_{kind}") for d in days] for kind in kinds}
        most = max(max(v) for v in values.values())  # one scale for the three kinds
        for kind in kinds:
            assert_proportional(heights(svg, kind), values[kind], 60.0, most)
    assert [d.files_added for d in days[-5:]] == [7, 5, 1, 0, 4]
    assert files_svg.attributes["role"] == "img"
    assert "17 added, 2 removed, 1 modified" in (files_svg.attributes["aria-label"] or "")
    titles = [text(t) for t in files_svg.css("rect.added title")]
    assert titles[-4] == "2026-11-21: 5 files added"
    rows = doc.css("table.days tbody tr")
    assert [text(r.css_first("th")) for r in rows] == [
        "2026-11-24", "2026-11-22", "2026-11-21", "2026-11-20",
    ]  # fmt: skip
    link = rows[2].css_first("th a")
    assert link.attributes["href"] == "/targets/drop/days/2026-11-21"
    cells = [text(td) for td in rows[2].css("td")]
    summary = overview.world.cli.json("diff", "drop", "--day", "2026-11-21")["summary"]
    assert summary["bytes_added"] == 2_014
    assert cells == ["5", "1", "1", "1", "2.0 KiB", "3 B"]
    thirty = overview.page("/targets/drop")
    assert [text(a) for a in thirty.css(".range a[aria-current]")] == ["30 days"]
    assert len(thirty.css("svg.chart.wide")[0].css("rect.bar")) == 30 * 3


def test_target_snapshots_paged_with_status_and_facts(
    overview: Overview, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(target_module, "SNAPSHOTS_PER_PAGE", 3)
    doc = overview.page("/targets/drop?days=14")
    rows = doc.css("table.snapshots tbody tr")
    assert [r.attributes["id"] for r in rows] == ["snapshot-7", "snapshot-6", "snapshot-5"]
    cli = {s["snapshot"]: s for s in overview.world.cli.json("snapshots", "drop")}
    first = [text(td) for td in rows[0].css("td")]
    assert first[0] == "7" and first[1] == "complete"
    assert first[2].startswith("2026-11-24 13:00:00")
    assert first[3] == f"{cli[7]['files']:,} {cli[7]['dirs']:,} folders" == "15 7 folders"
    assert first[5] == "+6 \u22120 ~0"
    assert rows[0].css_first("td a").attributes["href"] == "/targets/drop/days/2026-11-24"
    pager = doc.css_first("nav.pager")
    assert text(pager) == "← Newer Snapshots 1\u20133 of 7 Older →"
    older = pager.css_first("a[rel=next]").attributes["href"]
    assert parse_qs(urlsplit(older).query) == {"days": ["14"], "offset": ["3"]}
    last = overview.page("/targets/drop?days=14&offset=6")
    assert [r.attributes["id"] for r in last.css("table.snapshots tbody tr")] == ["snapshot-1"]
    assert text(last.css_first("nav.pager")) == "← Newer Snapshots 7\u20137 of 7 Older →"
    newer = last.css_first("nav.pager a[rel=prev]").attributes["href"]
    assert parse_qs(urlsplit(newer).query) == {"days": ["14"], "offset": ["3"]}


def test_failed_partial_and_suspect_snapshots_say_why(
    make_overview: Callable[..., Overview], tmp_path: Path
) -> None:
    capped = tmp_path / "capped"
    put(capped, "a.txt")
    put(capped, "b.txt")
    site = make_overview(
        extra=f'[[target]]\nname = "capped"\nkind = "local"\npath = "{capped}"\nmax_entries = 1\n'
    )
    world = site.world
    world.poll("2026-11-24T13:10", target="capped")
    away = world.drop.rename(world.drop.with_name("away"))
    world.poll("2026-11-24T13:30")
    away.rename(world.drop)
    board = site.page("/")
    cards = {c.attributes["data-target"]: c for c in board.css("li.target-card")}
    assert text(cards["drop"].css_first(".card-head .badge")) == "! Failing"
    assert "no such folder" in text(cards["drop"].css_first(".poll-error"))
    assert text(cards["capped"].css_first(".card-head .badge")) == "\u25d0 Partial"
    assert text(cards["capped"].css_first(".reasons")) == "1 folder(s) failed to list"
    (failed,) = site.page("/targets/drop").css("table.snapshots tbody tr")[:1]
    assert text(failed.css_first(".badge")) == "failed"
    assert "no such folder" in text(failed.css_first(".reason"))
    (partial,) = site.page("/targets/capped").css("table.snapshots tbody tr")
    assert text(partial.css_first(".badge")) == "partial"
    assert [text(li) for li in partial.css("ul.failed li")] == [
        "/ : more than 1 entries; raise max_entries"
    ]
    for folder in world.drop.iterdir():
        if folder.is_dir():
            shutil.rmtree(folder)
    world.poll("2026-11-24T13:40")
    (held,) = site.page("/targets/drop").css("table.snapshots tbody tr")[:1]
    assert text(held.css_first(".badge")) == "suspect \u00b7 held"
    assert "13 of 15 files vanished at once" in text(held.css_first(".reason"))
    card = site.page("/").css_first("li.target-card[data-target=drop]")
    assert text(card.css_first(".card-head .badge")) == "? Suspect listing held"


def test_unknown_target_is_404_and_bad_range_400(overview: Overview) -> None:
    doc = overview.page("/targets/nope", status=404)
    assert "no target named 'nope'" in text(doc.css_first("main"))
    assert overview.client.get("/targets/drop?days=0", headers=HTML).status_code == 422
    assert overview.client.get("/targets/drop?days=401", headers=HTML).status_code == 422


# -- file history -----------------------------------------------------------------------------


def test_history_of_a_modified_file(overview: Overview) -> None:
    doc = overview.page("/targets/drop/history?path=grow.txt")
    assert text(doc.css_first("h1")) == "grow.txt"
    rows = doc.css("tr.version")
    cli = overview.world.cli.json("history", "drop", "grow.txt")
    assert len(rows) == len(cli) == 2
    cells = [[text(td) for td in row.css("td")] for row in rows]
    assert cells[0][0] == "2026-11-20 10:00:00 snapshot 1"
    assert cells[0][1].startswith("2026-11-21 09:00:00 snapshot 3")
    assert (cells[0][2], cells[1][2]) == ("1 B", "4 B")
    assert cells[1][1] == "still there"
    batch = rows[1].css_first("td a")
    assert batch.attributes["href"].startswith("/batches/")
    assert "modified" in cells[1][4]


def test_history_shows_hostile_names_as_text(overview: Overview) -> None:
    response = overview.client.get("/targets/drop/history", params={"path": HOSTILE}, headers=HTML)
    assert response.status_code == 200
    doc = LexborHTMLParser(response.text)
    assert text(doc.css_first("h1")) == HOSTILE
    assert doc.css("main img") == [] and doc.css("main script") == []
    rtl = overview.page("/targets/drop/history?path=" + RTL.replace("\u202e", "%E2%80%AE"))
    assert text(rtl.css_first("h1")) == "ep06/\\u202egnp.exe"
    bad = overview.page("/targets/drop/history?path=ep03/bad%FF.txt")
    assert text(bad.css_first("h1")) == "ep03/bad\\xff.txt"
    crlf = overview.page("/targets/drop/history?path=ep03/crlf%0D%0Aname.txt")
    assert text(crlf.css_first("h1")) == "ep03/crlf\\r\\nname.txt"


def test_history_404_and_400(overview: Overview) -> None:
    overview.page("/targets/drop/history?path=never.txt", status=404)
    overview.page("/targets/nope/history?path=grow.txt", status=404)
    overview.page("/targets/drop/history", status=400)


# -- search -----------------------------------------------------------------------------------


def test_search_pages_and_links_to_histories(
    overview: Overview, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_page, "PER_PAGE", 4)
    doc = overview.page("/search?q=EP0&target=drop")
    assert text(doc.css_first("#results-title")) == "20 paths match"
    hits = doc.css("tr.hit")
    assert len(hits) == 4
    first = [text(td) for td in hits[0].css("td")]
    assert first[0] == "ep01 (folder)" and first[1] == "drop"
    pager = doc.css_first("nav.pager")
    assert text(pager) == "← Previous Matches 1\u20134 of 20 Next →"
    every: list[str] = []
    offset: str | None = "/search?q=EP0&target=drop"
    while offset:
        page = overview.page(offset)
        every += [a.attributes["href"] or "" for a in page.css("tr.hit td:first-child a")]
        nxt = page.css_first("nav.pager a[rel=next]")
        offset = None if nxt is None else "/search" + (nxt.attributes["href"] or "")[7:]
    assert len(every) == 20
    for href in every:  # every hit, hostile names included, opens its history
        assert overview.client.get(href, headers=HTML).status_code == 200, href
    gone = overview.page("/search?q=gone.txt")
    cells = [text(td) for td in gone.css("tr.hit td")]
    assert cells[:4] == ["gone.txt", "drop", "2026-11-20 10:00:00", "2026-11-21 09:00:00 (gone)"]


def test_search_shows_the_cap(overview: Overview, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_page, "CAP", 5)
    monkeypatch.setattr(search_page, "PER_PAGE", 5)
    doc = overview.page("/search?q=ep")
    assert text(doc.css_first("#results-title")) == "More than 5 paths match: the first 5 matches"
    assert text(doc.css_first(".capped")).startswith("Showing the first 5 matches")
    assert len(doc.css("tr.hit")) == 5
    none = overview.page("/search?q=no-such-thing")
    assert text(none.css_first("#results-title")) == "No path contains “no-such-thing”"
    overview.page("/search?q=x&target=nope", status=404)
    form = overview.page("/search")
    assert form.css("tr.hit") == [] and form.css_first("form[role=search]") is not None


# -- feed -------------------------------------------------------------------------------------


def test_feed_is_valid_escaped_atom(overview: Overview) -> None:
    response = overview.client.get("/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    root = SafeET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    base = overview.live.url.rstrip("/")
    assert root.findtext(f"{ATOM}id") == f"{base}/feed.atom"
    assert root.findtext(f"{ATOM}updated") == "2026-11-24T13:00:00+01:00"
    entries = root.findall(f"{ATOM}entry")
    batches = overview.world.cli.json("batches")
    assert len(entries) == len(batches) == 7
    ids = [int(b["batch"]) for b in batches]
    for entry, batch_id in zip(entries, sorted(ids, reverse=True), strict=True):
        url = f"{base}/batches/{batch_id}"
        assert entry.findtext(f"{ATOM}id") == url
        link = entry.find(f"{ATOM}link")
        assert link is not None and link.get("href") == url
        for name in ("title", "updated", "published", "summary"):
            assert entry.findtext(f"{ATOM}{name}")
    titles = [entry.findtext(f"{ATOM}title") for entry in entries]
    assert f"drop: {QUOTE_FOLDER} — 1 file, 3 B" in titles
    assert b"<svg" not in response.content  # escaped, not markup
    assert b"&lt;svg onload" in response.content or b"&quot;&gt;&lt;svg" in response.content


def test_feed_of_one_target_under_base_url(make_overview: Callable[..., Overview]) -> None:
    site = make_overview(extra='[notify]\nbase_url = "https://watch.example/ui/"\n')
    root = SafeET.fromstring(site.client.get("/feed.atom?target=drop").content)
    assert root.findtext(f"{ATOM}id") == "https://watch.example/ui/feed.atom?target=drop"
    entry = root.find(f"{ATOM}entry")
    assert entry is not None
    assert re.fullmatch(r"https://watch\.example/ui/batches/\d+", entry.findtext(f"{ATOM}id") or "")
    assert site.client.get("/feed.atom?target=nope").status_code == 404


def test_feed_takes_an_api_token_and_refuses_nobody(overview: Overview) -> None:
    with overview.live.client() as anonymous:
        refused = anonymous.get("/feed.atom", headers={"Accept": "application/atom+xml"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        token = {"Authorization": f"Bearer {TOKEN}"}
        allowed = anonymous.get("/feed.atom", headers=token)
        assert allowed.status_code == 200
        assert SafeET.fromstring(allowed.content).tag == f"{ATOM}feed"


# -- login ------------------------------------------------------------------------------------


def test_every_page_needs_a_login(settings: Settings, serve: Callable[..., LiveApp]) -> None:
    live = serve(settings)
    pages = ["/", "/targets/drop", "/targets/drop/history?path=a", "/search?q=a", "/feed.atom"]
    with live.client() as client:
        for url in pages:
            response = client.get(url, headers=HTML)
            assert response.status_code == 303, url
            assert response.headers["location"].startswith("/login"), url
