"""Browser tests: Debian's Chromium driven by Playwright against a real ``monitor serve``.

Fixtures:

- ``site``: a workspace (config, SQLite database, a local drop folder) with two users, ``ana``
  and ``ben`` (passwords :data:`PASSWORDS`), served by ``monitor serve`` in a subprocess on a
  free loopback port. ``site.put(rel, data)`` adds a file to the drop, ``site.poll()`` polls it
  through the CLI, ``site.cli(...)`` runs any command; the first poll (the baseline) ran
  already, so what a test puts and polls arrives in batches.
- ``browser``: one Chromium per test module (``/usr/bin/chromium``; ``MONITOR_TEST_CHROMIUM``
  names another). Playwright downloads no browser. Not per session: Playwright's sync API
  keeps an event loop running while it is open, and every later ``asyncio.run`` of the same
  pytest worker (each poll of the other tests) would fail.
- ``page``: a fresh browser context and page per test. Anything the page logs as an error
  (a script error, a CSP violation, a failed request of the page's own) and any dialog
  (``alert()``) fails the test, as does a script, style sheet or image answered with an
  error status; a screenshot of the last state is kept in
  ``test-artifacts/screenshots/<test>.png`` whatever the outcome.
- ``login(page, user)``: logs in through the form.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Page,
    Response,
    sync_playwright,
)

from monitor.web.passwords import hash_password
from tests.servers import free_port, wait_for

CHROMIUM = os.environ.get("MONITOR_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORDS = {"ana": "correct horse battery", "ben": "staple grape lantern"}
TARGET = "drop"


@dataclass
class Site:
    """A workspace served by ``monitor serve``; see the module docstring."""

    root: Path
    base: str
    config: Path
    drop: Path
    problems: list[str] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return self.base + path

    def put(self, rel: str, data: bytes = b"x", mtime: int = 1_764_000_000) -> Path:
        path = self.drop / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
        return path

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def poll(self) -> str:
        return self.cli("poll", TARGET, "--format", "json")


def _config(root: Path, port: int) -> str:
    users = "".join(
        f'[[web.users]]\nname = "{name}"\npassword_hash = "{hash_password(password, n=2**14)}"\n\n'
        for name, password in PASSWORDS.items()
    )
    return (
        f'data_dir = "{root / "data"}"\n\n'
        f'[web]\nbind = "127.0.0.1"\nport = {port}\nsecret_key = "{"k" * 40}"\n\n'
        f"{users}"
        f'[[target]]\nname = "{TARGET}"\nkind = "local"\npath = "{root / "drop"}"\n'
        'settle = "1h"\nbatch_depth = 1\n\n'
        "[target.archive]\nenabled = true\n"
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    port = free_port()
    config = tmp_path / "monitor.toml"
    config.write_text(_config(tmp_path, port), encoding="utf-8")
    s = Site(tmp_path, f"http://127.0.0.1:{port}", config, tmp_path / "drop")
    s.put("before/old.txt", b"there before anyone watched\n")
    s.poll()  # the baseline
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "serve"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: answers(s.url("/healthz")), timeout=30, what="monitor serve")
        yield s
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 (a server that is up)."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (as .ci/run does)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # a page answered with an error status (a refused login: 401) is the test's to check;
        # a failed script, style sheet or image is caught by on_response
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console error: {message.text}")

    def on_response(response: Response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            problems.append(f"{response.request.resource_type} {response.url}: {response.status}")

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"a dialog opened: {dialog.type} {dialog.message!r}")
        dialog.dismiss()

    tab.on("console", on_console)
    tab.on("response", on_response)
    tab.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    tab.on("dialog", on_dialog)
    try:
        yield tab
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
        try:
            tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        finally:
            context.close()
    assert not problems, problems


def login(page: Page, base: str, user: str = "ana") -> None:
    """Log in through the form as ``user``; lands on the dashboard."""
    page.goto(base + "/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user])
    page.get_by_role("button", name=re.compile("log in", re.IGNORECASE)).click()
    page.wait_for_url(base + "/")
