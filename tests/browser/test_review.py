"""Reviewing in Chromium: today's diff, a batch with its previews, the review form, the
trail a second reviewer reads, the keyboard shortcuts, and hostile names shown as text.

The ``page`` fixture fails a test on any dialog (``alert``), script error, CSP violation or
failed image, so a name that ran as markup would fail it.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Site, login

HOSTILE = "<img src=x onerror=alert(1)>.png"
RTL = "\u202egnp.exe"


def png(width: int = 24, height: int = 16, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A real PNG image (one colour), which Chromium decodes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def second(browser: Browser) -> Iterator[Page]:
    """A second reviewer's browser (its own context: its own session)."""
    context = browser.new_context(locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(10_000)
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("dialog", lambda dialog: (errors.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()
    assert not errors, errors


def image_loaded(page: Page, selector: str) -> bool:
    width = page.locator(selector).evaluate("img => img.complete && img.naturalWidth")
    return bool(width)


def test_review_a_batch_from_todays_diff(site: Site, page: Page, second: Page) -> None:
    site.put("ep01/photo.png", png())
    site.put("ep01/readme.txt", b"delivery notes\nsecond line\n")
    site.poll()
    login(page, site.base, "ana")
    card = page.locator("li.target-card", has=page.get_by_role("link", name="drop", exact=True))
    expect(card.locator(".pending")).to_contain_text("1 batch")

    # Today's diff: the two files and their folder, as a tree.
    page.goto(site.url("/targets/drop/days/today"))
    expect(page).to_have_url(re.compile(r"/targets/drop/days/\d{4}-\d{2}-\d{2}$"))
    # the baseline poll (before/, before/old.txt) was today too
    expect(page.locator('[data-summary] [data-count="added"]')).to_have_text("5")
    folder = page.locator('details.folder[data-folder="ep01"]')
    expect(folder.locator("summary")).to_contain_text("ep01/")
    expect(folder.get_by_role("link", name="photo.png")).to_be_visible()
    folder.locator("summary").click()  # folds
    expect(folder.get_by_role("link", name="photo.png")).to_be_hidden()

    # The batch: the image previewed, the text shown as text.
    page.goto(site.url("/batches"))
    page.locator("tr[data-batch] a[data-open]").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("drop:/ep01")
    image = page.get_by_role("img", name="ep01/photo.png")
    expect(image).to_be_visible()
    assert image_loaded(page, "figure.image-preview img")
    expect(page.locator("figure.text-preview pre")).to_have_text("delivery notes\nsecond line\n")

    # Reviewed, with a note.
    page.get_by_label("Note").fill("Checked against the delivery list.")
    page.get_by_role("button", name=re.compile("^Reviewed")).click()
    expect(page.locator("[data-review]")).to_have_attribute("data-review", "reviewed")
    expect(page.locator("ol.trail li.event")).to_have_count(1)

    # The dashboard has nothing left to review.
    page.goto(site.url("/"))
    expect(card.locator(".pending")).to_contain_text("none")

    # A second reviewer sees who reviewed it and why.
    login(second, site.base, "ben")
    second.goto(site.url("/batches?review=reviewed"))
    row = second.locator("tr[data-batch]")
    expect(row).to_have_count(1)
    expect(row.locator(".review")).to_contain_text("reviewed by ana")
    row.locator("a[data-open]").click()
    event = second.locator("ol.trail li.event")
    expect(event.locator(".actor")).to_have_text("ana")
    expect(event.locator(".transition")).to_contain_text("new → reviewed")
    expect(event.locator(".note")).to_have_text("Checked against the delivery list.")


def test_keyboard_moves_through_the_queue_and_reviews(site: Site, page: Page) -> None:
    for folder in ("ep01", "ep02", "ep03"):
        site.put(f"{folder}/file.txt", folder.encode())
    site.poll()
    login(page, site.base, "ana")

    # The list: j / k move the selection, x ticks the selected row.
    page.goto(site.url("/batches"))
    rows = page.locator("tr[data-batch]")
    expect(rows).to_have_count(3)
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("x")
    expect(rows.nth(0).locator("input[type=checkbox]")).to_be_checked()
    expect(rows.nth(1).locator("input[type=checkbox]")).not_to_be_checked()
    expect(page.locator(".key-hints")).to_contain_text("tick")

    # The newest batch: ? shows the help, j goes to the next batch to review, f flags it.
    newest = rows.nth(0).get_attribute("data-batch")
    following = rows.nth(1).get_attribute("data-batch")
    page.goto(site.url(f"/batches/{newest}"))
    help_box = page.locator("#key-help")
    expect(help_box).to_be_hidden()
    page.keyboard.press("?")
    expect(help_box).to_be_visible()
    page.keyboard.press("?")
    expect(help_box).to_be_hidden()
    page.keyboard.press("j")
    expect(page).to_have_url(site.url(f"/batches/{following}"))
    # Typing a note is not a shortcut: the keys go into the field.
    page.keyboard.press("n")
    expect(page.locator("#note")).to_be_focused()
    page.keyboard.type("just a draft")
    expect(page).to_have_url(site.url(f"/batches/{following}"))
    expect(page.locator("#note")).to_have_value("just a draft")
    page.keyboard.press("Escape")
    page.keyboard.press("f")
    expect(page.locator("[data-review]")).to_have_attribute("data-review", "flagged")
    expect(page.locator("ol.trail .note")).to_have_text("just a draft")
    # It left the queue; k goes back up to the newest, still to review.
    page.keyboard.press("k")
    expect(page).to_have_url(site.url(f"/batches/{newest}"))


def test_hostile_names_show_as_text_and_run_nothing(site: Site, page: Page) -> None:
    site.put(f"ep01/{HOSTILE}", png())
    site.put(f"ep01/{RTL}", b"MZ")
    site.put('ep01/"><script>alert(2)</script>.txt', b"<script>alert(3)</script>\n")
    site.put("ep01/報告 한국어.txt", "本文\n".encode())
    site.poll()
    login(page, site.base, "ana")

    page.goto(site.url("/targets/drop/days/today"))
    expect(page.get_by_role("link", name=HOSTILE, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="\\u202egnp.exe", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="報告 한국어.txt", exact=True)).to_be_visible()

    page.goto(site.url("/batches"))
    page.locator("tr[data-batch] a[data-open]").first.click()
    files = page.locator("table.files")
    expect(files.get_by_role("link", name=f"ep01/{HOSTILE}", exact=True)).to_be_visible()
    expect(files.get_by_role("link", name='ep01/"><script>alert(2)</script>.txt')).to_be_visible()
    image = page.get_by_role("img", name=f"ep01/{HOSTILE}", exact=True)
    expect(image).to_be_visible()
    assert image_loaded(page, "figure.image-preview img")
    expect(page.locator("img[src=x]")).to_have_count(0)
    expect(page.locator("main script")).to_have_count(0)
    expect(page.locator("figure.text-preview pre").first).to_contain_text(
        "<script>alert(3)</script>"
    )
