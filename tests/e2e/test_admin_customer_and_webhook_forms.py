"""In a real browser: an account manager creates a customer through the htmx form (a refusal by its field first),
edits it, then adds a webhook endpoint, sends it a test and reads the delivery. Each screen fits 390 px; with
TALLY_SCREENSHOTS=<folder>, each is captured at 1280 and 390 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.catalog.taxes import create_tax
from billing.customers.services import get_customer
from billing.organizations.services import create_admin
from billing.webhooks import services as webhooks
from tests.e2e.screens import look_at, open_admin
from tests.webhooks.conftest import receiver  # noqa: F401,F811 (a real receiver that checks signatures)

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def _sign_in(page: Page, live_server: str, organization_id: str) -> list[str]:
    problems: list[str] = []  # a CSP refusal or a script error shows up here, not as a failure
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=organization_id)
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return problems


def test_create_then_edit_a_customer_through_the_form(page: Page, live_server, org):
    create_tax(organization_id=org.id, data={"name": "VAT FR", "code": "vat_fr", "rate": "20"})
    problems = _sign_in(page, live_server, org.id)
    open_admin(page, "Customers")  # signing in lands on the home
    look_at(page, "customers")
    page.get_by_role("link", name="New customer").click()
    look_at(page, "customer-new")

    page.get_by_label("External id").fill("acme-42")
    page.get_by_label("Name", exact=True).fill("Acme Corp")
    page.get_by_label("Email").fill("billing@acme.test")
    page.get_by_label("Currency").fill("EUR")
    page.get_by_label("Time zone").fill("Europe/Atlantis")
    billing_address = page.get_by_role("group", name="Billing address")
    billing_address.get_by_label("Address line 1").fill("1 rue de la Paix")
    billing_address.get_by_label("City").fill("Paris")
    billing_address.get_by_label("Country").fill("XX")
    shipping = page.get_by_role("group", name="Shipping address")
    shipping.get_by_label("City").fill("Lyon")
    shipping.get_by_label("Country").fill("FR")
    page.get_by_label("VAT FR (20 %)").check()
    page.evaluate("window.__marker = 'same page'")
    page.get_by_role("button", name="Create customer").click()

    expect(page.locator('[data-field="timezone"] .field-error')).to_have_text(
        "Not a time zone name, e.g. Europe/Paris")
    expect(billing_address.locator('[data-field="country"] .field-error')).to_have_text(
        "Not a country code: two letters, e.g. FR")
    expect(page.get_by_label("External id")).to_have_value("acme-42")  # what was typed stays
    assert page.evaluate("window.__marker") == "same page"  # swapped by htmx, not reloaded
    look_at(page, "customer-new-refused")

    page.get_by_label("Time zone").fill("Europe/Paris")
    billing_address.get_by_label("Country").fill("FR")
    page.get_by_role("button", name="Create customer").click()

    expect(page.get_by_role("status").filter(has_text="created")).to_have_text("Customer “Acme Corp” created.")
    customer = get_customer(organization_id=org.id, external_id="acme-42")
    expect(page).to_have_url(f"{live_server}/admin/customers/{customer.id}")
    assert (customer.timezone, customer.country, customer.shipping_city) == ("Europe/Paris", "FR", "Lyon")
    assert [t.code for t in customer.taxes] == ["vat_fr"]

    page.get_by_role("link", name="Edit Acme Corp").click()
    look_at(page, "customer-edit")
    page.get_by_label("Payment term (days)").fill("45")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").filter(has_text="saved")).to_have_text("Customer “Acme Corp” saved.")
    expect(page.get_by_role("region", name="Details")).to_contain_text("45 days")
    look_at(page, "customer-saved")
    assert get_customer(organization_id=org.id, external_id="acme-42").net_payment_term == 45
    assert problems == []


def test_add_an_endpoint_send_a_test_and_read_the_delivery(page: Page, live_server, org, receiver, run_jobs):  # noqa: F811
    problems = _sign_in(page, live_server, org.id)
    open_admin(page, "Settings", "Webhooks")
    page.get_by_role("link", name="New endpoint").click()
    page.get_by_label("URL").fill("not a url")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator('[data-field="webhook_url"] .field-error')).to_contain_text("An http:// or https:// address")
    look_at(page, "webhook-endpoint-refused")

    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Name").fill("Local receiver")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("status")).to_contain_text("added")

    page.get_by_role("button", name=f"Send test to {receiver.url}").click()
    expect(page.get_by_role("status")).to_contain_text("Test webhook sent")
    run_jobs()
    [received] = receiver.of_type("webhook_endpoint.test")
    assert received.signed_with(webhooks.hmac_key(organization_id=org.id))
    page.reload()
    look_at(page, "webhooks")
    page.locator(".webhook-deliveries a.row-link").first.click()
    expect(page.locator("pre.webhook-body")).to_contain_text('"webhook_type": "webhook_endpoint.test"')
    look_at(page, "webhook-delivery")

    page.goto(f"{live_server}/admin/webhooks")
    page.get_by_role("link", name=f"Edit {receiver.url}").click()
    look_at(page, "webhook-endpoint-edit")
    page.get_by_role("link", name="Delete").click()
    look_at(page, "webhook-endpoint-delete")
    page.get_by_role("button", name="Delete endpoint").click()
    expect(page.get_by_role("status")).to_contain_text("deleted")
    assert webhooks.list_webhook_endpoints(organization_id=org.id).items == []
    assert problems == []
