"""Payments through GoCardless end to end: the fake of GoCardless's API as a real HTTP server
(tests/fakes/gocardless.py), the official SDK, its hosted billing-request flow in Chromium, Tally served over HTTP
receiving the fake's signed, batched webhooks.
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
from billing.payments.models import SavedPaymentMethod
from tests.fakes import gocardless as fake_gocardless
from tests.integration.provider_walk import applied_counts as _applied
from tests.integration.provider_walk import invoice_row as _invoice_row
from tests.integration.provider_walk import one_off_invoice as _invoice
from tests.integration.provider_walk import payments_of as _payments
from tests.integration.provider_walk import wait_for as _wait

pytestmark = pytest.mark.usefixtures("allow_private_webhooks")

CODE = "gocardless_test"
SECRET = "whsec_gocardless_e2e"  # noqa: S105 (a test's webhook secret)
CHROMIUM = "/usr/bin/chromium"
_tokens = itertools.count(1)


@dataclass(frozen=True)
class GoCardless:
    org_id: str
    customer: CustomerRow
    token: str
    base_url: str
    webhook_url: str

    def webhooks(self, event: str | None = None) -> list[dict]:
        sent = fake_gocardless.webhooks(self.base_url, self.token)
        return [w for w in sent if event is None or event in w["events"]]


@pytest.fixture
def connected(org, lago, live_server, gocardless_server, run_jobs):
    token = f"sandbox_e2e_{next(_tokens)}_{org.id[:6]}"
    providers.connect_provider(organization_id=org.id, kind="gocardless", code=CODE,
                               settings={"access_token": token, "webhook_secret": SECRET,
                                         "api_base": gocardless_server})
    webhook_url = f"{live_server}/webhooks/gocardless/{org.id}?code={CODE}"
    fake_gocardless.register_account(gocardless_server, token, SECRET, webhook_url)
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", name="Acme", email="billing@acme.test", currency="EUR",
                                   billing_configuration={"payment_provider": "gocardless",
                                                          "payment_provider_code": CODE, "sync_with_provider": True}))
    run_jobs()
    with read_only() as session:
        customer = session.scalar(select(CustomerRow).where(CustomerRow.external_id == "acme"))
    yield GoCardless(org.id, customer, token, gocardless_server, webhook_url)
    fake_gocardless.register_account(gocardless_server, token, SECRET, None)


def _mandate(connected: GoCardless, holder: str = "Acme Ltd") -> str:
    """A mandate set up on GoCardless's page (over HTTP), read back by Tally: its id."""
    setup = customers.start_setup(organization_id=connected.org_id, customer_id=connected.customer.id,
                                  return_url="https://tally.test/back", attempt=f"e2e-{time.monotonic_ns()}")
    mandate_id = fake_gocardless.complete_flow(setup.session.redirect_url, holder)
    customers.refresh_methods(organization_id=connected.org_id, customer_id=connected.customer.id)
    return mandate_id


def _delivered(connected: GoCardless, event_ids: list[str]) -> dict:
    """Wait until the fake has posted the webhook holding these events and Tally answered it."""
    def answered():
        sent = [w for w in connected.webhooks() if w["ids"] == event_ids]
        return sent[0] if sent and sent[0]["answer"] else None

    return _wait(answered)


def _advance(connected: GoCardless, kind: str, resource_id: str, to: str) -> dict:
    moved = fake_gocardless.advance(connected.base_url, kind, resource_id, to)
    return _delivered(connected, moved["events"])


def test_the_customer_is_created_at_gocardless(connected):
    assert connected.customer.payment_provider_customer_id.startswith("CU")


def test_a_mandate_pays_an_invoice_through_its_asynchronous_life(connected, lago, run_jobs):
    mandate_id = _mandate(connected)
    with read_only() as session:
        [method] = session.scalars(select(SavedPaymentMethod).where(
            SavedPaymentMethod.customer_id == connected.customer.id)).all()
    assert (method.provider_method_id, method.method_type, method.brand, method.last4, method.is_default) == (
        mandate_id, "sepa_debit", "DEUTSCHE BANK AG", "00", True)

    invoice = _invoice(lago)
    run_jobs()
    [payment] = _payments(invoice.lago_id)
    assert (payment.status, payment.provider_payment_id[:2]) == ("processing", "PM")
    assert _invoice_row(invoice.lago_id).payment_status == "pending"

    # submitted -> confirmed -> paid_out: GoCardless posts the three events in one webhook; each is applied once.
    sent = _advance(connected, "payments", payment.provider_payment_id, "paid_out")
    assert sent["answer"][0] == 200
    assert [e["outcome"] for e in json.loads(sent["answer"][1])["events"]] == ["ignored", "ignored", "applied"]
    row = _invoice_row(invoice.lago_id)
    assert (row.payment_status, row.total_paid_amount_cents, row.total_due_amount_cents) == ("succeeded", 12_000, 0)
    assert [p.status for p in _payments(invoice.lago_id)] == ["succeeded"]

    # The same webhook again (GoCardless retries until it sees a 2xx): every event a duplicate, nothing moves.
    again = httpx.post(connected.webhook_url, content=sent["body"].encode(),
                       headers={"Content-Type": "application/json", "Webhook-Signature": sent["signature"]})
    assert again.status_code == 200
    assert [e["outcome"] for e in again.json()["events"]] == ["duplicate"] * 3
    assert _applied(sent["ids"]) == dict.fromkeys(sent["ids"], 1)
    assert _invoice_row(invoice.lago_id).total_paid_amount_cents == 12_000


def test_a_failed_payment_fails_the_invoice_and_a_forged_webhook_changes_nothing(connected, lago, run_jobs):
    _mandate(connected)
    invoice = _invoice(lago)
    run_jobs()
    [payment] = _payments(invoice.lago_id)

    # A "paid_out" for this payment, signed with another secret or not signed: 498, nothing applied.
    forged = json.dumps({"events": [{"id": "EVforged0001", "created_at": "2026-12-06T10:00:00.000Z",
                                     "resource_type": "payments", "action": "paid_out",
                                     "links": {"payment": payment.provider_payment_id}, "details": {}}]}).encode()
    for headers in ({"Webhook-Signature": fake_gocardless.signature(forged, "whsec_someone_else")}, {}):
        refused = httpx.post(connected.webhook_url, content=forged,
                             headers={"Content-Type": "application/json", **headers})
        assert refused.status_code == 498 and refused.json()["code"] == "webhook_signature_invalid"
    assert _applied(["EVforged0001"]) == {}
    assert _payments(invoice.lago_id)[0].status == "processing"

    _advance(connected, "payments", payment.provider_payment_id, "failed")
    [payment] = _payments(invoice.lago_id)
    assert (payment.status, payment.error_code) == ("failed", "insufficient_funds")
    row = _invoice_row(invoice.lago_id)
    assert (row.payment_status, row.total_paid_amount_cents) == ("failed", 0)


def test_a_credit_note_is_refunded_through_gocardless_and_settled_by_its_events(connected, lago, run_jobs):
    _mandate(connected)
    invoice = _invoice(lago)
    run_jobs()
    [payment] = _payments(invoice.lago_id)
    _advance(connected, "payments", payment.provider_payment_id, "paid_out")
    fee_id = lago.invoices.find(invoice.lago_id).fees.__root__[0].lago_id
    note = lago.credit_notes.create(CreditNote(invoice_id=invoice.lago_id, reason="other", refund_amount_cents=3_000,
                                               credit_amount_cents=0,
                                               items=Items(__root__=[Item(fee_id=fee_id, amount_cents=3_000)])))
    run_jobs()
    assert lago.credit_notes.find(note.lago_id).refund_status == "pending"  # created at GoCardless, not yet paid
    [created] = connected.webhooks("refunds.created")
    refund_id = created["links"][0]["refund"]
    _advance(connected, "refunds", refund_id, "paid")  # refunds.paid and refunds.refund_settled, in one webhook

    def settled():
        with read_only() as session:
            return session.get(CreditNoteRow, note.lago_id).refund_status == "succeeded"

    _wait(settled)
    assert lago.credit_notes.find(note.lago_id).refund_status == "succeeded"


def test_a_job_dying_after_gocardless_answered_never_collects_twice(connected, lago, run_jobs, monkeypatch, clock):
    invoice = _invoice(lago)
    run_jobs()  # no mandate yet: nothing collected
    _mandate(connected)
    with monkeypatch.context() as patched:
        def killed(*_args, **_kwargs):
            raise SystemExit("worker killed between GoCardless's answer and Tally's write")
        patched.setattr(collection, "_finish", killed)
        with pytest.raises(SystemExit):
            collection.collect_invoice(organization_id=connected.org_id, invoice_id=invoice.lago_id)
    [pending] = _payments(invoice.lago_id)
    assert (pending.status, pending.provider_payment_id) == ("pending", None)
    # The stalled-payment sweep asks for the job again: the same Idempotency-Key, GoCardless's 409 conflict, the
    # SDK fetches the first payment: one payment at GoCardless.
    clock.set(clock.now() + timedelta(minutes=11))
    assert collection.ask_stalled_collections() == 1
    run_jobs()
    [payment] = _payments(invoice.lago_id)
    assert (payment.id, payment.status) == (pending.id, "processing")
    created = connected.webhooks("payments.created")
    assert [w["links"][0]["payment"] for w in created] == [payment.provider_payment_id]


def test_the_portal_sends_the_customer_to_gocardless_and_shows_the_mandate_on_return(playwright, connected,
                                                                                   live_server):
    """The payment-methods page links to GoCardless's hosted flow; back with ?returned=1, the mandate is shown."""
    portal = links.portal_url(customer_id=connected.customer.id, organization_id=connected.org_id)
    # pytest-playwright's Playwright (one per session): a second sync_playwright() would find its loop running.
    browser = playwright.chromium.launch(executable_path=CHROMIUM)
    try:
        page = browser.new_page()
        page.goto(f"{portal}/payment-methods")
        page.get_by_role("link", name="Set up a Direct Debit on our payment provider's page").click()
        page.get_by_label("Account holder name").fill("Acme GmbH")
        page.get_by_label("IBAN").fill("DE89370400440532013000")
        page.get_by_role("button", name="Set up Direct Debit").click()
        page.wait_for_url(f"{portal}/payment-methods?returned=1*")
        text = page.locator("main").inner_text()
        assert "SEPA Direct Debit" in text and "DEUTSCHE BANK AG" in text and "•••• 00" in text
    finally:
        browser.close()
    with read_only() as session:
        saved = session.scalars(select(SavedPaymentMethod).where(
            SavedPaymentMethod.customer_id == connected.customer.id)).all()
    assert [(m.method_type, m.last4) for m in saved] == [("sepa_debit", "00")]


def test_a_mandate_is_asked_for_in_the_scheme_of_the_customers_currency(connected):
    """A EUR customer is asked for a SEPA Core mandate (GBP: Bacs), as GoCardless's billing request names it."""
    setup = customers.start_setup(organization_id=connected.org_id, customer_id=connected.customer.id,
                                  return_url="https://tally.test/back", attempt=f"scheme-{time.monotonic_ns()}")
    request = httpx.get(f"{connected.base_url}/billing_requests/{setup.session.id}",
                        headers={"Authorization": f"Bearer {connected.token}"}).json()["billing_requests"]
    assert request["mandate_request"]["scheme"] == "sepa_core" and request["mandate_request"]["currency"] == "EUR"
