"""Payments through Adyen end to end: the fake of Adyen's Checkout API as a real HTTP server (tests/fakes/adyen.py),
the official SDK, its hosted page in Chromium, Tally served over HTTP receiving the fake's HMAC-signed notifications.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from lago_python_client.models import AddOn, CreditNote, Customer
from lago_python_client.models.credit_note import Item, Items
from sqlalchemy import select

from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.db import read_only
from billing.invoicing.models import CreditNote as CreditNoteRow
from billing.payments import collection, customers, providers
from billing.payments.adyen import AdyenProvider
from billing.payments.models import Refund, SavedPaymentMethod
from tests.fakes import adyen as fake_adyen
from tests.integration.provider_walk import applied_counts as _applied
from tests.integration.provider_walk import invoice_row as _invoice_row
from tests.integration.provider_walk import one_off_invoice as _invoice
from tests.integration.provider_walk import payments_of as _payments
from tests.integration.provider_walk import wait_for as _wait

pytestmark = pytest.mark.usefixtures("allow_private_webhooks")

CODE = "adyen_test"
HMAC_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
CHROMIUM = "/usr/bin/chromium"
_accounts = itertools.count(1)


@dataclass(frozen=True)
class Adyen:
    org_id: str
    customer: CustomerRow
    merchant: str
    base_url: str
    webhook_url: str

    def notifications(self, event_code: str) -> list[dict]:
        return [n for n in fake_adyen.notifications(self.base_url, self.merchant) if n["eventCode"] == event_code]


@pytest.fixture
def connected(org, lago, live_server, adyen_server, run_jobs):
    merchant = f"TallyE2E{next(_accounts)}{org.id[:6]}"
    providers.connect_provider(organization_id=org.id, kind="adyen", code=CODE,
                               settings={"api_key": fake_adyen.TEST_API_KEY, "merchant_account": merchant,
                                         "hmac_key": HMAC_KEY, "api_base": adyen_server})
    webhook_url = f"{live_server}/webhooks/adyen/{org.id}?code={CODE}"
    fake_adyen.register_merchant(adyen_server, merchant, HMAC_KEY, webhook_url)
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", name="Acme", email="billing@acme.test", currency="EUR",
                                   billing_configuration={"payment_provider": "adyen", "payment_provider_code": CODE,
                                                          "sync_with_provider": True}))
    run_jobs()
    with read_only() as session:
        customer = session.scalar(select(CustomerRow).where(CustomerRow.external_id == "acme"))
    yield Adyen(org.id, customer, merchant, adyen_server, webhook_url)
    fake_adyen.register_merchant(adyen_server, merchant, HMAC_KEY, None)


def _hosted_page_card(playwright, connected: Adyen, live_server: str, number: str, holder: str = "J. Smith"):
    """The customer saves a card on Adyen's hosted page (a zero-amount payment link) and comes back."""
    back = f"{live_server}/health?back=adyen"
    setup = customers.start_setup(organization_id=connected.org_id, customer_id=connected.customer.id,
                                  return_url=back, attempt=f"e2e-{time.monotonic_ns()}")
    assert setup.provider_kind == "adyen" and setup.session.redirect_url.startswith(connected.base_url)
    # pytest-playwright's Playwright (one per session): a second sync_playwright() would find its loop running.
    browser = playwright.chromium.launch(executable_path=CHROMIUM)
    try:
        page = browser.new_page()
        page.goto(setup.session.redirect_url)
        page.get_by_label("Card number").fill(number)
        page.get_by_label("Name on card").fill(holder)
        page.get_by_role("button", name="Pay").click()
        page.wait_for_url(f"{live_server}/health*")
    finally:
        browser.close()
    return customers.refresh_methods(organization_id=connected.org_id, customer_id=connected.customer.id)


def _card_entered(connected: Adyen, number: str, holder: str):
    """A card entered in Adyen Web's card component (its paymentMethod data), saved by Tally."""
    method = json.dumps({"type": "scheme", "encryptedCardNumber": f"test_{number}", "encryptedExpiryMonth": "test_03",
                         "encryptedExpiryYear": "test_2030", "encryptedSecurityCode": "test_737",
                         "holderName": holder, "checkoutAttemptId": f"e2e-{time.monotonic_ns()}"})
    return customers.save_new_method(organization_id=connected.org_id, customer_id=connected.customer.id,
                                     provider_method_id=method)


def _delivered(connected: Adyen, event_code: str, psp: str) -> dict:
    """Wait until the fake has posted its notification for this pspReference and Tally answered it."""
    def answered():
        sent = [n for n in connected.notifications(event_code) if psp in (n["pspReference"], n["originalReference"])]
        return sent[0] if sent and sent[0]["answer"] else None

    return _wait(answered)


def test_a_customer_is_its_shopper_reference(connected):
    # Adyen has no customer object: the shopperReference is Tally's customer id, nothing is created there.
    assert connected.customer.payment_provider_customer_id == connected.customer.id


def test_a_card_saved_on_the_hosted_page_pays_an_invoice_and_notifications_apply_once(playwright, connected, lago,
                                                                                      run_jobs, live_server):
    [card] = _hosted_page_card(playwright, connected, live_server, "4111 1111 4555 1142")
    assert (card.brand, card.last4, card.exp_month, card.exp_year, card.is_default) == ("visa", "1142", 3, 2030, True)
    [stored] = _delivered(connected, "RECURRING_CONTRACT", card.provider_method_id)["answer"][1:]
    assert stored == "[accepted]"

    invoice = _invoice(lago)
    run_jobs()
    row = _invoice_row(invoice.lago_id)
    assert (row.payment_status, row.total_paid_amount_cents, row.total_due_amount_cents) == ("succeeded", 12_000, 0)
    [payment] = _payments(invoice.lago_id)
    assert payment.status == "succeeded" and payment.provider_payment_id

    # Adyen's AUTHORISATION reaches Tally's route, verified, acknowledged with [accepted], applied once; sent
    # again (Adyen retries until acknowledged) it changes nothing.
    sent = _delivered(connected, "AUTHORISATION", payment.provider_payment_id)
    assert sent["answer"] == [200, "[accepted]"]
    event_id = f"{payment.provider_payment_id}:AUTHORISATION:true"
    again = httpx.post(connected.webhook_url, content=sent["body"].encode(),
                       headers={"Content-Type": "application/json"})
    assert (again.status_code, again.text) == (200, "[accepted]")
    assert _applied([event_id]) == {event_id: 1}
    assert [p.status for p in _payments(invoice.lago_id)] == ["succeeded"]


def test_a_refused_charge_fails_and_a_forged_notification_changes_nothing(connected, lago, run_jobs):
    card = _card_entered(connected, "5555341244441115", fake_adyen.HOLDER_NOT_ENOUGH_BALANCE)
    assert (card.brand, card.last4) == ("mastercard", "1115")
    invoice = _invoice(lago)
    run_jobs()
    [payment] = _payments(invoice.lago_id)
    assert (payment.status, payment.error_code, payment.error_message) == ("failed", "card_declined",
                                                                           "Not enough balance")
    assert _invoice_row(invoice.lago_id).payment_status == "failed"
    failed = _delivered(connected, "AUTHORISATION", payment.provider_payment_id)
    assert failed["answer"] == [200, "[accepted]"]

    # A "success" for the same payment, signed with another key (or not signed): refused, nothing moves.
    item = json.loads(failed["body"])["notificationItems"][0]["NotificationRequestItem"]
    del item["additionalData"]["hmacSignature"]
    item["success"] = "true"
    for body in (fake_adyen.notification_body(item, "00" * 32), json.dumps(
            {"live": "false", "notificationItems": [{"NotificationRequestItem": item}]}).encode()):
        refused = httpx.post(connected.webhook_url, content=body, headers={"Content-Type": "application/json"})
        assert refused.status_code == 400 and refused.json()["code"] == "webhook_signature_invalid"
    assert _applied([f"{payment.provider_payment_id}:AUTHORISATION:true"]) == {}
    row = _invoice_row(invoice.lago_id)
    assert (row.payment_status, row.total_paid_amount_cents) == ("failed", 0)


def test_a_credit_note_is_refunded_through_adyen_and_settled_by_its_notification(connected, lago, run_jobs):
    _card_entered(connected, fake_adyen.CARD_OK, "J. Smith")
    invoice = _invoice(lago)
    run_jobs()
    [payment] = _payments(invoice.lago_id)
    fee_id = lago.invoices.find(invoice.lago_id).fees.__root__[0].lago_id
    note = lago.credit_notes.create(CreditNote(invoice_id=invoice.lago_id, reason="other", refund_amount_cents=3_000,
                                               credit_amount_cents=0,
                                               items=Items(__root__=[Item(fee_id=fee_id, amount_cents=3_000)])))
    run_jobs()

    # Adyen answers "received"; its REFUND notification tells Tally the refund went through. What is waited on is
    # Tally's row (the notification log can say "answered" a moment before or after the row is written).
    def settled():
        with read_only() as session:
            return session.get(CreditNoteRow, note.lago_id).refund_status == "succeeded"

    _wait(settled)
    sent = _delivered(connected, "REFUND", payment.provider_payment_id)
    assert json.loads(sent["body"])["notificationItems"][0]["NotificationRequestItem"]["amount"] == {
        "value": 3_000, "currency": "EUR"}
    assert lago.credit_notes.find(note.lago_id).refund_status == "succeeded"
    assert len(connected.notifications("REFUND")) == 1


def test_a_refund_notification_that_overtakes_the_jobs_write_still_settles_it(connected, lago, run_jobs,
                                                                              monkeypatch):
    """Adyen posts REFUND as it answers: the notification can be applied before the job has written the refund's
    pspReference. It is found by the reference Tally sent (its idempotency key) and settles the refund once."""
    _card_entered(connected, fake_adyen.CARD_OK, "J. Smith")
    invoice = _invoice(lago)
    run_jobs()
    [payment] = _payments(invoice.lago_id)
    asked = AdyenProvider.refund

    def answered_after_the_notification(self, request):
        result = asked(self, request)
        _delivered(connected, "REFUND", result.refund_id)  # Tally has answered the notification already
        return result

    monkeypatch.setattr(AdyenProvider, "refund", answered_after_the_notification)
    fee_id = lago.invoices.find(invoice.lago_id).fees.__root__[0].lago_id
    note = lago.credit_notes.create(CreditNote(invoice_id=invoice.lago_id, reason="other", refund_amount_cents=2_000,
                                               credit_amount_cents=0,
                                               items=Items(__root__=[Item(fee_id=fee_id, amount_cents=2_000)])))
    run_jobs()
    [sent] = [n for n in connected.notifications("REFUND") if n["originalReference"] == payment.provider_payment_id]
    assert sent["answer"][0] == 200
    with read_only() as session:
        [refund] = session.scalars(select(Refund).where(Refund.credit_note_id == note.lago_id)).all()
        assert (refund.status, refund.provider_refund_id) == ("succeeded", sent["pspReference"])
        assert session.get(CreditNoteRow, note.lago_id).refund_status == "succeeded"


def test_a_job_dying_after_adyen_answered_never_charges_twice(connected, lago, run_jobs, monkeypatch, clock):
    invoice = _invoice(lago)
    run_jobs()  # no saved card yet: nothing charged
    _card_entered(connected, fake_adyen.CARD_OK, "J. Smith")
    with monkeypatch.context() as patched:
        def killed(*_args, **_kwargs):
            raise SystemExit("worker killed between Adyen's answer and Tally's write")
        patched.setattr(collection, "_finish", killed)
        with pytest.raises(SystemExit):
            collection.collect_invoice(organization_id=connected.org_id, invoice_id=invoice.lago_id)
    [pending] = _payments(invoice.lago_id)
    assert (pending.status, pending.provider_payment_id) == ("pending", None)
    # Ten minutes later the stalled-payment sweep asks for the job again: the same Idempotency-Key, Adyen's
    # first answer, one authorisation.
    clock.set(clock.now() + timedelta(minutes=11))
    assert collection.ask_stalled_collections() == 1
    run_jobs()
    [payment] = _payments(invoice.lago_id)
    assert (payment.id, payment.status) == (pending.id, "succeeded")
    charged = [n for n in connected.notifications("AUTHORISATION")
               if json.loads(n["body"])["notificationItems"][0]["NotificationRequestItem"]["amount"]["value"] > 0]
    assert [n["pspReference"] for n in charged] == [payment.provider_payment_id]
    assert _invoice_row(invoice.lago_id).total_paid_amount_cents == 12_000


def test_the_portal_sends_the_customer_to_adyens_page_and_shows_the_card_on_return(playwright, connected, live_server):
    """The portal's payment-methods page links to Adyen's hosted page; coming back, the card is there at once
    (read back from Adyen on return, before any notification)."""
    portal = links.portal_url(customer_id=connected.customer.id, organization_id=connected.org_id)
    # pytest-playwright's Playwright (one per session): a second sync_playwright() would find its loop running.
    browser = playwright.chromium.launch(executable_path=CHROMIUM)
    try:
        page = browser.new_page()
        page.goto(f"{portal}/payment-methods")
        page.get_by_role("link", name="Add a card on our payment provider's page").click()
        page.get_by_label("Card number").fill("4111111145551142")
        page.get_by_label("Name on card").fill("J. Smith")
        page.get_by_role("button", name="Pay").click()
        page.wait_for_url(f"{portal}/payment-methods?returned=1*")
        assert "1142" in page.locator("main").inner_text()
    finally:
        browser.close()
    with read_only() as session:
        saved = session.scalars(select(SavedPaymentMethod).where(
            SavedPaymentMethod.customer_id == connected.customer.id)).all()
    assert [method.last4 for method in saved] == ["1142"]
