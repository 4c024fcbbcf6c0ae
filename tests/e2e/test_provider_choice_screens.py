"""In a real browser: the three providers side by side. Connecting Adyen with a refusal shown by its field, the
providers' list with what to register at each, a customer moved from Stripe to GoCardless in the admin, and the
portal's payment-methods page then (a Direct Debit offered, the Stripe card kept as a previous provider's). No CSP
refusal or script error anywhere; no page scrolls sideways at 390 px. Screenshots with TALLY_SCREENSHOTS=<dir>."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.models import Customer
from playwright.sync_api import Page, expect

from billing import links
from billing.organizations.services import create_admin
from billing.payments import customers, providers
from tests.e2e.test_admin_embedding import PASSWORD, _shoot
from tests.fakes import gocardless as fake_gocardless

pytestmark = pytest.mark.browser

HMAC = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
SECRET_KEY = "sk_test_choice_screens"  # noqa: S105 (localstripe accepts any sk_test_ key)


def test_three_providers_and_a_customer_moved_between_them(page: Page, live_server, org, lago, run_jobs, localstripe,
                                                            gocardless_server, adyen_server):
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    token = f"sandbox_choice_{org.id[:8]}"
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_main",
                               settings={"secret_key": SECRET_KEY, "publishable_key": "pk_test_choice",
                                         "api_base": localstripe})
    providers.connect_provider(organization_id=org.id, kind="gocardless", code="gocardless_main",
                               settings={"access_token": token, "webhook_secret": "whsec_choice_screens",
                                         "api_base": gocardless_server})
    fake_gocardless.register_account(gocardless_server, token, "whsec_choice_screens", None)
    lago.customers.create(Customer(external_id="acme", name="Acme GmbH", currency="EUR", email="billing@acme.test",
                                   billing_configuration={"payment_provider": "stripe",
                                                          "payment_provider_code": "stripe_main",
                                                          "sync_with_provider": True}))
    run_jobs()
    customer_id = lago.customers.find("acme").lago_id
    method = httpx.post(f"{localstripe}/v1/payment_methods", headers={"Authorization": f"Bearer {SECRET_KEY}"},
                        data={"type": "card", "card[number]": "4242424242424242", "card[exp_month]": "12",
                              "card[exp_year]": "2034", "card[cvc]": "123"}).json()["id"]
    customers.save_new_method(organization_id=org.id, customer_id=customer_id, provider_method_id=method)

    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # Connect Adyen: a wrong HMAC key refused by its field, then connected.
    page.goto(f"{live_server}/admin/payment-providers")
    page.get_by_role("link", name="Connect Adyen").click()
    page.get_by_label("Code").fill("adyen_main")
    page.get_by_label("API key").fill("AQEyhmfxK4_choice_screens_key")
    page.get_by_label("Merchant account").fill("AcmeCloudECOM")
    page.get_by_label("HMAC key").fill("not hex")
    page.locator("summary", has_text="Advanced").click()
    page.get_by_label("API base").fill(adyen_server)
    page.get_by_role("button", name="Connect Adyen").click()
    expect(page.locator('[data-field="hmac_key"] .field-error')).to_contain_text("Hexadecimal, as Adyen shows it")
    expect(page.locator('[data-field="api_key"] .hint')).to_contain_text("Type it again")
    _shoot(page, "adyen-connect-refused")
    page.get_by_label("API key").fill("AQEyhmfxK4_choice_screens_key")
    page.get_by_label("HMAC key").fill(HMAC)
    page.get_by_role("button", name="Connect Adyen").click()
    expect(page.get_by_role("status")).to_contain_text("Adyen connected.")
    expect(page.locator('[data-provider="adyen_main"]')).to_contain_text("REFUNDED_REVERSED")
    _shoot(page, "providers-three")

    page.goto(f"{live_server}/admin/payment-providers/gocardless_main/edit")
    expect(page.get_by_label("Environment")).to_have_value("sandbox")
    _shoot(page, "gocardless-edit")

    # Move the customer to GoCardless from its Payments section.
    page.goto(f"{live_server}/admin/customers/{customer_id}/payments")
    page.locator("summary", has_text="Change the payment provider").click()
    page.get_by_label("Payment provider").select_option("gocardless_main")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Payment provider saved")
    run_jobs()
    page.reload()
    expect(page.locator(".payment-link")).to_contain_text("gocardless_main")
    expect(page.locator(".payment-link")).to_contain_text("CU")  # its customer created at GoCardless
    expect(page.locator("tr.method-previous")).to_contain_text("previous provider")
    expect(page.locator(".previous-provider-customers")).to_contain_text("stripe_main")
    _shoot(page, "customer-moved")

    # The portal: a SEPA Direct Debit offered, the Stripe card listed as a previous provider's.
    portal = links.portal_url(customer_id=customer_id, organization_id=org.id)
    page.goto(f"{portal}/payment-methods")
    expect(page.get_by_role("heading", name="Your SEPA Direct Debit mandates")).to_be_visible()
    expect(page.get_by_role("heading", name="Saved with Stripe, no longer used")).to_be_visible()
    expect(page.locator(".previous-methods")).to_contain_text("•••• 4242")
    _shoot(page, "portal-methods-moved")
    mandate_url = page.get_by_role("link", name="Set up a Direct Debit on our payment provider's page") \
        .get_attribute("href")
    fake_gocardless.complete_flow(mandate_url, "Acme GmbH")
    page.goto(f"{portal}/payment-methods?returned=1")
    expect(page.locator(".method-list").first).to_contain_text("DEUTSCHE BANK AG")
    _shoot(page, "portal-methods-mandate")
    assert problems == []
