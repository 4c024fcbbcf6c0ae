"""In a real browser: an account manager opens Catalog › Features, gives a plan its features in the plan editor
(adds one, sets a value, sees a refusal inline), gives one subscription more seats from the customer page, and the
customer's portal says what the plan includes. Each screen is looked at 1280 and 390 px wide."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.customers.services import upsert_customer
from billing.entitlements import features, services
from billing.lifecycle import create_subscription
from billing.links import portal_url
from billing.organizations.services import create_admin
from tests.e2e.screens import look_at, open_admin
from tests.e2e.test_admin_plan_editor import idle
from tests.web.conftest import create_catalog

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def test_plan_features_subscription_values_and_the_portal(page: Page, live_server, org):
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    create_catalog(org.id)
    features.create_feature(organization_id=org.id, data={"code": "seats", "name": "Seats", "privileges": [
        {"code": "max", "name": "Maximum", "value_type": "integer"}]})
    features.create_feature(organization_id=org.id, data={
        "code": "sso", "name": "SSO", "description": "Sign in with the company's identity provider", "privileges": [
            {"code": "provider", "name": "Provider", "value_type": "select",
             "config": {"select_options": ["google", "okta"]}},
            {"code": "audit", "name": "Audit log", "value_type": "boolean"}]})
    customer = upsert_customer(organization_id=org.id, data={"external_id": "acme", "name": "Acme"})
    subscription = create_subscription(organization_id=org.id, data={
        "external_customer_id": "acme", "plan_code": "startup", "external_id": "acme-main"})

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    open_admin(page, "Catalog", "Features")
    expect(page.locator("tr[data-feature]")).to_have_count(2)
    look_at(page, "admin-features")
    page.locator("tr[data-feature=sso]").get_by_role("link", name="Edit").click()
    expect(page.locator("tr[data-privilege=provider] input[name=p-0-options]")).to_have_value("google, okta")
    look_at(page, "admin-feature-form")

    open_admin(page, "Catalog", "Plans")
    page.get_by_role("link", name="Startup").first.click()
    section = page.locator("#plan-features")
    section.get_by_label("Add a feature").select_option("seats")
    section.get_by_role("button", name="Save features").click()
    idle(page)
    section.get_by_label("Maximum").fill("ten")
    section.get_by_role("button", name="Save features").click()
    idle(page)
    expect(section.locator(".field-error")).to_have_text("Not a valid value for this type.")
    section.get_by_label("Maximum").fill("10")
    section.get_by_label("Add a feature").select_option("sso")
    section.get_by_role("button", name="Save features").click()
    idle(page)
    section.get_by_label("Provider").select_option("google")
    section.get_by_label("Audit log").select_option("true")
    section.get_by_role("button", name="Save features").click()
    idle(page)
    expect(section.locator(".notice")).to_contain_text("was saved")
    granted = services.list_plan_entitlements(organization_id=org.id, plan_code="startup")
    assert [(f.code, [(p.code, p.value) for p in f.privileges]) for f in granted] == [
        ("seats", [("max", 10)]), ("sso", [("provider", "google"), ("audit", True)])]
    section.scroll_into_view_if_needed()
    look_at(page, "admin-plan-features")

    page.goto(f"{live_server}/admin/customers/{customer.id}")
    page.locator("details.manage summary").first.click()
    box = page.locator(f"#features-{subscription.id}")
    box.get_by_role("link", name="Edit features").click()
    idle(page)
    box.get_by_label("Maximum").fill("25")
    box.get_by_role("button", name="Save features").click()
    idle(page)
    expect(box.locator(".notice")).to_contain_text("were saved")
    look_at(page, "admin-subscription-features")
    assert [(f.code, f.overrides) for f in services.subscription_entitlements(
        organization_id=org.id, external_id="acme-main")] == [("seats", {"max": 25}), ("sso", {})]

    page.goto(portal_url(customer_id=customer.id, organization_id=org.id).replace(
        portal_url(customer_id=customer.id, organization_id=org.id).split("/portal/")[0], live_server))
    included = page.locator(".plan-includes li")
    expect(included).to_have_text(["Up to 25 seats", "SSO: Provider: google, Audit log"])
    page.locator(".plan-includes").scroll_into_view_if_needed()
    look_at(page, "portal-plan-features")
    assert problems == []
