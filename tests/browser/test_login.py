"""Logging in and out in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Site, login


def test_a_user_logs_in_sees_their_name_and_logs_out(site: Site, page: Page) -> None:
    page.goto(site.url("/"))
    expect(page).to_have_url(site.url("/login"))
    login(page, site.base, "ben")
    expect(page.locator("header .user")).to_have_text("ben")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(site.url("/login"))
    page.goto(site.url("/"))
    expect(page).to_have_url(site.url("/login"))


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    site: Site, page: Page
) -> None:
    page.goto(site.url("/login"))
    page.get_by_label("User name").fill("ana")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("main")).to_contain_text("wrong user name or password", ignore_case=True)
    expect(page).to_have_url(site.url("/login"))
