"""In a real browser: too many sign-in attempts show the sign-in form with a clear 429 message."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from billing.organizations.services import create_admin

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def test_the_sixth_attempt_in_a_minute_is_refused_with_a_clear_message(page: Page, live_server, org):
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    page.goto(f"{live_server}/admin/login")
    for _ in range(5):
        page.fill("input[name=email]", "manager@acme.test")
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")

    page.fill("input[name=email]", "manager@acme.test")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/admin/login") and r.request.method == "POST") as answer:
        page.click("button[type=submit]")

    assert answer.value.status == 429
    expect(page.get_by_role("alert")).to_have_text("Too many sign-in attempts; try again in 1 minute.")
    expect(page.locator("input[name=email]")).to_have_value("manager@acme.test")
    screenshots = os.environ.get("TALLY_SCREENSHOTS")
    if screenshots:  # for a person to look at the page: TALLY_SCREENSHOTS=/some/folder
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 800})
            page.screenshot(path=f"{screenshots}/sign_in_throttled_{width}.png", full_page=True)
