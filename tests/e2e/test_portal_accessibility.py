"""Every page a customer sees, at 390 px (a phone) and at 1,280 px: the portal's sections, its payment methods (empty,
then with two cards and a removal's confirmation open), the pay page of one invoice and of a payment request, the page
adding a card, a refused pay link, the expired link and the recovery answer, and each embeddable widget and its refusal
(light and dark). Each page: axe-core finds no serious or critical violation, nothing scrolls sideways, every control
offers a 44 x 44 px tap area on the phone, and walking it with Tab shows the focus on every stop (tests/e2e/screens.py).
Screenshots for a person to look at are saved under TALLY_SCREENSHOTS when it is set."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from lago_python_client.models import Customer
from playwright.sync_api import Page, expect
from sqlalchemy import select

from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.db import read_only
from billing.invoicing.models import Invoice
from billing.invoicing.overdue import mark_overdue_invoices
from billing.payments import providers
from tests.e2e.screens import assert_phone_ready
from tests.e2e.test_widget_pages import WIDGETS, _api, set_up_customer

pytestmark = pytest.mark.browser

SECTIONS = ("", "/history", "/documents", "/wallet", "/details", "/payment-methods")
# localstripe's stand-in for Stripe.js mounts bare inputs where the real one draws its own iframe: not our markup.
CARD_FIELD = "[data-card-element]"


@pytest.fixture
def customer(live_server, org, lago, localstripe, run_jobs, clock) -> dict[str, str]:
    """A Stripe-connected customer (localstripe) with a metered subscription, usage, a wallet and an overdue one-off
    invoice: the URLs of their portal, of that invoice's pay page, of the page adding a card and of their widgets."""
    clock.set("2026-11-01T09:00:00Z")
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_test",
                               settings={"secret_key": "sk_test_x", "publishable_key": "pk_test_x",
                                         "api_base": localstripe})
    api = _api(live_server, org.api_key)
    set_up_customer(api)
    lago.customers.create(Customer(external_id="alice", name="Alice Corp", email="billing@alice.test",
                                   currency="EUR", billing_configuration={
                                       "payment_provider": "stripe", "payment_provider_code": "stripe_test",
                                       "sync_with_provider": True}))
    run_jobs()
    clock.set("2026-11-20T09:00:00Z")
    assert mark_overdue_invoices(at=clock.now()) == 1
    with read_only() as session:
        alice = session.scalar(select(CustomerRow).where(CustomerRow.external_id == "alice"))
        invoice_id = session.scalar(select(Invoice.id).where(Invoice.customer_id == alice.id))
    widgets = api.post("/customers/alice/embed_token").json()["embed"]["urls"]
    return {"portal": links.portal_url(customer_id=alice.id, organization_id=org.id),
            "pay": links.pay_url(invoice_id=invoice_id, organization_id=org.id),
            "setup": links.setup_url(customer_id=alice.id, organization_id=org.id),
            **{f"widget-{name}": widgets[name] for name in WIDGETS}}


def _check(page: Page, name: str, width: int, *, exclude: tuple[str, ...] = ()) -> None:
    page.wait_for_load_state("networkidle")
    folder = os.environ.get("TALLY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)
    assert_phone_ready(page, exclude=exclude)


@pytest.mark.parametrize("width", [390, 1280])
def test_every_customer_page_is_accessible_on_a_phone_and_a_desktop(page: Page, customer, clock, width):
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
    portal = customer["portal"]
    for section in SECTIONS:
        page.goto(portal + section)
        expect(page.locator(".portal-nav [aria-current=page]")).to_be_visible()
        _check(page, f"portal{section.replace('/', '-') or '-overview'}", width, exclude=(CARD_FIELD,))

    page.goto(customer["pay"])
    expect(page.locator("[data-pay-state]")).to_be_visible()
    _check(page, "pay-invoice", width, exclude=(CARD_FIELD,))

    page.goto(customer["setup"])
    expect(page.locator(CARD_FIELD)).to_be_visible()
    _check(page, "pay-setup", width, exclude=(CARD_FIELD,))
    page.goto(customer["pay"] + "x")  # a tampered link
    expect(page.get_by_text("Nothing was charged.")).to_be_visible()
    _check(page, "pay-refused", width)

    page.goto(portal)
    page.locator("[data-overdue]").get_by_role("button", name="Pay all").click()
    expect(page.get_by_role("heading", name="Overdue invoice")).to_be_visible()
    _check(page, "pay-request", width, exclude=(CARD_FIELD,))

    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for name in WIDGETS:
            page.goto(customer[f"widget-{name}"])
            expect(page.locator(f"body.widget-{name}")).to_have_count(1)
            _check(page, f"widget-{name}-{scheme}", width)
        page.goto(customer["widget-usage"][:-len("/usage")] + "x/usage")  # a tampered token
        _check(page, f"widget-refused-{scheme}", width)
    page.emulate_media(color_scheme="light")

    for number in ("4242424242424242", "5555555555554444"):  # two saved cards: "Make default" and "Remove" show
        page.goto(portal + "/payment-methods")
        card = page.locator(CARD_FIELD)
        for placeholder, value in (("number", number), ("exp_month", "12"), ("exp_year", "34"), ("cvc", "123")):
            card.get_by_placeholder(placeholder).fill(value)
        page.get_by_role("button", name="Save card").click()
        expect(page.get_by_role("status")).to_be_visible()
    expect(page.locator(".method")).to_have_count(2)
    page.locator(".method-remove summary").first.click()  # the removal's confirmation, open
    _check(page, "portal-payment-methods-saved", width, exclude=(CARD_FIELD,))

    clock.set(clock.now() + timedelta(days=1))  # the link is a day old: expired
    page.goto(portal)
    expect(page.get_by_role("heading", name="This link is not valid")).to_be_visible()
    _check(page, "portal-link-expired", width)
    page.get_by_label("Billing email").fill("billing@alice.test")
    page.get_by_role("button", name="Send me a new link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    _check(page, "portal-link-sent", width)
