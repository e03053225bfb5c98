"""The overview pages in Chromium: dashboard, target page, search and file history.

A file named like markup arrives in a poll; it must show as text everywhere and run nothing
(the ``page`` fixture fails the test on any dialog, script error or CSP violation).
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Site, login

HOSTILE = "<img src=x onerror=alert(1)>.png"


def arrive(site: Site) -> None:
    site.put(f"ep01/{HOSTILE}", b"\x89PNG\r\n\x1a\n not really")
    site.put("ep01/results.csv", b"a,b\n1,2\n")
    site.poll()


def test_dashboard_shows_health_pending_batches_and_the_chart(site: Site, page: Page) -> None:
    arrive(site)
    login(page, site.base)
    card = page.locator("li.target-card", has=page.get_by_role("link", name="drop"))
    expect(card.locator(".card-head .badge")).to_have_text("✓ OK")
    pending = card.get_by_role("link", name="1 batch")
    expect(pending).to_have_attribute("href", "/batches?target=drop&review=new")
    expect(card.locator(".last-poll")).to_contain_text("complete · 3 files")
    chart = card.get_by_role("img", name=re.compile(r"Files added per day to drop .*: 3 in all"))
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar")).to_have_count(14)


def test_target_page_charts_and_range(site: Site, page: Page) -> None:
    arrive(site)
    login(page, site.base)
    page.get_by_role("link", name="drop", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("drop")
    files = page.get_by_role("img", name=re.compile("^Files added, removed and modified"))
    expect(files.locator("rect.bar")).to_have_count(30 * 3)
    page.get_by_role("link", name="14 days").click()
    expect(page).to_have_url(re.compile(r"\?days=14$"))
    expect(files.locator("rect.bar")).to_have_count(14 * 3)
    expect(page.locator("table.snapshots tbody tr")).to_have_count(2)
    expect(page.locator("table.snapshots tbody tr").first).to_contain_text("complete")


def test_search_finds_a_hostile_name_and_opens_its_history(site: Site, page: Page) -> None:
    arrive(site)
    login(page, site.base)
    page.get_by_role("link", name="Search", exact=True).click()
    page.get_by_label("Path contains").fill("onerror")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results-title")).to_have_text("1 path matches")
    hit = page.locator("tr.hit a.path")
    expect(hit).to_have_text(f"ep01/{HOSTILE}")
    hit.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"ep01/{HOSTILE}")
    expect(page.locator("main img")).to_have_count(0)
    expect(page.locator("tr.version")).to_have_count(1)
    expect(page.locator("tr.version")).to_contain_text("still there")
