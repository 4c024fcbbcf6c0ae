"""In a real browser, at 1,280 and 390 px: members (add one, the temporary password shown once), API keys (create,
revoke after asking), the audit trail filtered through htmx with its URL kept, a plan's History block, and a finance
member who sees only their nav and a clear page where they may not go. Screenshots go to $SHOTS_DIR when set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from billing.audit.actors import Actor, acting_as
from billing.catalog.services import get_plan, update_plan
from billing.organizations.services import create_admin
from tests.web.conftest import create_catalog

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)
WIDTHS = (1280, 390)


def _shoot(page: Page, name: str) -> None:
    shots = os.environ.get("SHOTS_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{shots}/{name}-{page.viewport_size['width']}.png", full_page=True)


def _sign_in(page: Page, live_server: str, email: str, password: str = PASSWORD, *,
             lands_on: str = "Customers") -> None:
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=lands_on)).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
def test_members_keys_and_the_audit_trail(page: Page, live_server, org, width):
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.set_viewport_size({"width": width, "height": 900})
    create_admin(email="owner@acme.test", password=PASSWORD, organization_id=org.id)
    create_catalog(org.id)
    plan = get_plan(organization_id=org.id, code="startup")
    with acting_as(Actor(kind="account_manager", id="u", label="ann@acme.test")):
        update_plan(organization_id=org.id, code="startup", data={"amount_cents": 1500, "charges": [
            {"id": plan.charges[0].id, "billable_metric_id": plan.charges[0].billable_metric_id,
             "charge_model": "graduated", "properties": {"graduated_ranges": [
                 {"from_value": 0, "to_value": 100, "per_unit_amount": "0.05", "flat_amount": "0"},
                 {"from_value": 101, "to_value": None, "per_unit_amount": "0.02", "flat_amount": "1"}]}}]})
    _sign_in(page, live_server, "owner@acme.test")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Members").click()
    page.wait_for_load_state("networkidle")
    page.get_by_label("Email").fill("fin@acme.test")
    page.get_by_label("Role", exact=True).select_option("finance")
    page.get_by_role("button", name="Add member").click()
    secret = page.locator("[data-temporary-password] code")
    expect(secret).to_be_visible()
    temporary = secret.inner_text()
    _shoot(page, "members")

    page.get_by_role("link", name="API keys").click()
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Create a key").click()
    expect(page.locator("[data-new-secret] code")).to_be_visible()
    _shoot(page, "api-keys")
    page.get_by_role("link", name="Revoke").first.click()
    expect(page.get_by_role("heading", name="Revoke the key")).to_be_visible()
    _shoot(page, "api-key-revoke")
    page.get_by_role("button", name="Revoke tly_").click()
    expect(page.get_by_text("revoked: requests with it are refused")).to_be_visible()

    page.get_by_role("link", name="Audit trail").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("tr[data-audit-action='api_key.revoked']")).to_have_count(1)
    _shoot(page, "audit")
    page.get_by_label("Object").select_option("plan")
    expect(page).to_have_url(f"{live_server}/admin/audit?actor=&object_type=plan&action=&since=&until=")
    expect(page.locator("tr[data-audit-action]")).to_have_count(2)
    _shoot(page, "audit-filtered")

    page.goto(f"{live_server}/admin/plans/startup/edit")
    history = page.locator("section.history")
    expect(history.get_by_text("Plan changed")).to_be_visible()
    expect(history.get_by_text("€15.00")).to_be_visible()
    history.scroll_into_view_if_needed()
    history.screenshot(path=f"{os.environ['SHOTS_DIR']}/plan-history-{width}.png") if os.environ.get(
        "SHOTS_DIR") else None

    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, live_server, "fin@acme.test", temporary, lands_on="My account")  # a temporary password:
    page.get_by_label("Current password").fill(temporary)  # they choose their own first
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password again").fill(PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password is changed.")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Catalog")).to_have_count(0)  # finance opens no plan
    nav.get_by_role("link", name="Billing").click()
    expect(page.get_by_role("navigation", name="Billing").get_by_role("link", name="Dunning")).to_be_visible()
    page.goto(f"{live_server}/admin/plans")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    _shoot(page, "forbidden")
    assert problems == []
