"""The newcomer's path, in Chromium: ``monitor demo``, log in, watch batches arrive, review
one; a second reviewer sees who reviewed it and why."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import answers
from tests.servers import free_port, wait_for


class Demo:
    def __init__(self, workspace: Path, port: int, log: Path) -> None:
        self.workspace, self.base, self.log = workspace, f"http://127.0.0.1:{port}", log

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def password(self, user: str) -> str:
        found = re.search(rf"log in as {user}, password (\S+)", self.output())
        assert found, self.output()
        return found.group(1)

    def batches(self) -> list[dict[str, object]]:
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(self.workspace / "monitor.toml"),
             "batches", "--format", "json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return list(json.loads(done.stdout))


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port = free_port()
    d = Demo(tmp_path / "demo", port, tmp_path / "demo.log")
    with d.log.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "demo", "--dir", str(d.workspace),
             "--port", str(port), "--every", "0.5"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(lambda: answers(d.base + "/healthz"), timeout=30, what="the demo's UI")
            yield d
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0, d.output()
        finally:
            proc.kill()
            proc.wait()


def log_in(page: Page, demo: Demo, user: str) -> None:
    page.goto(demo.base + "/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(demo.password(user))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(demo.base + "/")


def test_a_newcomer_reviews_a_demo_batch_and_a_second_reviewer_sees_why(
    demo: Demo, page: Page, browser: Browser
) -> None:
    log_in(page, demo, "ana")
    # batches arrive while the page is open: the dashboard counts them once reloaded
    wait_for(lambda: len(demo.batches()) >= 2, timeout=30, what="two batches")
    page.reload()
    card = page.locator("li.target-card", has=page.get_by_role("link", name="demo-drop"))
    expect(card.locator(".pending")).not_to_contain_text("none")
    first = min(int(str(b["batch"])) for b in demo.batches())
    page.goto(f"{demo.base}/batches/{first}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("demo-drop:")
    expect(page.locator("figure.text-preview").first).to_be_visible()  # its instructions
    page.get_by_label("Note").fill("Instructions match the results; nothing odd.")
    page.get_by_role("button", name=re.compile("^Reviewed")).click()
    expect(page.locator("[data-review]")).to_have_attribute("data-review", "reviewed")

    second = browser.new_context(locale="en-GB", timezone_id="UTC")
    try:
        other = second.new_page()
        log_in(other, demo, "ben")
        other.goto(f"{demo.base}/batches/{first}")
        event = other.locator("ol.trail li.event")
        expect(event.locator(".actor")).to_have_text("ana")
        expect(event.locator(".transition")).to_contain_text("new → reviewed")
        expect(event.locator(".note")).to_have_text("Instructions match the results; nothing odd.")
    finally:
        second.close()
