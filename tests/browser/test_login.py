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


def test_a_link_from_an_alert_email_opens_the_page_logged_in(site: Site, page: Page) -> None:
    """A link in an alert email, followed from a webmail (another site), arrives with the
    session: a logged-in analyst sees the page, not the login form. The webmail page is
    served by the browser's router; the link goes to the real server."""
    login(page, site.base, "ana")
    target = site.url("/targets/drop")
    inbox = "http://mail.example/inbox"
    page.route(
        inbox,
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<!doctype html><title>Inbox</title><a id="open" href="{target}">Open</a>',
        ),
    )
    page.goto(inbox)
    page.click("#open")
    page.wait_for_load_state()
    expect(page).to_have_url(target)
    expect(page.locator("header .user")).to_have_text("ana")
