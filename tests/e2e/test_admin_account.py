"""In a real browser: My account at 390 px (a phone), opened from the header's email: a refused change shows its
reasons next to the fields, a change goes through, and after signing out only the new password signs in. A member
with a temporary password lands there with the reason. Each state is looked at 1280 and 390 px wide (screens.py;
TALLY_SCREENSHOTS=<folder> saves them)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.organizations.services import create_admin, invite_member
from tests.e2e.screens import assert_accessible, assert_no_sideways_scroll, assert_tap_targets, look_at

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)
NEW = "a brand new passphrase"
PHONE = {"width": 390, "height": 844}


def _sign_in(page: Page, live_server: str, email: str, password: str) -> None:
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _fill(page: Page, current: str, new: str, again: str) -> None:
    page.get_by_label("Current password").fill(current)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(again)
    page.get_by_role("button", name="Change password").click()


def _check_phone(page: Page) -> None:
    """My account's own controls at 390 px: no sideways scroll, axe-clean, 44 px to tap (the brand, the sections'
    links and Sign out are the header's, shared by every admin page and smaller: left as they are)."""
    page.set_viewport_size(PHONE)
    assert_no_sideways_scroll(page)
    assert_accessible(page)
    assert_tap_targets(page, exclude=(".brand", ".nav-sections", ".subnav", ".nav form"))


def test_change_the_password_on_a_phone_then_sign_in_with_the_new_one(page: Page, live_server, org):
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="owner@acme.test", password=PASSWORD, organization_id=org.id)
    page.set_viewport_size(PHONE)
    _sign_in(page, live_server, "owner@acme.test", PASSWORD)
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()

    page.get_by_role("link", name="My account: owner@acme.test").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    expect(page.get_by_text("Acme Cloud")).to_be_visible()
    _check_phone(page)
    look_at(page, "admin-account")

    page.set_viewport_size(PHONE)
    _fill(page, "not my password", "short", "shorter")
    expect(page.locator('[data-field="current_password"] .field-error')).to_have_text("Not your current password")
    expect(page.locator('[data-field="new_password"] .field-error')).to_have_text("Too short")
    expect(page.locator('[data-field="new_password_again"] .field-error')).to_have_text(
        "Not the same as the new password")
    expect(page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    _check_phone(page)
    look_at(page, "admin-account-refused")

    page.set_viewport_size(PHONE)
    _fill(page, PASSWORD, NEW, NEW)
    expect(page.get_by_role("status")).to_have_text(
        "Your password is changed. Your other sessions have ended; this one goes on.")
    look_at(page, "admin-account-changed")

    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, live_server, "owner@acme.test", PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    _sign_in(page, live_server, "owner@acme.test", NEW)
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    assert problems == []


def test_a_temporary_password_lands_on_my_account_with_the_reason(page: Page, live_server, org):
    invited = invite_member(organization_id=org.id, email="fin@acme.test", role="finance")
    page.set_viewport_size(PHONE)
    _sign_in(page, live_server, "fin@acme.test", invited.temporary_password)

    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    expect(page.locator("[data-must-change-password]")).to_contain_text("temporary password")
    page.goto(f"{live_server}/admin/invoices")
    expect(page).to_have_url(f"{live_server}/admin/account")
    _check_phone(page)
    look_at(page, "admin-account-temporary")

    page.set_viewport_size(PHONE)
    _fill(page, invited.temporary_password, NEW, NEW)
    expect(page.get_by_role("status")).to_contain_text("Your password is changed.")
    expect(page.locator("[data-must-change-password]")).to_have_count(0)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
    expect(page.get_by_role("heading", name="Invoices")).to_be_visible()
